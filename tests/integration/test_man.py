"""The man pages: built from man/*.scd as meson builds them, clean under
mandoc -Tlint, in agreement with each program's --help, and installed.
"""

import os
import re
import shutil
import subprocess

import pytest

from conftest import CASHED, ROOT

MAN = os.path.join(ROOT, "man")
BUILD = os.path.dirname(CASHED)
CASHECTL = os.environ.get("CASHECTL", os.path.join(BUILD, "src", "ctl",
                                                   "cashectl"))
CASHE_FUSE = os.path.join(BUILD, "fuse", "cashe-fuse")
PAGES = ["cashed.8", "cashectl.1", "cashe-fuse.8", "cashe.conf.5", "cashe.7"]


def need(program):
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (scripts/deps.sh should "
                    f"install it)")


@pytest.fixture(scope="module")
def roff(tmp_path_factory):
    """Each page built the way man/meson.build builds it."""
    need("scdoc")
    out = tmp_path_factory.mktemp("man")
    pages = {}
    for page in PAGES:
        dst = out / page
        subprocess.run(["python3", os.path.join(MAN, "scdoc-roff.py"),
                        "scdoc", os.path.join(MAN, page + ".scd"), str(dst)],
                       check=True)
        pages[page] = str(dst)
    return pages


def render(path):
    """The page as plain text, with hyphenated line ends joined and all
    white space collapsed, so an option split across lines still counts."""
    need("mandoc")
    text = subprocess.run(["mandoc", "-Tascii", "-O", "width=78", path],
                          check=True, capture_output=True).stdout.decode()
    text = re.sub(r".\x08", "", text)
    return " " + re.sub(r"\s+", " ", text) + " "


def help_options(argv):
    """Every --long and -s option a --help text lists at the start of its
    lines (and in "-h, --help" pairs)."""
    out = subprocess.run(argv + ["--help"], capture_output=True, check=True,
                         text=True).stdout
    opts = set()
    for line in out.splitlines():
        m = re.match(r"\s+((?:-{1,2}[A-Za-z][\w-]*[=,]?[^\s,]*,?\s?)+)", line)
        if m:
            opts.update(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)",
                                   m.group(1)))
    return opts


def mentions(text, option):
    return re.search(r"(?<![\w-])" + re.escape(option) + r"(?![\w-])",
                     text) is not None


@pytest.mark.parametrize("page", PAGES)
def test_mandoc_lint_reports_nothing_above_style(roff, page):
    need("mandoc")
    p = subprocess.run(["mandoc", "-Tlint", "-W", "warning", roff[page]],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout + p.stderr == "", \
        p.stdout + p.stderr


def test_every_cashed_option_is_in_cashed_8(roff):
    opts = help_options([CASHED])
    assert {"--id", "--max-clients", "--recover", "--config", "-h",
            "--help", "--version"} <= opts
    text = render(roff["cashed.8"])
    missing = sorted(o for o in opts if not mentions(text, o))
    assert missing == []


def test_every_cashed_key_is_in_cashe_conf_5(roff):
    keys = {o[2:] for o in help_options([CASHED])} - {
        "config", "recover", "help", "version"}
    assert len(keys) >= 20
    text = render(roff["cashe.conf.5"])
    section = text[text.index(" KEYS "):text.index(" RELOADING ")]
    missing = sorted(k for k in keys if not mentions(section, k))
    assert missing == []


def test_every_cashectl_option_and_command_is_in_cashectl_1(roff):
    opts = help_options([CASHECTL])
    assert {"-i", "--instance", "--socket", "--endpoint", "--password",
            "--json", "--recursive", "--file", "--ttl", "--clear", "--force",
            "--count", "-V"} <= opts
    text = render(roff["cashectl.1"])
    missing = sorted(o for o in opts if not mentions(text, o))
    assert missing == []
    for cmd in ["get", "put", "del", "ls", "ttl", "watch", "status",
                "member list", "member add", "member remove",
                "member promote", "member demote", "leader transfer",
                "snapshot save", "snapshot restore"]:
        assert f" {cmd} " in text, cmd
    for code in range(5):
        assert re.search(rf" {code} (Success|Failure|Usage|Not found|"
                         r"Unavailable)", text), code


def test_every_cashe_fuse_option_is_in_cashe_fuse_8(roff):
    if not os.access(CASHE_FUSE, os.X_OK):
        pytest.skip(f"cashe-fuse is not built at {CASHE_FUSE}")
    out = subprocess.run([CASHE_FUSE, "--help"], capture_output=True,
                         text=True).stdout
    own = out[out.index("cashe-fuse options:"):]
    own = own[:own.index("\n\n")]
    names = set(re.findall(r"-o (\w+)=", own)) | set(
        re.findall(r",(\w+)=", own))
    assert {"password", "password_file", "timeout", "mode", "dir_mode",
            "max_value", "uid", "gid", "attr_timeout"} <= names
    text = render(roff["cashe-fuse.8"])
    missing = sorted(n for n in names if not mentions(text, n))
    assert missing == []
    for opt in ["-f", "-d", "-s", "-h", "--help", "-V", "--version",
                "allow_other"]:
        assert mentions(text, opt), opt


def test_concepts_page_covers_its_topics(roff):
    text = render(roff["cashe.7"])
    for heading in ["CONSISTENCY", "MEMBERSHIP", "FUSE NAMES", "SIZING",
                    "BACKUP AND RECOVERY", "RECOVERY after losing quorum"]:
        assert f" {heading} " in text, heading
    assert "cashed --recover" in text and "snapshot restore" in text


def test_pages_are_installed(tmp_path):
    if not os.path.exists(os.path.join(BUILD, "build.ninja")):
        pytest.skip(f"{BUILD} is not a meson build directory")
    need("scdoc")
    dest = tmp_path / "root"
    subprocess.run(["meson", "install", "-C", BUILD, "--destdir", str(dest),
                    "--quiet"], check=True, capture_output=True)
    paths = [os.path.relpath(os.path.join(d, f), dest)
             for d, _, files in os.walk(dest) for f in files]

    def installed(suffix):
        return [p for p in paths if p.endswith(suffix)]

    for page in PAGES:
        section = page.rsplit(".", 1)[1]
        assert len(installed(f"/man/man{section}/{page}")) == 1, page
    assert installed("/bin/cashectl") and installed("/sbin/cashed")
    assert installed("/bash-completion/completions/cashectl")
