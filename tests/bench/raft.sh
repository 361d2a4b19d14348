#!/bin/sh
# raft.sh -- the cost of replication: stored messages per second (8 rooms of
# one member, full speed) and fan-out p50/p99 (100 members, one sender at
# BENCH_RAFT_RATE msg/s) through one broker, then through a group of three
# brokers (node_id, peers) on this one machine, in the same run. Alone:
# `sh tests/bench/raft.sh` (after `make` and `make -C tests/bench`). Uses
# 127.0.0.1 only, free ports and a temporary directory, and stops every
# process it started (by pid). Knobs: BENCH_RAFT_DURATION (5 s),
# BENCH_RAFT_RATE (1000 msg/s).

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/tests/bench
LG=$BENCH/loadgen
BROKER=$ROOT/bin/roomcast-broker
GATEWAY=$ROOT/bin/roomcast-gateway
DURATION=${BENCH_RAFT_DURATION:-5}
RATE=${BENCH_RAFT_RATE:-1000}
TMP=$(mktemp -d /tmp/roomcast-bench-raft.XXXXXX)
PIDS=""

. "$BENCH/lib.sh"
trap kill_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ -x "$BROKER" ] && [ -x "$GATEWAY" ] || { say "raft: run make first"; exit 1; }
[ -x "$LG" ] || make -s -C "$BENCH" || { say "raft: cannot build the load generator"; exit 1; }

# measure LABEL EVENTS_URLS FANOUT_URLS: a gateway on the broker(s), the two
# runs, then the gateway stops.
measure() {
    # shellcheck disable=SC2046
    set -- "$1" "$2" "$3" $(free_ports 1)
    "$GATEWAY" -o events_url="$2" -o fanout_url="$3" -o listen="127.0.0.1:$4" \
        -o rate_per_s=1000000 -o log_level=warn -o threads=400 2>>"$TMP/gateway.log" &
    gw=$!
    PIDS="$PIDS $gw"
    if ! wait_healthz "http://127.0.0.1:$4/healthz"; then
        say "  $1: the gateway did not get ready"
        return
    fi
    "$LG" fanout --label "$1-store" --url "ws://127.0.0.1:$4/ws" --members 1 --rooms 8 \
        --window 256 --duration "$DURATION" >"$TMP/lg.out" 2>"$TMP/lg.err"
    line=$(grep '^result ' "$TMP/lg.out" | head -n 1)
    say "  $1: $(kv "$line" acked_per_s) stored msg/s (8 rooms, full speed)"
    "$LG" fanout --label "$1-fanout" --url "ws://127.0.0.1:$4/ws" --members 100 \
        --duration "$DURATION" --rate "$RATE" >"$TMP/lg.out" 2>"$TMP/lg.err"
    line=$(grep '^result ' "$TMP/lg.out" | head -n 1)
    say "  $1: fan-out at $RATE msg/s into 100 members: p50 $(kv "$line" p50_ms) ms," \
        "p99 $(kv "$line" p99_ms) ms, lost $(kv "$line" lost)"
    kill -TERM "$gw" 2>/dev/null
    wait "$gw" 2>/dev/null
}

say "raft: one broker, then three members on this machine ($DURATION s runs)"
# shellcheck disable=SC2046
set -- $(free_ports 2)
"$BROKER" -o events_url="tcp://127.0.0.1:$1" -o fanout_url="tcp://127.0.0.1:$2" \
    -o db="$TMP/one/db" -o log_level=error 2>>"$TMP/broker.log" &
bk=$!
PIDS="$PIDS $bk"
measure one "tcp://127.0.0.1:$1" "tcp://127.0.0.1:$2"
kill -TERM "$bk" 2>/dev/null
wait "$bk" 2>/dev/null

# shellcheck disable=SC2046
set -- $(free_ports 9)
peers="1=127.0.0.1:$1,2=127.0.0.1:$2,3=127.0.0.1:$3"
ev="" fo=""
for i in 1 2 3; do
    e=$(eval echo "\$$((i * 2 + 2))")
    f=$(eval echo "\$$((i * 2 + 3))")
    "$BROKER" -o events_url="tcp://127.0.0.1:$e" -o fanout_url="tcp://127.0.0.1:$f" \
        -o db="$TMP/m$i/db" -o raft_dir="$TMP/m$i/raft" -o node_id=$i -o peers="$peers" \
        -o log_level=error 2>>"$TMP/broker.log" &
    PIDS="$PIDS $!"
    ev="$ev${ev:+,}tcp://127.0.0.1:$e"
    fo="$fo${fo:+,}tcp://127.0.0.1:$f"
done
measure three "$ev" "$fo"
