"""The Debian packages (packaging/debian): built once for the module with
scripts/package.sh (dpkg-buildpackage -us -uc -b), checked with lintian and
dpkg-deb, then installed with apt-get into a copy of the system test's
debootstrapped Debian 12 root (tests/system/run.sh makes it) and looked at
there: the binaries run, the man pages, user, directories and conffile are
in place, the units verify, and only a purge deletes the nodes' state.
"""

import fcntl
import os
import re
import shutil
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE_SH = os.path.join(ROOT, "scripts", "package.sh")
OUT = os.path.join(ROOT, "build-deb")
CHANGELOG = os.path.join(ROOT, "packaging", "debian", "changelog")
CACHE = os.environ.get("CASHE_SYSTEM_CACHE", "/var/cache/cashe-system-test")
BASE = os.path.join(CACHE, "bookworm")
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

CASHE_FILES = {
    "./etc/cashe/example.conf",
    "./lib/systemd/system/cashe@.service",
    "./lib/systemd/system/cashe@.socket",
    "./usr/bin/cashectl",
    "./usr/sbin/cashed",
    "./usr/lib/sysusers.d/cashe.conf",
    "./usr/lib/tmpfiles.d/cashe.conf",
    "./usr/share/bash-completion/completions/cashectl",
    "./usr/share/doc/cashe/copyright",
    "./usr/share/doc/cashe/examples/example.conf",
    "./usr/share/man/man1/cashectl.1.gz",
    "./usr/share/man/man5/cashe.conf.5.gz",
    "./usr/share/man/man7/cashe.7.gz",
    "./usr/share/man/man8/cashed.8.gz",
}
FUSE_FILES = {
    "./lib/systemd/system/cashe-fuse@.service",
    "./usr/bin/cashe-fuse",
    "./usr/share/doc/cashe-fuse/copyright",
    "./usr/share/man/man8/cashe-fuse.8.gz",
}
MAN_PAGES = {"cashed": "8", "cashectl": "1", "cashe-fuse": "8",
             "cashe.conf": "5", "cashe": "7"}
INSTANCES = ["cashe@raft0.service", "cashe@raft0.socket",
             "cashe-fuse@raft0.service"]


def run(args, timeout=120, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          **kw)


def installed(pkg):
    r = run(["dpkg-query", "-W", "-f=${Status}", pkg])
    return r.returncode == 0 and "ok installed" in r.stdout


@pytest.fixture(scope="module")
def debs():
    """Build the packages once; {package name: .deb path}."""
    if shutil.which("dpkg-buildpackage") is None or not installed("debhelper"):
        if os.geteuid() != 0:
            pytest.skip("dpkg-dev/debhelper missing and not root to install "
                        "them (scripts/package.sh does, as root)")
    t0 = time.monotonic()
    r = run(["sh", PACKAGE_SH, "--no-lintian"], timeout=900)
    assert r.returncode == 0, (r.stderr[-4000:] + "\n(see build-deb/build.log)")
    print(f"package build: {time.monotonic() - t0:.1f}s")
    found = {}
    for path in r.stdout.split():
        m = re.match(r"(.+?)_[^_]+_[^_]+\.deb$", os.path.basename(path))
        assert m, path
        found[m.group(1)] = path
    assert {"cashe", "cashe-fuse"} <= set(found), r.stdout
    return found


def version():
    r = run(["dpkg-parsechangelog", "-l", CHANGELOG, "-S", "Version"])
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def deb_field(deb, field):
    r = run(["dpkg-deb", "-f", deb, field])
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def deb_files(deb):
    """{path: mode string} of the files and links in a .deb."""
    r = run(["dpkg-deb", "-c", deb])
    assert r.returncode == 0, r.stderr
    files = {}
    for line in r.stdout.splitlines():
        fields = line.split()
        if not fields[0].startswith("d"):
            files[fields[5]] = fields[0]
    return files


def deb_control(deb, tmp_path):
    """The control files (maintainer scripts, conffiles) of a .deb."""
    out = tmp_path / os.path.basename(deb)
    r = run(["dpkg-deb", "-e", deb, str(out)])
    assert r.returncode == 0, r.stderr
    return {p.name: p.read_text() for p in out.iterdir()}


# --- The build, lintian and the contents ---


def test_lintian_clean(debs):
    if shutil.which("lintian") is None:
        pytest.skip("lintian is not installed (scripts/package.sh installs it)")
    changes = os.path.join(OUT, f"cashe_{version()}_"
                           f"{deb_field(debs['cashe'], 'Architecture')}"
                           ".changes")
    assert os.path.exists(changes)
    r = run(["lintian", "--fail-on", "none", changes], timeout=300)
    print(r.stdout)
    bad = [line for line in r.stdout.splitlines()
           if re.match(r"[EW]: ", line)]
    assert bad == [], "\n".join(bad)
    assert r.returncode == 0, r.stderr


