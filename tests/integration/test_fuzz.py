"""A short libFuzzer run of every decoder: tests/fuzz/run.sh builds the
targets with clang in build-fuzz/ and runs each on its seed corpus. Any
crash, leak, sanitizer report or failed round-trip check fails the test;
docs/fuzzing.md says how to run longer and how a crash becomes a
regression test."""

import os
import shutil
import subprocess

import pytest

from conftest import ROOT

RUN = os.path.join(ROOT, "tests", "fuzz", "run.sh")
TARGETS = ["resp", "codec", "snapshot", "names", "segment"]
SECONDS = os.environ.get("FUZZ_SECONDS", "10")


def have_libfuzzer():
    """clang, and its runtime with libFuzzer (libclang-rt-*-dev)."""
    if shutil.which("clang") is None or shutil.which("meson") is None:
        return False
    out = subprocess.run(["clang", "-print-resource-dir"],
                         capture_output=True, text=True)
    lib = os.path.join(out.stdout.strip(), "lib", "linux",
                       "libclang_rt.fuzzer-x86_64.a")
    return out.returncode == 0 and (os.path.exists(lib) or
                                    os.uname().machine != "x86_64")


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz(target):
    if not have_libfuzzer():
        pytest.skip("clang with libFuzzer is not installed (apt-get install "
                    "clang libclang-rt-14-dev)")
    env = dict(os.environ, FUZZ_SECONDS=SECONDS)
    r = subprocess.run([RUN, target], cwd=ROOT, env=env,
                       capture_output=True, text=True,
                       timeout=int(SECONDS) + 600)
    print(r.stdout, r.stderr)
    assert r.returncode == 0, f"fuzz_{target} failed:\n{r.stdout}{r.stderr}"
    assert r.stdout.startswith(f"{target} ") and " ok " in r.stdout
