#!/bin/sh
# webhooks.sh -- the benchmark's webhooks scenario: does a dead webhook
# backend slow the chat down? (docs/protocol.md: "a backend that is slow or down
# changes nothing for clients".) run.sh calls it after its own scenarios;
# alone: `sh tests/bench/webhooks.sh` (after `make` and `make -C
# tests/bench`). Uses 127.0.0.1 only, free ports and a temporary directory,
# and stops every process it started (by pid).
#
# Three broker setups, each with a fresh broker, database and gateway per
# round, in alternating rounds whose order turns (a pause of this shared
# machine then spoils one round, not one setup); each setup is judged by
# its median round:
#   off      no webhook_url
#   refused  webhook_url on a port nobody listens on (connections refused)
#   hang     webhook_url on a receiver that accepts and never answers (each
#            attempt waits out the 5 s timeout)
# Each round: 100 members, one sender at a fixed rate (fan-out p50/p99),
# then the outbox figures from the gateway's /metrics, then 8 rooms of one
# member each at full speed (stored messages/s: the broker's ceiling).
# Every event is written to the outbox (the backend never acknowledges), so
# the with-webhook rounds pay the outbox rows: that is the cost measured.
#
# Knobs: BENCH_HOOKS_ROUNDS (3), BENCH_HOOKS_RATE (1000 msg/s),
# BENCH_HOOKS_DURATION (5 s), BENCH_MEMBERS (100).

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/tests/bench
LG=$BENCH/loadgen
BROKER=$ROOT/bin/roomcast-broker
GATEWAY=$ROOT/bin/roomcast-gateway
ROUNDS=${BENCH_HOOKS_ROUNDS:-3}
RATE=${BENCH_HOOKS_RATE:-1000}
DURATION=${BENCH_HOOKS_DURATION:-5}
MEMBERS=${BENCH_MEMBERS:-100}
TMP=$(mktemp -d /tmp/roomcast-bench-hooks.XXXXXX)
PIDS=""

. "$BENCH/lib.sh"
trap kill_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ -x "$BROKER" ] && [ -x "$GATEWAY" ] || { say "webhooks: run make first"; exit 1; }
[ -x "$LG" ] || make -s -C "$BENCH" || { say "webhooks: cannot build the load generator"; exit 1; }

# shellcheck disable=SC2046
set -- $(free_ports 5)
[ $# -eq 5 ] || { say "webhooks: no free ports"; exit 1; }
EV_PORT=$1 FO_PORT=$2 GW_PORT=$3 DEAD_PORT=$4 HANG_PORT=$5

# The receiver that never answers: takes the connection and the request,
# says nothing.
node -e 'require("net").createServer((s) => { s.on("data", () => {}); s.on("error", () => {}); })
  .listen(Number(process.argv[1]), "127.0.0.1")' "$HANG_PORT" &
PIDS="$PIDS $!"

# round SETUP N: one fresh broker + gateway, one fan-out run; appends the
# result line, with the outbox figures, to $TMP/SETUP.
round() {
    setup=$1
    case $setup in
    off) hook="" ;;
    refused) hook="http://127.0.0.1:$DEAD_PORT/hook" ;;
    hang) hook="http://127.0.0.1:$HANG_PORT/hook" ;;
    esac
    rm -f "$TMP/db" "$TMP/db-wal" "$TMP/db-shm"
    "$BROKER" -o events_url="tcp://127.0.0.1:$EV_PORT" -o fanout_url="tcp://127.0.0.1:$FO_PORT" \
        -o db="$TMP/db" -o log_level=error -o webhook_url="$hook" -o webhook_secret=bench \
        2>>"$TMP/broker.log" &
    bk=$!
    PIDS="$PIDS $bk"
    "$GATEWAY" -o events_url="tcp://127.0.0.1:$EV_PORT" -o fanout_url="tcp://127.0.0.1:$FO_PORT" \
        -o listen="127.0.0.1:$GW_PORT" -o rate_per_s=1000000 -o log_level=warn \
        2>>"$TMP/gateway.log" &
    gw=$!
    PIDS="$PIDS $gw"
    if ! wait_healthz "http://127.0.0.1:$GW_PORT/healthz"; then
        say "  $setup-$2: the gateway did not get ready"
        stop "$gw"
        stop "$bk"
        return
    fi
    "$LG" fanout --label "$setup-$2" --url "ws://127.0.0.1:$GW_PORT/ws" --members "$MEMBERS" \
        --duration "$DURATION" --rate "$RATE" --server-pid "$bk" --server-pid "$gw" \
        >"$TMP/lg.out" 2>"$TMP/lg.err"
    line=$(grep '^result ' "$TMP/lg.out" | head -n 1)
    pending=$(metric "$GW_PORT" roomcast_webhook_pending)
    failed=$(metric "$GW_PORT" roomcast_webhook_failed_total)
    say "  $setup-$2: p50 $(kv "$line" p50_ms) ms, p99 $(kv "$line" p99_ms) ms," \
        "$(kv "$line" acked_per_s) msg/s, lost $(kv "$line" lost), order $(kv "$line" order)," \
        "server CPU $(kv "$line" server_cores) cores;" \
        "outbox pending ${pending:-?}, failed attempts ${failed:-?}"
    [ -n "$line" ] && echo "$line pending=${pending:-0} failed=${failed:-0}" >>"$TMP/$setup"
    "$LG" fanout --label "$setup-store-$2" --url "ws://127.0.0.1:$GW_PORT/ws" --members 1 --rooms 8 \
        --window 256 --duration "$DURATION" >"$TMP/lg.out" 2>"$TMP/lg.err"
    line=$(grep '^result ' "$TMP/lg.out" | head -n 1)
    say "  $setup-store-$2: $(kv "$line" acked_per_s) stored msg/s (8 rooms, full speed)"
    [ -n "$line" ] && echo "$line" >>"$TMP/$setup-store"
    stop "$gw"
    stop "$bk"
}

