#!/bin/bash
# Install what is needed, build cashe twice (optimized, and with ASan+UBSan),
# run the unit tests on both builds and the integration tests on the
# sanitized daemon, and end with one line: "N passed, N failed, N skipped".
#
#   scripts/test.sh                 everything
#   scripts/test.sh -k expiry       pass pytest options through
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh || exit 1
scripts/build.sh --asan || exit 1

passed=0
failed=0
skipped=0

count_meson() {
    local log=$1/meson-logs/testlog.json
    read -r p f s < <(/usr/bin/python3 - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r == "OK": p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

echo "== layout (clang-format, .clang-format)"
shopt -s nullglob
sources=(src/*.[ch] src/ctl/*.[ch] fuse/*.[ch] bench/*.[ch] tests/unit/*.c tests/fuzz/*.c)
shopt -u nullglob
if clang-format --dry-run -Werror "${sources[@]}"; then
    passed=$((passed + 1))
else
    echo "layout differs from .clang-format: run clang-format -i on the files above"
    failed=$((failed + 1))
fi

for b in build build-asan; do
    echo "== unit tests ($b)"
    meson test -C "$b" --suite unit --no-rebuild --print-errorlogs -q
    count_meson "$b"
done

echo "== integration tests (build-asan/cashed)"
export CASHED="$PWD/build-asan/cashed"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=66"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=67"
rm -f build/pytest.xml
/usr/bin/python3 -m pytest tests/integration tests/jepsen -q -p no:cacheprovider \
    --junitxml=build/pytest.xml "$@"
if [ -f build/pytest.xml ]; then
    read -r p f s < <(/usr/bin/python3 - build/pytest.xml <<'PY'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(x.get("tests", 0)) for x in suites)
f = sum(int(x.get("failures", 0)) + int(x.get("errors", 0)) for x in suites)
s = sum(int(x.get("skipped", 0)) for x in suites)
print(t - f - s, f, s)
PY
)
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
else
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
