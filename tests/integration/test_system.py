"""The booted-systemd system test (tests/system/run.sh) under pytest.

run.sh debootstraps a Debian 12 root once (cached), installs this tree's
build into it, boots it with systemd-nspawn and checks the units for real:
Type=notify start, STATUS in systemctl status, journal fields, reload, a
three-node cluster from config files, restart after SIGSEGV and after a
watchdog timeout, clean stop, socket activation and the FUSE mount. It exits
77 only where systemd-nspawn cannot run, which is the one reason to skip.
"""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "tests", "system", "run.sh")
# A first run debootstraps (a few minutes); later ones take well under 3.
TIMEOUT = 1500


def test_booted_system():
    r = subprocess.run(["bash", RUN], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL)
    print(r.stdout)
    if r.returncode == 77:
        reason = [line for line in r.stdout.splitlines() if "SKIP" in line]
        pytest.skip(reason[-1] if reason else "run.sh exited 77")
    assert r.returncode == 0, r.stdout[-6000:]
