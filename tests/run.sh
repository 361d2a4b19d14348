#!/bin/sh
# run.sh -- the whole test suite, as `make test` runs it (after building bin/
# and the unit test binaries):
#   1. unit: every build/san/tests/unit/test_* binary (ASan/UBSan). Each prints
#      a last line `test_x: P passed, F failed`; a binary that exits non-zero
#      without such a line (a crash) counts as 1 failed, and so does one that
#      exits non-zero although its line says 0 failed (a leak report, say).
#   2. integration: node --test on tests/integration/*.test.mjs (TAP).
#   3. browser: the same on tests/browser/*.test.mjs, when there are any.
# Output is streamed to the terminal and saved under tests/out/. Prints the
# counts of each section and ends with one line `N passed, M failed`; exit
# status 0 only when M is 0 and N > 0.
#
# Environment: NODE (default node), TEST_CONCURRENCY (files run in parallel
# by node --test; default: node's own choice), ONLY (unit|fuzz|integration|browser:
# run one section).

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
OUT="$ROOT/tests/out"
mkdir -p "$OUT"
NODE=${NODE:-node}

total_pass=0
total_fail=0
summary=""

add() { # section pass fail
    total_pass=$((total_pass + $2))
    total_fail=$((total_fail + $3))
    summary="$summary$(printf '%-12s %d passed, %d failed' "$1:" "$2" "$3")
"
}

want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

# --- 1. unit tests -----------------------------------------------------------
if want unit; then
    echo "=== unit tests"
    upass=0; ufail=0; found=0
    for bin in "$ROOT"/build/san/tests/unit/test_*; do
        case $bin in *.o|*.d|*.c|*.h) continue ;; esac
        [ -f "$bin" ] && [ -x "$bin" ] || continue
        found=1
        name=$(basename "$bin")
        log="$OUT/unit-$name.log"
        (cd "$ROOT" && "$bin") >"$log" 2>&1
        status=$?
        cat "$log"
        line=$(grep -E "^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed\$" "$log" | tail -n 1)
        if [ -n "$line" ]; then
            p=$(echo "$line" | sed -E 's/^.*: ([0-9]+) passed, ([0-9]+) failed$/\1/')
            f=$(echo "$line" | sed -E 's/^.*: ([0-9]+) passed, ([0-9]+) failed$/\2/')
            if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
                echo "run.sh: $name exited with status $status after reporting 0 failed: counted as 1 failed"
                f=1
            fi
        else
            p=0; f=1
            echo "run.sh: $name exited with status $status without a summary line: counted as 1 failed"
        fi
        upass=$((upass + p)); ufail=$((ufail + f))
    done
    if [ "$found" -eq 0 ]; then
        echo "run.sh: no unit test binaries in build/san/tests/unit/ (run make unit)"
    fi
    add unit "$upass" "$ufail"
fi

# --- fuzz smoke: each libFuzzer target for a few seconds over its corpus ----
if want fuzz; then
    echo "=== fuzz smoke"
    fpass=0; ffail=0
    for t in frame json wire config jwt binary; do
        if make -s --no-print-directory -C "$ROOT/tests/fuzz" "smoke-$t"; then
            fpass=$((fpass + 1))
        else
            ffail=$((ffail + 1))
        fi
    done
    add fuzz "$fpass" "$ffail"
fi

# --- 2 and 3. node --test sections --------------------------------------------
# run_node SECTION DIR: runs DIR/*.test.mjs from tests/, TAP to the terminal
# and to tests/out/SECTION.tap, and adds the `# pass` / `# fail` counts
# (cancelled tests count as failed; no counts at all is 1 failed).
run_node() {
    section=$1; dir=$2
    files=$(cd "$ROOT/tests" && ls "$dir"/*.test.mjs 2>/dev/null)
    if [ -z "$files" ]; then
        if [ "$section" = integration ]; then
            echo "run.sh: no tests in tests/$dir"; add "$section" 0 1
        fi
        return
    fi
    echo "=== $section tests"
    tap="$OUT/$section.tap"
    conc=""
    [ -n "$TEST_CONCURRENCY" ] && conc="--test-concurrency=$TEST_CONCURRENCY"
    # shellcheck disable=SC2086
    (cd "$ROOT/tests" && "$NODE" --test --test-reporter=tap $conc $files; echo "# run.sh: node exit status $?") 2>&1 | tee "$tap"
    p=$(grep -E '^# pass [0-9]+$' "$tap" | tail -n 1 | sed -E 's/^# pass //')
    f=$(grep -E '^# fail [0-9]+$' "$tap" | tail -n 1 | sed -E 's/^# fail //')
    c=$(grep -E '^# cancelled [0-9]+$' "$tap" | tail -n 1 | sed -E 's/^# cancelled //')
    if [ -z "$p" ] || [ -z "$f" ]; then
        echo "run.sh: no TAP counts from node --test in $section: counted as 1 failed"
        add "$section" "${p:-0}" $(( ${f:-0} + 1 ))
        return
    fi
    f=$((f + ${c:-0}))
    status=$(grep -E '^# run.sh: node exit status [0-9]+$' "$tap" | tail -n 1 | sed -E 's/.* //')
    if [ "${status:-1}" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "run.sh: node --test exited with status $status although no test failed: counted as 1 failed"
        f=1
    fi
    add "$section" "$p" "$f"
}

want integration && run_node integration integration
want browser && run_node browser browser

echo "=== summary"
printf '%s' "$summary"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
