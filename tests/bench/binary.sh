#!/bin/sh
# binary.sh -- the benchmark's pictures scenario: a 100-member room receiving
# 256 KiB pictures (binary messages) at 20 per second for a minute. Does the
# memory of the gateway and the broker hold steady, and is nothing lost?
# run.sh calls it after its own scenarios; alone: `sh tests/bench/binary.sh`
# (after `make` and `make -C tests/bench`). Uses 127.0.0.1 only, free ports
# and a temporary directory, and stops every process it started (by pid).
#
# One broker and one gateway with the shipped defaults (plus a rate limit
# high enough for the sender); the load generator's members check every
# copy's payload and order. Resident memory (VmRSS) of both processes is
# sampled every 5 s; "steady" compares the last 20 s with the 20 s after a
# 10 s warm-up (the first seconds fill SQLite's cache and the allocators).
#
# Knobs: BENCH_BIN_SIZE (262144 bytes), BENCH_BIN_RATE (20/s),
# BENCH_BIN_DURATION (60 s), BENCH_MEMBERS (100), BENCH_BIN_THREADS (2:
# load generator threads, to read 100 x 5 MiB/s).

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/tests/bench
LG=$BENCH/loadgen
BROKER=$ROOT/bin/roomcast-broker
GATEWAY=$ROOT/bin/roomcast-gateway
SIZE=${BENCH_BIN_SIZE:-262144}
RATE=${BENCH_BIN_RATE:-20}
DURATION=${BENCH_BIN_DURATION:-60}
MEMBERS=${BENCH_MEMBERS:-100}
THREADS=${BENCH_BIN_THREADS:-2}
TMP=$(mktemp -d /tmp/roomcast-bench-binary.XXXXXX)
PIDS=""

. "$BENCH/lib.sh"
trap kill_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ -x "$BROKER" ] && [ -x "$GATEWAY" ] || { say "binary: run make first"; exit 1; }
[ -x "$LG" ] || make -s -C "$BENCH" || { say "binary: cannot build the load generator"; exit 1; }

# shellcheck disable=SC2046
set -- $(free_ports 3)
[ $# -eq 3 ] || { say "binary: no free ports"; exit 1; }
EV_PORT=$1 FO_PORT=$2 GW_PORT=$3

"$BROKER" -o events_url="tcp://127.0.0.1:$EV_PORT" -o fanout_url="tcp://127.0.0.1:$FO_PORT" \
    -o db="$TMP/db" -o log_level=warn 2>>"$TMP/broker.log" &
BK=$!
PIDS="$PIDS $BK"
"$GATEWAY" -o events_url="tcp://127.0.0.1:$EV_PORT" -o fanout_url="tcp://127.0.0.1:$FO_PORT" \
    -o listen="127.0.0.1:$GW_PORT" -o rate_per_s=1000 -o log_level=warn 2>>"$TMP/gateway.log" &
GW=$!
PIDS="$PIDS $GW"
wait_healthz "http://127.0.0.1:$GW_PORT/healthz" || { say "binary: the gateway did not get ready"; exit 1; }

say "=== pictures: $MEMBERS members, $SIZE-byte binary messages at $RATE/s for $DURATION s"
"$LG" fanout --label pictures --url "ws://127.0.0.1:$GW_PORT/ws" --members "$MEMBERS" \
    --duration "$DURATION" --rate "$RATE" --binary "$SIZE" --threads "$THREADS" --drain 5 \
    --server-pid "$BK" --server-pid "$GW" >"$TMP/lg.out" 2>"$TMP/lg.err" &
LGPID=$!
PIDS="$PIDS $LGPID"
# Sample every 5 s while the load generator runs: "t gateway_kib broker_kib".
t=0
: >"$TMP/rss"
while kill -0 "$LGPID" 2>/dev/null; do
    sleep 5
    t=$((t + 5))
    echo "$t $(rss_kib "$GW") $(rss_kib "$BK")" >>"$TMP/rss"
done
wait "$LGPID" 2>/dev/null
line=$(grep '^result ' "$TMP/lg.out" | head -n 1)
[ -n "$line" ] || { say "binary: no result from the load generator"; tail -n 20 "$TMP/lg.err"; exit 1; }

say "  RSS every 5 s (s: gateway MiB / broker MiB):"
awk '{ printf "    %3d s: %7.1f / %7.1f\n", $1, $2 / 1024, $3 / 1024 }' "$TMP/rss"
# Steady: mean of the samples at 10-30 s against the last 20 s of sending.
steady=$(awk -v d="$DURATION" '
    $1 > 10 && $1 <= 30 { ag += $2; ab += $3; an++ }
    $1 > d - 20 && $1 <= d { bg += $2; bb += $3; bn++ }
    { if ($2 > mg) mg = $2; if ($3 > mb) mb = $3 }
    END {
        if (!an || !bn) { print "n/a"; exit }
        printf "gateway %.1f -> %.1f MiB (%+.1f%%, peak %.1f), broker %.1f -> %.1f MiB (%+.1f%%, peak %.1f)",
            ag / an / 1024, bg / bn / 1024, 100 * (bg / bn - ag / an) / (ag / an), mg / 1024,
            ab / an / 1024, bb / bn / 1024, 100 * (bb / bn - ab / an) / (ab / an), mb / 1024
    }' "$TMP/rss")
say "  resident memory, 10-30 s against the last 20 s: $steady"
say "  sent $(kv "$line" sent), delivered $(kv "$line" deliveries) ($(kv "$line" deliveries_per_s)/s," \
    "$(awk -v s="$SIZE" -v d="$(kv "$line" deliveries_per_s)" 'BEGIN { printf "%.0f", s * d / 1048576 }') MiB/s)," \
    "lost $(kv "$line" lost), duplicated $(kv "$line" dup), order $(kv "$line" order)," \
    "p50 $(kv "$line" p50_ms) ms, p99 $(kv "$line" p99_ms) ms, server cores $(kv "$line" server_cores), load generator cores $(kv "$line" loadgen_cores)"
say "  result $(echo "$line" | cut -d' ' -f2-)"
say "  roomcast log lines (log_level=warn): broker $(grep -c . "$TMP/broker.log"), gateway $(grep -c . "$TMP/gateway.log")"
tail -n 3 "$TMP/broker.log" "$TMP/gateway.log" 2>/dev/null | sed 's/^/    /'
stop "$GW"
stop "$BK"
