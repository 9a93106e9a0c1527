#!/usr/bin/env bash
# The test command (README): installs what is missing, builds a release build (build/) and an
# ASan+UBSan build (build-asan/), runs the unit tests (meson test) and the integration tests
# (pytest) against both, and ends with one line: "N passed, N failed, N skipped".
# Exit status: 0 when nothing failed.
#
#   tests/run.sh [--no-install] [--no-asan] [--no-release] [--no-fuzz] [-k PYTEST_EXPR]
#
# Every part runs under `timeout` and the whole run under a budget (EDGE_TEST_BUDGET_S, 1680 s)
# so that nothing can hang CI. Logs of every part: build-logs/.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
REPO=$(pwd)
SHARED=${EDGE_SHARED:-$(cd "$REPO/.." && pwd)/shared}
LOGS=$REPO/build-logs
PY=/usr/bin/python3
BUDGET_S=${EDGE_TEST_BUDGET_S:-1680}
START_S=$SECONDS

do_install=1 do_asan=1 do_release=1 do_fuzz=1 pytest_k=()
while (($#)); do
    case $1 in
    --no-install) do_install=0 ;;
    --no-asan) do_asan=0 ;;
    --no-release) do_release=0 ;;
    --no-fuzz) do_fuzz=0 ;;
    -k) pytest_k=(-k "$2"); shift ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tests/run.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

passed=0 failed=0 skipped=0
failures=()

note() { printf '\n=== %s\n' "$*"; }
fail_part() { failed=$((failed + 1)); failures+=("$1"); }

# Seconds left for a part: its own limit, capped by what is left of the whole budget.
part_timeout() {
    local left=$((BUDGET_S - (SECONDS - START_S)))
    ((left < 10)) && left=10
    ((left < $1)) && echo "$left" || echo "$1"
}

# run_part NAME LIMIT_S CMD...: output to the console and to build-logs/NAME.log.
run_part() {
    local name=$1 limit=$2 t rc
    shift 2
    t=$(part_timeout "$limit")
    note "$name (timeout ${t}s)"
    timeout --kill-after=20 "$t" "$@" 2>&1 | tee "$LOGS/$name.log"
    rc=${PIPESTATUS[0]}
    if ((rc == 124 || rc == 137)); then
        echo "*** $name timed out after ${t}s"
        fail_part "$name: timed out after ${t}s"
    fi
    return "$rc"
}

# meson test's summary: "Ok: N", "Fail: N", "Timeout: N", "Unexpected Pass: N", "Skipped: N".
count_meson() {
    local log=$1 ok fail skip
    ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -1)
    fail=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {n += $NF} END {print n + 0}' "$log")
    skip=$(awk '/^Skipped:/ {print $2}' "$log" | tail -1)
    passed=$((passed + ${ok:-0}))
    failed=$((failed + fail))
    skipped=$((skipped + ${skip:-0}))
    ((fail > 0)) && failures+=("$2 ($fail)")
    return 0
}

# pytest's JUnit XML: tests, failures, errors, skipped.
count_pytest() {
    local xml=$1 line p f s
    if ! line=$("$PY" - "$xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
k = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - k, f, k)
EOF
    ); then
        fail_part "$2 (no report)"
        return 0
    fi
    read -r p f s <<<"$line"
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    ((f > 0)) && failures+=("$2 ($f)")
    return 0
}