def test_contents(debs):
    cashe = deb_files(debs["cashe"])
    fuse = deb_files(debs["cashe-fuse"])
    assert CASHE_FILES <= set(cashe), CASHE_FILES - set(cashe)
    assert FUSE_FILES <= set(fuse), FUSE_FILES - set(fuse)
    for path in ["./usr/sbin/cashed", "./usr/bin/cashectl"]:
        assert cashe[path] == "-rwxr-xr-x", (path, cashe[path])
    assert fuse["./usr/bin/cashe-fuse"] == "-rwxr-xr-x"
    # Each file in one package only: the FUSE view is split off whole.
    assert not set(cashe) & set(fuse), set(cashe) & set(fuse)
    assert not [p for p in cashe if "fuse" in p], cashe


def test_metadata(debs):
    ver = version()
    for deb in debs.values():
        assert deb_field(deb, "Version") == ver
        assert deb_field(deb, "Maintainer") == \
            "cashe developers <dev@cashe.invalid>"
    depends = deb_field(debs["cashe"], "Depends")
    # From shlibs, and from dh_installsysusers for the postinst's call.
    for lib in ["libraft2", "libuv1", "libhiredis0.14", "libinih1",
                "libsystemd0", "zlib1g", "libc6"]:
        assert re.search(rf"\b{re.escape(lib)} \(>=", depends), depends
    assert "systemd-sysusers" in depends, depends
    fuse_depends = deb_field(debs["cashe-fuse"], "Depends")
    assert re.search(r"(^|, )fuse3(,|$)", fuse_depends), fuse_depends
    assert "libfuse3-3 (>=" in fuse_depends, fuse_depends


def test_maintainer_scripts(debs, tmp_path):
    ctl = deb_control(debs["cashe"], tmp_path)
    assert ctl["conffiles"].split() == ["/etc/cashe/example.conf"]
    post = ctl["postinst"]
    assert re.search(r"systemd-sysusers .*cashe\.conf", post), post
    assert re.search(r"systemd-tmpfiles .*--create cashe\.conf", post), post
    # The user first: the tmpfiles line gives /etc/cashe to its group.
    assert post.index("systemd-sysusers") < post.index("systemd-tmpfiles")
    assert re.search(r'"purge"[^\n]*\n\s*rm -rf "\$\{DPKG_ROOT\}/var/lib/cashe"',
                     ctl["postrm"]), ctl["postrm"]
    # Templates only: nothing to enable or start at install.
    fuse_ctl = deb_control(debs["cashe-fuse"], tmp_path)
    for name, text in list(ctl.items()) + list(fuse_ctl.items()):
        if name in ("preinst", "postinst", "prerm", "postrm"):
            assert "deb-systemd" not in text, (name, text)


# --- Installed into a clean Debian 12 root ---


class Chroot:
    def __init__(self, path):
        self.path = path

    def run(self, *args, timeout=120):
        return run(["chroot", self.path, "env", "-i", f"PATH={PATH}",
                    "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive", *args],
                   timeout=timeout)

    def check(self, *args, timeout=120):
        r = self.run(*args, timeout=timeout)
        assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-2000:])
        return r.stdout

    def file(self, path):
        return os.path.join(self.path, path.lstrip("/"))


def copy_base(dest):
    """cp -a the cached root, under run.sh's lock so no update is half done."""
    with open(os.path.join(CACHE, "lock"), "a") as lock:
        deadline = time.monotonic() + 240
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.skip(f"{CACHE}/lock held for 4 min (a system test "
                                "running?)")
                time.sleep(0.5)
        r = run(["cp", "-a", BASE, dest], timeout=300)
        assert r.returncode == 0, r.stderr