# median FILE: the result line of FILE whose p99_ms is the median.
median() {
    [ -s "$1" ] || return 0
    while read -r l; do printf '%s %s\n' "$(kv "$l" p99_ms)" "$l"; done <"$1" | sort -g >"$TMP/median"
    n=$(wc -l <"$TMP/median")
    sed -n "$(((n + 1) / 2))p" "$TMP/median" | cut -d' ' -f2-
}

say "=== webhooks: $MEMBERS members, $RATE msg/s for $DURATION s, $ROUNDS alternating rounds per setup"
say "  off: no webhook; refused: webhook_url on a closed port; hang: a receiver that never answers"
r=1
while [ $r -le "$ROUNDS" ]; do
    # The order turns each round, so that no setup always runs first.
    case $((r % 3)) in
    1) order="off refused hang" ;;
    2) order="refused hang off" ;;
    0) order="hang off refused" ;;
    esac
    for setup in $order; do round "$setup" "$r"; done
    r=$((r + 1))
done
say "  (each setup judged by its median round)"
printf '  %-10s %10s %10s %10s %6s %12s %16s\n' setup p50_ms p99_ms msg/s lost server_cores outbox_pending
for setup in off refused hang; do
    m=$(median "$TMP/$setup")
    printf '  %-10s %10s %10s %10s %6s %12s %16s\n' "$setup" "$(kv "$m" p50_ms)" "$(kv "$m" p99_ms)" \
        "$(kv "$m" acked_per_s)" "$(kv "$m" lost)" "$(kv "$m" server_cores)" "$(kv "$m" pending)"
done
p99s() { [ -s "$1" ] && while read -r l; do printf ' %s' "$(kv "$l" p99_ms)"; done <"$1"; }
say "  p99 ms by round: off$(p99s "$TMP/off"); refused$(p99s "$TMP/refused"); hang$(p99s "$TMP/hang")"
# median_rate FILE: the median acked_per_s of FILE's lines.
median_rate() {
    [ -s "$1" ] || return 0
    while read -r l; do kv "$l" acked_per_s; done <"$1" | sort -g >"$TMP/rates"
    n=$(wc -l <"$TMP/rates")
    sed -n "$(((n + 1) / 2))p" "$TMP/rates"
}
for setup in off refused hang; do
    say "  stored msg/s at full speed, $setup: $(median_rate "$TMP/$setup-store") (median round)"
done
off=$(kv "$(median "$TMP/off")" p99_ms)
for setup in refused hang; do
    p=$(kv "$(median "$TMP/$setup")" p99_ms)
    if [ -n "$off" ] && [ -n "$p" ]; then
        say "  p99 $setup / off: $(awk -v a="$p" -v b="$off" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')"
    fi
done