# test_build NAME SETUP_ARGS...: configure (once), build, unit tests, integration tests.
test_build() {
    local name=$1 dir=$REPO/$1
    shift
    if [[ ! -f $dir/build.ninja ]]; then
        rm -rf "$dir"
        if ! run_part "$name-setup" 300 meson setup "$dir" "$REPO" "$@"; then
            fail_part "$name: meson setup"
            return
        fi
    fi
    # A failed build counts as a failure, and whatever did build is still tested (-k 0): a
    # broken data plane must not hide the control plane's results.
    local built=1
    if ! run_part "$name-build" 900 ninja -C "$dir" -k 0; then
        fail_part "$name: build"
        built=0
    fi
    # meson test refuses to run anything when one test program is missing: after a failed
    # build, run the tests that did build and count each one that did not as failed.
    local have=() missing=() line
    while read -r line; do
        case $line in
        "have "*) have+=("${line#have }") ;;
        "missing "*) missing+=("${line#missing }") ;;
        esac
    done < <(meson introspect "$dir" --tests | "$PY" -c '
import json, os, sys
for t in json.load(sys.stdin):
    print("have" if os.path.exists(t["cmd"][0]) else "missing", t["name"])')
    if ((${#missing[@]})); then
        echo "unit tests that did not build: ${missing[*]}"
        failed=$((failed + ${#missing[@]}))
        failures+=("$name: unit tests not built (${#missing[@]})")
    fi
    local rc=0
    if ((built)); then
        run_part "$name-unit" 420 meson test -C "$dir" --no-rebuild --print-errorlogs \
            --num-processes 2
        rc=$?
    elif ((${#have[@]})); then
        run_part "$name-unit" 420 meson test -C "$dir" --no-rebuild --print-errorlogs \
            --num-processes 2 "${have[@]}"
        rc=$?
    else
        : >"$LOGS/$name-unit.log"
    fi
    count_meson "$LOGS/$name-unit.log" "$name: unit"
    # A meson test run that died without a summary is still a failure.
    if ((rc != 0)) && ! grep -q '^Fail:' "$LOGS/$name-unit.log"; then
        fail_part "$name: meson test exited $rc"
    fi

    local xml=$LOGS/$name-pytest.xml
    rm -f "$xml"
    EDGE_BUILD=$dir run_part "$name-integration" 720 "$PY" -m pytest "$REPO/tests/integration" \
        -q -p no:cacheprovider --junitxml="$xml" "${pytest_k[@]}"
    rc=$?
    if [[ -f $xml ]]; then
        count_pytest "$xml" "$name: integration"
    else
        fail_part "$name: pytest exited $rc without a report"
    fi
}

mkdir -p "$LOGS"
if ((do_install)); then
    # The list is deploy/debian-packages.txt; apt-get update only runs when one is missing.
    run_part install 900 bash "$REPO/deploy/install-packages.sh" || fail_part "package install"
fi

export PYTHONDONTWRITEBYTECODE=1
if ((do_release)); then
    test_build build --buildtype=release
fi
if ((do_asan)); then
    supp=$SHARED/lsan-grpc.supp
    [[ -f $supp ]] || echo "warning: $supp not found; running without LSan suppressions"
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp:print_suppressions=0}
    test_build build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined \
        -Db_lundef=false
    unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
fi

# Fuzz targets (libFuzzer, clang): every committed corpus is replayed, so an input that once
# crashed a parser stays fixed. Each target is one test.
if ((do_fuzz)) && command -v clang >/dev/null; then
    fz=$REPO/build-fuzz
    if [[ ! -f $fz/build.ninja ]]; then
        rm -rf "$fz"
        CC=clang run_part fuzz-setup 300 meson setup "$fz" "$REPO" -Dfuzz=true -Dtests=disabled \
            -Db_lundef=false --buildtype=debugoptimized || fail_part "fuzz: meson setup"
    fi
    if [[ -f $fz/build.ninja ]]; then
        targets=$(cd "$fz" && ninja -t targets all | awk -F: '/^tests\/fuzz\/[^:]*\/fuzz_[a-z_]*:/ {print $1}')
        if run_part fuzz-build 600 ninja -C "$fz" $targets; then
            for t in $targets; do
                dir=$REPO/$(dirname "$t")
                corpus=$(find "$dir" -maxdepth 1 -type d -name 'corpus*' | sort | head -1)
                if [[ -z $corpus ]]; then
                    echo "fuzz: $t has no committed corpus"
                    fail_part "fuzz: $t has no corpus"
                    continue
                fi
                if run_part "fuzz-$(basename "$t")" 300 "$fz/$t" -runs=0 "$corpus"; then
                    passed=$((passed + 1))
                else
                    failed=$((failed + 1))
                    failures+=("fuzz: $t on $corpus")
                fi
            done
        else
            fail_part "fuzz: build"
        fi
    fi
fi

note "summary ($((SECONDS - START_S))s)"
for f in "${failures[@]}"; do
    echo "failed: $f"
done
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