def apt_install(root, paths):
    args = ["apt-get", "install", "-y", "--no-install-recommends",
            "-o", "Dpkg::Use-Pty=0", *paths]
    r = root.run(*args, timeout=300)
    if r.returncode != 0:
        # A dependency the cached root lacks: fetch the archive's index.
        root.check("apt-get", "update", "-qq", timeout=300)
        r = root.run(*args, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.fixture(scope="module")
def root(debs, tmp_path_factory):
    """A copy of the system test's root with both packages installed."""
    if os.geteuid() != 0:
        pytest.skip("installing into a chroot needs root")
    if not os.path.exists(os.path.join(BASE, ".debootstrap-done")):
        # A fresh machine: make the root the system test also uses (its
        # lock keeps the two from building it at once).
        r = subprocess.run([os.path.join(ROOT, "tests", "system", "run.sh"),
                            "--prepare"], capture_output=True, text=True,
                           timeout=1200)
        assert os.path.exists(os.path.join(BASE, ".debootstrap-done")), (
            f"tests/system/run.sh --prepare could not create {BASE}:\n"
            + r.stdout[-2000:] + r.stderr[-2000:])
    t0 = time.monotonic()
    path = str(tmp_path_factory.mktemp("deb-root") / "root")
    copy_base(path)
    chroot = Chroot(path)
    proc = chroot.file("/proc")
    subprocess.run(["mount", "-t", "proc", "proc", proc], check=True)
    try:
        shutil.copy("/etc/resolv.conf", chroot.file("/etc/resolv.conf"))
        os.makedirs(chroot.file("/tmp/debs"))
        for name in ("cashe", "cashe-fuse"):
            shutil.copy(debs[name], chroot.file("/tmp/debs"))
        chroot.debs = [f"/tmp/debs/{os.path.basename(debs[n])}"
                       for n in ("cashe", "cashe-fuse")]
        apt_install(chroot, chroot.debs)
        print(f"root copied and packages installed: "
              f"{time.monotonic() - t0:.1f}s")
        yield chroot
    finally:
        subprocess.run(["umount", proc])
        # Never delete through a mount that is still there.
        if not os.path.ismount(proc):
            shutil.rmtree(path, ignore_errors=True)


def test_installed_binaries_run(root):
    upstream = version().rsplit("-", 1)[0]
    assert root.check("cashed", "--version").strip() == f"cashed {upstream}"
    assert root.check("cashectl", "--version").split()[:2] == \
        ["cashectl", upstream]
    assert root.check("cashe-fuse", "--version").split()[:2] == \
        ["cashe-fuse", upstream]
    assert root.check("dpkg-query", "-W", "-f=${Status}", "cashe",
                      "cashe-fuse").count("install ok installed") == 2


def test_installed_man_pages(root):
    has_man = root.run("sh", "-c", "command -v man").returncode == 0
    for page, sec in MAN_PAGES.items():
        path = f"/usr/share/man/man{sec}/{page}.{sec}.gz"
        if has_man:
            assert root.check("man", "-w", f"{sec}", page).strip() == path
        assert os.path.isfile(root.file(path)), path
        if shutil.which("man"):
            # The root has no man-db: the host's renders the installed file.
            r = run(["man", "-l", root.file(path)],
                    env={"PATH": PATH, "MANWIDTH": "80", "LC_ALL": "C.UTF-8"})
            assert r.returncode == 0, r.stderr
            assert re.search(rf"^NAME\n\s+{re.escape(page)}\b", r.stdout,
                             re.M), r.stdout[:500]


def test_installed_user_dirs_conffile(root):
    pw = root.check("getent", "passwd", "cashe").strip().split(":")
    assert pw[5] == "/var/lib/cashe" and pw[6] == "/usr/sbin/nologin", pw
    assert int(pw[2]) < 1000, pw  # a system user
    assert root.check("getent", "group", "cashe").startswith("cashe:")
    assert root.check("stat", "-c", "%a %U %G", "/etc/cashe").strip() == \
        "750 root cashe"
    conf = root.check("dpkg-query", "-W", "-f=${Conffiles}", "cashe")
    assert "/etc/cashe/example.conf" in conf, conf
    with open(root.file("/etc/cashe/example.conf")) as f:
        assert "[cashed]" in f.read()
    # cashectl's completion loads into bash and registers itself.
    out = root.check("bash", "-c", ". /usr/share/bash-completion/completions/"
                     "cashectl && complete -p cashectl")
    assert out.startswith("complete ") and "cashectl" in out, out


def test_installed_units(root):
    if root.run("sh", "-c", "command -v systemd-analyze").returncode != 0:
        pytest.skip("systemd-analyze is not in the root")
    # By name: loaded from the installed templates, ExecStart= binaries
    # checked in the root. The man pages are checked above (no man-db here).
    r = root.run("systemd-analyze", "verify", "--man=no", *INSTANCES)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    # Templates are not enabled by the install.
    wants = root.check("sh", "-c", "find /etc/systemd/system -name 'cashe*'")
    assert wants.strip() == "", wants


def test_remove_keeps_state_purge_deletes_it(root):
    state = root.file("/var/lib/cashe/raft0")
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, "marker"), "w") as f:
        f.write("raft log\n")
    try:
        root.check("dpkg", "--remove", "cashe-fuse", "cashe")
        assert os.path.exists(os.path.join(state, "marker"))
        assert os.path.exists(root.file("/etc/cashe/example.conf"))
        assert not os.path.exists(root.file("/usr/sbin/cashed"))
        root.check("dpkg", "--purge", "cashe-fuse", "cashe")
        assert not os.path.exists(root.file("/var/lib/cashe"))
        assert not os.path.exists(root.file("/etc/cashe/example.conf"))
    finally:
        # Back as it was, for any test that runs after this one.
        root.check("dpkg", "-i", *root.debs)
