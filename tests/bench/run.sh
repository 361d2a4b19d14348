#!/bin/sh
# roomcast benchmark (`make bench`): measures the performance targets
# against a Node.js `ws` baseline (tests/bench/baseline) in the same run, on
# 127.0.0.1 only, and writes everything it prints to tests/out/bench.txt.
# See tests/bench/README.md.
#
# Every roomcast figure comes from one configuration: the shipped defaults,
# plus rate_per_s=1000000 so that the sender is not rate limited.
#
# Scenarios, each on the baseline and then on roomcast (broker + 1 gateway):
#   full   100 members, one sender at full speed (bounded window)
#   half   the same at half the BASELINE's full rate, so that p99 compares at
#          equal load; alternating rounds, each side judged by its median
#   big    1,000 members, 200 messages/s
#   store  several rooms of one member each, senders at full speed:
#          acknowledged = stored (the broker stores before delivering)
#   idle   10,000 idle connections on a fresh process, memory per connection
#          (whole process and growth); then they leave and 10,000 others
#          come (churn), and the memory is read again
#   held   while that gateway holds its 10,000, a 100-member room at 1,000
#          msg/s on it, next to the same room on a second fresh (empty)
#          gateway: alternating rounds, each side judged by its median p99
#   twenty 20,000 member connections of one room (2,000 users with 10
#          connections each) on two fresh gateways, a modest rate: every
#          connection gets every message
#   start-up: every gateway's time from exec to GET /healthz 200
#   webhooks  fan-out with a dead webhook backend next to none (webhooks.sh)
#   pictures  100 members receiving 256 KiB binary messages at 20/s for a
#          minute: gateway and broker memory, nothing lost (binary.sh)
#
# Knobs (environment): BENCH_DURATION (s, default 10), BENCH_HALF_ROUNDS (3),
# BENCH_HALF_DURATION (s, 5), BENCH_MEMBERS (100), BENCH_BIG_MEMBERS (1000),
# BENCH_BIG_RATE (200), BENCH_BIG_DURATION (5), BENCH_STORE_ROOMS (8),
# BENCH_IDLE_CONNS (10000), BENCH_HELD_ROUNDS (5), BENCH_HELD_RATE (1000),
# BENCH_HELD_DURATION (4), BENCH_TWENTY_MEMBERS (20000), BENCH_TWENTY_USERS
# (2000), BENCH_TWENTY_RATE (20), BENCH_TWENTY_DURATION (10), BENCH_STRICT=1
# (exit 1 when a target is missed; otherwise only a broken run fails).

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/tests/bench
OUTDIR=$ROOT/tests/out

# Everything printed goes to the terminal and to tests/out/bench.txt: the
# script runs itself once more behind tee (dash has no process substitution).
if [ -z "${ROOMCAST_BENCH_INNER:-}" ]; then
    mkdir -p "$OUTDIR"
    status_file=$(mktemp)
    echo 1 >"$status_file"
    ROOMCAST_BENCH_INNER=1 ROOMCAST_BENCH_STATUS=$status_file sh "$0" "$@" 2>&1 | tee "$OUTDIR/bench.txt"
    rc=$(cat "$status_file")
    rm -f "$status_file"
    exit "$rc"
fi

DURATION=${BENCH_DURATION:-10}
HALF_ROUNDS=${BENCH_HALF_ROUNDS:-3}
HALF_DURATION=${BENCH_HALF_DURATION:-5}
MEMBERS=${BENCH_MEMBERS:-100}
BIG_MEMBERS=${BENCH_BIG_MEMBERS:-1000}
BIG_RATE=${BENCH_BIG_RATE:-200}
BIG_DURATION=${BENCH_BIG_DURATION:-5}
STORE_ROOMS=${BENCH_STORE_ROOMS:-8}
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
HELD_ROUNDS=${BENCH_HELD_ROUNDS:-5}
HELD_RATE=${BENCH_HELD_RATE:-1000}
HELD_DURATION=${BENCH_HELD_DURATION:-4}
TWENTY_MEMBERS=${BENCH_TWENTY_MEMBERS:-20000}
TWENTY_USERS=${BENCH_TWENTY_USERS:-2000}
TWENTY_RATE=${BENCH_TWENTY_RATE:-20}
TWENTY_DURATION=${BENCH_TWENTY_DURATION:-10}
STRICT=${BENCH_STRICT:-0}

LG=$BENCH/loadgen
BROKER=$ROOT/bin/roomcast-broker
GATEWAY=$ROOT/bin/roomcast-gateway
TMP=$(mktemp -d /tmp/roomcast-bench.XXXXXX)
PIDS=""
SERVER_PIDS=""

# say, kv, free_ports, rss_kib (and metric) come from lib.sh; stop and
# wait_healthz are defined again below: this script's stop says when a
# process ignored SIGTERM, and its wait_healthz polls every 10 ms (start-up
# times are measured with it).
. "$BENCH/lib.sh"

finish() {
    echo "${1:-1}" >"$ROOMCAST_BENCH_STATUS"
}

# Stops what this script started (by pid, never by name), then removes TMP.
cleanup() {
    for p in $PIDS; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in $PIDS; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
    say "bench: $*" >&2
    exit 1
}

# stop PID: graceful stop, bounded; SIGKILL after 10 s.
stop() {
    kill -TERM "$1" 2>/dev/null
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$1" 2>/dev/null; then
        say "bench: pid $1 ignored SIGTERM for 10 s; killed"
        kill -KILL "$1" 2>/dev/null
    fi
    wait "$1" 2>/dev/null
    rest=""
    for p in $PIDS; do [ "$p" = "$1" ] || rest="$rest $p"; done
    PIDS=$rest
}

# calc EXPR: floating point arithmetic (awk), "n/a" when an operand is missing.
calc() {
    awk "BEGIN { x = ($1); printf \"%.${2:-2}f\", x }" 2>/dev/null || printf 'n/a'
}

ratio() {
    if [ -z "$1" ] || [ -z "$2" ]; then printf 'n/a'; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) printf "n/a"; else printf "%.2fx", a / b }'
}

# wait_healthz URL SECONDS: polls until GET URL answers 200.
wait_healthz() {
    node -e '
const [url, secs] = process.argv.slice(1);
const end = Date.now() + Number(secs) * 1000;
(async () => {
  while (Date.now() < end) {
    try { const r = await fetch(url); if (r.status === 200) process.exit(0); } catch {}
    await new Promise((r) => setTimeout(r, 10));
  }
  process.exit(1);
})();' "$1" "$2"
}

# fanout LABEL ARGS...: runs the load generator, prints its report, and sets
# RESULT to its result line ("" when it printed none).
fanout() {
    label=$1
    shift
    # shellcheck disable=SC2086 # SERVER_PIDS is a list of --server-pid flags
    "$LG" fanout --label "$label" $SERVER_PIDS "$@" >"$TMP/lg.out" 2>"$TMP/lg.err"
    lg_rc=$?
    cat "$TMP/lg.out"
    if [ -s "$TMP/lg.err" ]; then
        say "  (load generator notes)"
        sed 's/^/    /' "$TMP/lg.err" | head -n 12
    fi
    RESULT=$(grep '^result ' "$TMP/lg.out" | head -n 1)
    [ $lg_rc -eq 0 ] || say "  load generator exit status $lg_rc"
}

# idle_start URL LABEL: a load generator holding IDLE_CONNS idle connections
# on URL, in the background (IDLE_LG); returns once all are welcomed (or
# failed), with IDLE_RESULT and IDLE_WELCOMED set.
idle_start() {
    : >"$TMP/idle.out" # exists before the loop below reads it
    "$LG" idle --label "$2" --url "$1" --conns "$IDLE_CONNS" --hold 900 >"$TMP/idle.out" 2>"$TMP/idle.err" &
    IDLE_LG=$!
    PIDS="$PIDS $IDLE_LG"
    i=0
    while ! grep -q '^result ' "$TMP/idle.out" && kill -0 $IDLE_LG 2>/dev/null && [ $i -lt 1500 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    IDLE_RESULT=$(grep '^result ' "$TMP/idle.out" | head -n 1)
    IDLE_WELCOMED=$(kv "$IDLE_RESULT" welcomed)
    sed -n 2p "$TMP/idle.out"
}

# idle_stop: ends IDLE_LG and prints what it said at the end.
idle_stop() {
    [ -n "$IDLE_LG" ] || return 0
    stop "$IDLE_LG"
    IDLE_LG=""
    grep '^result .*-end ' "$TMP/idle.out" | sed 's/^/  /'
    if [ -s "$TMP/idle.err" ]; then
        say "  (load generator notes)"
        sed 's/^/    /' "$TMP/idle.err" | head -n 12
    fi
}

# per_conn KIB: KIB / IDLE_WELCOMED with one decimal, "" without connections.
per_conn() {
    if [ -n "$IDLE_WELCOMED" ] && [ "$IDLE_WELCOMED" -gt 0 ] && [ -n "$1" ]; then
        calc "$1 / $IDLE_WELCOMED" 1
    fi
}

# idle URL PID LABEL: IDLE_CONNS idle connections on URL, resident memory of
# PID before and with them; sets IDLE_RESULT, IDLE_KIB (growth per
# connection), IDLE_TOTAL_KIB (whole process per connection), and leaves
# the connections held (idle_stop ends them).
idle() {
    sleep 1
    RSS_BEFORE=$(rss_kib "$2")
    idle_start "$1" "$3"
    # Let the server finish its per-connection allocations before reading.
    sleep 2
    RSS_AFTER=$(rss_kib "$2")
    IDLE_KIB=""
    [ -n "$RSS_BEFORE" ] && [ -n "$RSS_AFTER" ] && IDLE_KIB=$(per_conn "($RSS_AFTER - $RSS_BEFORE)")
    IDLE_TOTAL_KIB=$(per_conn "$RSS_AFTER")
    say "  resident memory: ${RSS_BEFORE:-?} KiB before, ${RSS_AFTER:-?} KiB with ${IDLE_WELCOMED:-0} connections:" \
        "${IDLE_TOTAL_KIB:-?} KiB per connection for the whole process, ${IDLE_KIB:-?} KiB of growth"
}

# --------------------------------------------------------------------- setup

# shellcheck disable=SC3045 # dash and bash both have ulimit -n and -H
ulimit -n "$(ulimit -Hn)" 2>/dev/null
# shellcheck disable=SC3045
NOFILE=$(ulimit -n)

say "roomcast benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
say "machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
    "$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
say "roomcast: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
    "node $(node --version), open files limit $NOFILE, pid_max $(cat /proc/sys/kernel/pid_max)"
say "load generator on the same machine; compare figures within this run only"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews latencies)"
say ""

command -v node >/dev/null || die "node is needed for the baseline"
[ -x "$LG" ] || make -s -C "$BENCH" || die "cannot build the load generator"
if [ "$NOFILE" -lt $((IDLE_CONNS + 200)) ]; then
    # The load generator and the server each hold one socket per connection.
    IDLE_CONNS=$((NOFILE - 200))
    say "note: open files limit $NOFILE: idle scenario reduced to $IDLE_CONNS connections"
fi
if [ "$(cat /proc/sys/kernel/pid_max)" -lt 65536 ]; then
    say "note: kernel.pid_max $(cat /proc/sys/kernel/pid_max) (Debian 12 with systemd: 4194304): two gateways of"
    say "      10,240 workers each, plus whatever else runs here, may not fit; a gateway that cannot start"
    say "      every worker says so in its log (event=capacity_limit) and holds fewer"
fi

(cd "$BENCH/baseline" && npm ci --no-audit --no-fund --silent >"$TMP/npm.log" 2>&1) || {
    [ -d "$BENCH/baseline/node_modules/ws" ] || { cat "$TMP/npm.log"; die "npm ci failed in tests/bench/baseline"; }
    say "note: npm ci failed; using the installed tests/bench/baseline/node_modules"
}

# shellcheck disable=SC2046 # eight words wanted
set -- $(free_ports 8)
[ $# -eq 8 ] || die "no free ports"
BL_PORT=$1 EV_PORT=$2 FO_PORT=$3 GW_PORT=$4 IDLE_PORT=$5 EMPTY_PORT=$6 T1_PORT=$7 T2_PORT=$8

# --------------------------------------------------------------------- servers

EV_URL=tcp://127.0.0.1:$EV_PORT
FO_URL=tcp://127.0.0.1:$FO_PORT

start_baseline() {
    node "$BENCH/baseline/server.mjs" "$BL_PORT" 1000000 2>>"$TMP/baseline.log" &
    BL_PID=$!
    PIDS="$PIDS $BL_PID"
    wait_healthz "http://127.0.0.1:$BL_PORT/healthz" 15 || { cat "$TMP/baseline.log"; die "the baseline did not start"; }
}

start_broker() {
    "$BROKER" -o events_url="$EV_URL" -o fanout_url="$FO_URL" -o db="$TMP/db" \
        2>>"$TMP/broker.log" &
    BK_PID=$!
    PIDS="$PIDS $BK_PID"
}

# start_gateway PORT: a gateway on the shipped defaults (plus the sender's
# rate limit) on PORT; sets GW_PID and STARTUP_MS (exec to /healthz 200,
# polled every 10 ms), and adds that to STARTUPS. Fails when not ready in
# 60 s.
start_gateway() {
    port=$1
    t0=$(date +%s%N)
    "$GATEWAY" -o events_url="$EV_URL" -o fanout_url="$FO_URL" -o listen="127.0.0.1:$port" \
        -o id="bench-$port" -o rate_per_s=1000000 2>>"$TMP/gateway.log" &
    GW_PID=$!
    PIDS="$PIDS $GW_PID"
    if ! wait_healthz "http://127.0.0.1:$port/healthz" 60; then
        say "  roomcast gateway not ready on port $port within 60 s; its log:"
        tail -n 20 "$TMP/gateway.log"
        say "  broker log:"
        tail -n 20 "$TMP/broker.log"
        return 1
    fi
    STARTUP_MS=$((($(date +%s%N) - t0) / 1000000))
    STARTUPS="$STARTUPS $STARTUP_MS"
    say "  roomcast gateway on port $port ready in $STARTUP_MS ms (pid $GW_PID," \
        "$(ls "/proc/$GW_PID/task" 2>/dev/null | wc -l) threads, $(rss_kib "$GW_PID") KiB resident)"
}
STARTUPS=""

# RC_UP is 1 while the roomcast broker and gateway run; a roomcast process
# that dies ends roomcast's part of the run (the baseline's goes on).
RC_UP=0 RC_DIED=0 BK_PID="" GW_PID=""
alive() {
    for p in $BK_PID $GW_PID; do
        if ! kill -0 "$p" 2>/dev/null; then
            say "  roomcast process $p DIED during the last scenario; logs:"
            tail -n 20 "$TMP/broker.log" "$TMP/gateway.log"
            RC_DIED=1 RC_UP=0
            return 1
        fi
    done
}

# bl LABEL ARGS / rc LABEL ARGS: one fan-out run on the baseline / on roomcast.
bl() {
    label=$1
    shift
    SERVER_PIDS="--server-pid $BL_PID"
    fanout "$label" --url "$BL_URL" "$@"
    [ -n "$RESULT" ] && echo "$RESULT" >>"$TMP/bl_all"
}
rc() {
    RESULT=""
    [ $RC_UP -eq 1 ] || return 0
    label=$1
    shift
    SERVER_PIDS="--server-pid $BK_PID --server-pid $GW_PID"
    fanout "$label" --url "$RC_URL" "$@"
    [ -n "$RESULT" ] && echo "$RESULT" >>"$TMP/rc_all"
    alive
}

# median_p99 FILE: the result line of FILE whose p99_ms is the median.
median_p99() {
    [ -s "$1" ] || return 0
    while read -r l; do
        printf '%s %s\n' "$(kv "$l" p99_ms)" "$l"
    done <"$1" | sort -g >"$TMP/median"
    n=$(wc -l <"$TMP/median")
    sed -n "$(((n + 1) / 2))p" "$TMP/median" | cut -d' ' -f2-
}

say "=== servers"
say "  baseline: Node.js $(node --version), ws $(node -p 'require(process.argv[1]).version' \
    "$BENCH/baseline/node_modules/ws/package.json"), single process, stores nothing"
start_baseline
BL_URL=ws://127.0.0.1:$BL_PORT/ws
if [ ! -x "$BROKER" ] || [ ! -x "$GATEWAY" ]; then
    say "  roomcast: bin/roomcast-broker or bin/roomcast-gateway is missing (run make): not measured"
    RC_DIED=1
else
    say "  roomcast: broker + 1 gateway, shipped defaults (+ rate_per_s=1000000), every message stored"
    start_broker
    if start_gateway "$GW_PORT"; then
        RC_UP=1
        RC_URL=ws://127.0.0.1:$GW_PORT/ws
    else
        RC_DIED=1
    fi
fi
say ""

# --------------------------------------------------------------------- fan-out

say "=== fan-out, $MEMBERS members, one sender at full speed (window 128)"
bl baseline-full --members "$MEMBERS" --duration "$DURATION"
BL_FULL=$RESULT
rc roomcast-full --members "$MEMBERS" --duration "$DURATION"
RC_FULL=$RESULT
BL_RATE=$(kv "$BL_FULL" acked_per_s)
if [ -z "$BL_RATE" ] || [ "$BL_RATE" -le 0 ]; then die "the baseline's full-speed run gave no rate"; fi
HALF_RATE=$((BL_RATE / 2))
say ""

# Alternating rounds, so that a pause of this shared machine's host hits one
# round rather than one server; each side is judged by its median round.
say "=== fan-out, $MEMBERS members, $HALF_RATE msg/s (half the baseline's full rate), $HALF_ROUNDS alternating rounds"
i=1
while [ $i -le "$HALF_ROUNDS" ]; do
    bl "baseline-half-$i" --members "$MEMBERS" --duration "$HALF_DURATION" --rate "$HALF_RATE"
    [ -n "$RESULT" ] && echo "$RESULT" >>"$TMP/bl_halves"
    rc "roomcast-half-$i" --members "$MEMBERS" --duration "$HALF_DURATION" --rate "$HALF_RATE"
    [ -n "$RESULT" ] && echo "$RESULT" >>"$TMP/rc_halves"
    i=$((i + 1))
done
BL_HALF=$(median_p99 "$TMP/bl_halves")
RC_HALF=$(median_p99 "$TMP/rc_halves")
p99s() { [ -s "$1" ] && while read -r l; do printf ' %s' "$(kv "$l" p99_ms)"; done <"$1"; }
say "  p99 ms by round: baseline$(p99s "$TMP/bl_halves"); roomcast$(p99s "$TMP/rc_halves")"
say "  (each side is judged by its median round)"
say ""

say "=== fan-out, $BIG_MEMBERS members, $BIG_RATE msg/s"
bl baseline-big --members "$BIG_MEMBERS" --duration "$BIG_DURATION" --rate "$BIG_RATE"
BL_BIG=$RESULT
rc roomcast-big --members "$BIG_MEMBERS" --duration "$BIG_DURATION" --rate "$BIG_RATE"
RC_BIG=$RESULT
say ""

say "=== storage: $STORE_ROOMS rooms of 1 member, senders at full speed (window 256)"
say "  acknowledged = echoed to the sender; roomcast stores each message before any copy goes out"
bl baseline-store --members 1 --rooms "$STORE_ROOMS" --window 256 --duration "$DURATION"
BL_STORE=$RESULT
rc roomcast-store --members 1 --rooms "$STORE_ROOMS" --window 256 --duration "$DURATION"
RC_STORE=$RESULT
say ""

# --------------------------------------------------------------------- idle

say "=== $IDLE_CONNS idle connections, each server in a fresh process"
# Fresh processes: the runs above grew the V8 heap and the gateway's pools,
# which would hide what the idle connections cost.
stop "$BL_PID"
[ -n "$GW_PID" ] && stop "$GW_PID"
RC_UP=0
GW_PID=""
start_baseline
idle "$BL_URL" "$BL_PID" baseline-idle
BL_IDLE=$IDLE_RESULT BL_IDLE_KIB=$IDLE_KIB BL_IDLE_TOTAL_KIB=$IDLE_TOTAL_KIB
idle_stop
stop "$BL_PID"
RC_IDLE="" RC_IDLE_KIB="" RC_IDLE_TOTAL_KIB="" RC_CHURN_TOTAL_KIB="" RC_CHURN=""
HELD_GW="" EMPTY_GW="" RC_HELD_END=""
if [ -n "$BK_PID" ] && kill -0 "$BK_PID" 2>/dev/null; then
    say "  roomcast gateway, shipped defaults"
    if start_gateway "$IDLE_PORT"; then
        HELD_GW=$GW_PID
        idle "ws://127.0.0.1:$IDLE_PORT/ws" "$HELD_GW" roomcast-idle
        RC_IDLE=$IDLE_RESULT RC_IDLE_KIB=$IDLE_KIB RC_IDLE_TOTAL_KIB=$IDLE_TOTAL_KIB
        # Churn: every worker has now served a connection once; those
        # connections leave and as many others come.
        idle_stop
        sleep 2
        say "  churn: those $IDLE_CONNS leave ($(rss_kib "$HELD_GW") KiB resident without them), $IDLE_CONNS others come"
        idle_start "ws://127.0.0.1:$IDLE_PORT/ws" roomcast-idle-again
        sleep 2
        RC_CHURN=$IDLE_RESULT
        rss=$(rss_kib "$HELD_GW")
        RC_CHURN_TOTAL_KIB=$(per_conn "$rss")
        say "  resident memory after churn: $rss KiB with ${IDLE_WELCOMED:-0} connections: ${RC_CHURN_TOTAL_KIB:-?} KiB per connection"
    fi
fi
say ""

# --------------------------------------------------------------------- held

# The gateway above keeps its 10,000 idle connections; a second one, fresh
# and empty, runs beside it on the same broker. The same room, rounds
# alternating between the two.
say "=== fan-out, $MEMBERS members, $HELD_RATE msg/s: empty gateway against one holding $IDLE_CONNS idle connections"
say "  ($HELD_ROUNDS alternating rounds of $HELD_DURATION s, each side judged by its median round)"
if [ -n "$HELD_GW" ] && kill -0 "$HELD_GW" 2>/dev/null && start_gateway "$EMPTY_PORT"; then
    EMPTY_GW=$GW_PID
    i=1
    while [ $i -le "$HELD_ROUNDS" ]; do
        for side in empty held; do
            if [ $side = empty ]; then gw=$EMPTY_GW port=$EMPTY_PORT; else gw=$HELD_GW port=$IDLE_PORT; fi
            SERVER_PIDS="--server-pid $BK_PID --server-pid $gw"
            fanout "roomcast-$side-$i" --url "ws://127.0.0.1:$port/ws" --members "$MEMBERS" \
                --duration "$HELD_DURATION" --rate "$HELD_RATE"
            if [ -n "$RESULT" ]; then
                echo "$RESULT" >>"$TMP/rc_all"
                echo "$RESULT" >>"$TMP/rc_$side"
            fi
        done
        i=$((i + 1))
    done
    say "  p99 ms by round: empty$(p99s "$TMP/rc_empty"); holding $IDLE_CONNS$(p99s "$TMP/rc_held")"
    say "  connections the busy gateway held: $(curl -s "http://127.0.0.1:$IDLE_PORT/metrics" | sed -n 's/^roomcast_connections //p')"
    idle_stop
    RC_HELD_END=$(grep '^result .*-end ' "$TMP/idle.out" | head -n 1)
    stop "$EMPTY_GW"
fi
[ -n "$HELD_GW" ] && stop "$HELD_GW"
RC_EMPTY=$(median_p99 "$TMP/rc_empty")
RC_HELD=$(median_p99 "$TMP/rc_held")
say ""

# --------------------------------------------------------------------- twenty

say "=== $TWENTY_MEMBERS member connections of one room ($TWENTY_USERS users x $((TWENTY_MEMBERS / TWENTY_USERS)) connections) on two gateways, $TWENTY_RATE msg/s"
say "  (each user's first connection is announced to everyone online: $TWENTY_USERS distinct users keep"
say "  the join's presence traffic near $TWENTY_USERS^2/2 events instead of $TWENTY_MEMBERS^2/2)"
RC_TWENTY=""
if [ -n "$BK_PID" ] && kill -0 "$BK_PID" 2>/dev/null && start_gateway "$T1_PORT"; then
    T1_GW=$GW_PID
    if start_gateway "$T2_PORT"; then
        T2_GW=$GW_PID
        # Two load generator processes, half the members each: one process
        # may hold no more descriptors than its hard limit (20,000 where
        # this was written, without CAP_SYS_RESOURCE to raise it).
        mkdir -p "$TMP/sync"
        lgs=""
        for part in 0 1; do
            "$LG" fanout --label "roomcast-twenty-$part" --url "ws://127.0.0.1:$T1_PORT/ws" \
                --url "ws://127.0.0.1:$T2_PORT/ws" --members "$TWENTY_MEMBERS" --uids "$TWENTY_USERS" \
                --rate "$TWENTY_RATE" --duration "$TWENTY_DURATION" --setup-timeout 300 --drain 5 \
                --shard "$part/2" --sync "$TMP/sync" --room "bench-twenty-$$" \
                --server-pid "$BK_PID" --server-pid "$T1_GW" --server-pid "$T2_GW" \
                >"$TMP/twenty.$part.out" 2>"$TMP/twenty.$part.err" &
            lgs="$lgs $!"
        done
        for p in $lgs; do wait "$p"; done
        for part in 0 1; do
            sed 1d "$TMP/twenty.$part.out"
            if [ -s "$TMP/twenty.$part.err" ]; then
                say "  (load generator $part notes)"
                sed 's/^/    /' "$TMP/twenty.$part.err" | head -n 12
            fi
        done
        # One result line for both parts: sums, the larger p99 and max.
        RC_TWENTY=$(cat "$TMP/twenty.0.out" "$TMP/twenty.1.out" | grep '^result ' | awk '
            { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[NR, kv[1]] = kv[2] } n = NR }
            END {
                if (n != 2) exit
                s = "result scenario=roomcast-twenty mode=fanout"
                split("entered deliveries expected lost dup errors server_closed sent", add, " ")
                for (k in add) s = s " " add[k] "=" v[1, add[k]] + v[2, add[k]]
                split("p99_ms max_ms", mx, " ")
                for (k in mx) s = s " " mx[k] "=" (v[1, mx[k]] + 0 > v[2, mx[k]] + 0 ? v[1, mx[k]] : v[2, mx[k]])
                s = s " p50_ms=" v[1, "p50_ms"] "/" v[2, "p50_ms"]
                s = s " order=" (v[1, "order"] == "ok" && v[2, "order"] == "ok" ? "ok" : "bad")
                s = s " setup_s=" v[1, "setup_s"] "/" v[2, "setup_s"] " server_cores=" v[1, "server_cores"]
                print s
            }')
        say "  both parts: $RC_TWENTY"
        [ -n "$RC_TWENTY" ] && echo "$RC_TWENTY" >>"$TMP/rc_all"
        say "  load generators done at $(date -u +%T.%N | cut -c1-12)"
        for p in $T1_PORT $T2_PORT; do
            say "  gateway $p: $(curl -s "http://127.0.0.1:$p/metrics" | sed -n 's/^roomcast_slow_consumer_closes_total /slow-consumer closes /p')"
        done
        # (the counter also counts failed writes, e.g. to sockets of a load
        # generator that has exited)
        grep -h -E 'event=(slow_consumer|write_failed)' "$TMP/gateway.log" | tail -n 3 | sed 's/^/    /'
        stop "$T2_GW"
    fi
    stop "$T1_GW"
fi
if [ -n "$BK_PID" ]; then
    stop "$BK_PID"
    say ""
    say "  roomcast log lines at warn or error: broker $(grep -c -E ' (warn|error) ' "$TMP/broker.log" 2>/dev/null)," \
        "gateways $(grep -c -E ' (warn|error) ' "$TMP/gateway.log" 2>/dev/null); last ones:"
    grep -h -E ' (warn|error) ' "$TMP/broker.log" "$TMP/gateway.log" 2>/dev/null | tail -n 5 | sed 's/^/    /'
fi
say ""

# --------------------------------------------------------------------- webhooks

# Fan-out with a dead webhook backend next to none: its own script, fresh
# brokers per round, after everything above has stopped. BENCH_HOOKS=0
# skips it.
if [ "${BENCH_HOOKS:-1}" = 1 ]; then
    sh "$BENCH/webhooks.sh"
    say ""
fi

# --------------------------------------------------------------------- pictures

# Binary messages (256 KiB pictures into 100 members): memory over a minute
# and nothing lost; its own script. BENCH_BINARY=0 skips it.
if [ "${BENCH_BINARY:-1}" = 1 ]; then
    sh "$BENCH/binary.sh"
    say ""
fi

# --------------------------------------------------------------------- summary

row() { # name roomcast baseline [ratio]
    printf '  %-40s %14s %14s %10s\n' "$1" "${2:-n/a}" "${3:-n/a}" "${4:-}"
}
# checks FILE: "RUNS LOST DUPLICATED ORDER" summed over FILE's result lines.
checks() {
    runs=0 lost=0 dup=0 order=ok
    if [ -s "$1" ]; then
        while read -r l; do
            runs=$((runs + 1))
            v=$(kv "$l" lost)
            lost=$((lost + ${v:-0}))
            v=$(kv "$l" dup)
            dup=$((dup + ${v:-0}))
            [ "$(kv "$l" order)" = ok ] || order=BAD
        done <"$1"
    fi
    [ $runs -gt 0 ] || order=n/a
    echo "$runs $lost $dup $order"
}

say "=== summary (same run; ratio = roomcast / baseline)"
row "figure" "roomcast" "baseline" "ratio"
for spec in "full:deliveries_per_s:fan-out deliveries/s, full speed" \
    "full:acked_per_s:fan-out messages/s, full speed" \
    "full:p50_ms:fan-out p50 ms, full speed" \
    "full:p99_ms:fan-out p99 ms, full speed" \
    "half:deliveries_per_s:fan-out deliveries/s at $HALF_RATE msg/s" \
    "half:p50_ms:fan-out p50 ms at $HALF_RATE msg/s" \
    "half:p99_ms:fan-out p99 ms at $HALF_RATE msg/s" \
    "big:deliveries_per_s:$BIG_MEMBERS members @ $BIG_RATE/s deliveries/s" \
    "big:p50_ms:$BIG_MEMBERS members @ $BIG_RATE/s p50 ms" \
    "big:p99_ms:$BIG_MEMBERS members @ $BIG_RATE/s p99 ms" \
    "full:server_cores:server CPU cores, full speed" \
    "full:loadgen_cores:load generator CPU cores, full speed" \
    "store:acked_per_s:stored (acknowledged) msg/s"; do
    which=${spec%%:*}
    rest=${spec#*:}
    key=${rest%%:*}
    name=${rest#*:}
    case $which in
    full) r=$RC_FULL b=$BL_FULL ;;
    half) r=$RC_HALF b=$BL_HALF ;;
    big) r=$RC_BIG b=$BL_BIG ;;
    store) r=$RC_STORE b=$BL_STORE ;;
    esac
    rv=$(kv "$r" "$key")
    bv=$(kv "$b" "$key")
    row "$name" "$rv" "$bv" "$(ratio "$rv" "$bv")"
done
row "idle KiB per connection (whole RSS)" "$RC_IDLE_TOTAL_KIB" "$BL_IDLE_TOTAL_KIB" \
    "$(ratio "$RC_IDLE_TOTAL_KIB" "$BL_IDLE_TOTAL_KIB")"
row "idle KiB per connection (RSS growth)" "$RC_IDLE_KIB" "$BL_IDLE_KIB" "$(ratio "$RC_IDLE_KIB" "$BL_IDLE_KIB")"
row "idle KiB per connection, whole, churned" "$RC_CHURN_TOTAL_KIB" ""
row "idle connections welcomed" "$(kv "$RC_IDLE" welcomed)" "$(kv "$BL_IDLE" welcomed)"
median() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
maxof() { printf '%s\n' $1 | sort -n | tail -n 1; }
row "gateway start-up to /healthz, ms (median)" "$(median "$STARTUPS")" ""
row "gateway start-up to /healthz, ms (max)" "$(maxof "$STARTUPS")" ""
ep=$(kv "$RC_EMPTY" p99_ms)
hp=$(kv "$RC_HELD" p99_ms)
row "p99 ms, $MEMBERS members @ $HELD_RATE/s, empty gw" "$ep" ""
row "p99 ms, the same, gw holding $IDLE_CONNS" "$hp" "" "$(ratio "$hp" "$ep")"
row "p50 ms, empty / holding $IDLE_CONNS" "$(kv "$RC_EMPTY" p50_ms) / $(kv "$RC_HELD" p50_ms)" ""
row "$TWENTY_MEMBERS members: entered" "$(kv "$RC_TWENTY" entered)" ""
row "$TWENTY_MEMBERS members: deliveries (of expected)" "$(kv "$RC_TWENTY" deliveries)/$(kv "$RC_TWENTY" expected)" ""
row "$TWENTY_MEMBERS members: p50 (each part) / p99 ms" "$(kv "$RC_TWENTY" p50_ms) / $(kv "$RC_TWENTY" p99_ms)" ""
row "$TWENTY_MEMBERS members: lost / duplicated" "$(kv "$RC_TWENTY" lost) / $(kv "$RC_TWENTY" dup)" ""
RUNS_WANTED=$((3 + HALF_ROUNDS + 2 * HELD_ROUNDS + 1))
# shellcheck disable=SC2046 # four words
set -- $(checks "$TMP/rc_all")
RC_RUNS=$1 RC_LOST=$2 dups=$3 order=$4
# shellcheck disable=SC2046
set -- $(checks "$TMP/bl_all")
row "fan-out runs completed (of $RUNS_WANTED)" "$RC_RUNS" "$1"
row "lost, all fan-out runs" "$RC_LOST" "$2"
row "duplicated, all fan-out runs" "$dups" "$3"
row "order, all fan-out runs" "$order" "$4"
say ""

# target NAME VERDICT DETAIL: VERDICT is 1 (met), 0 (missed) or "" (not measured).
MISSED=0
target() {
    case $2 in
    1) v="met   " ;;
    0) v="MISSED"; MISSED=$((MISSED + 1)) ;;
    *) v="n/a   "; MISSED=$((MISSED + 1)) ;;
    esac
    say "  [$v] $1: $3"
}
num_cmp() { # a OP b -> 1/0, "" when an operand is missing
    if [ -z "$1" ] || [ -z "$3" ]; then printf ''; return; fi
    awk -v a="$1" -v b="$3" "BEGIN { print (a $2 b) ? 1 : 0 }"
}

say "=== performance targets"
rd=$(kv "$RC_FULL" deliveries_per_s)
bd=$(kv "$BL_FULL" deliveries_per_s)
target "fan-out deliveries/s >= 2x the baseline" "$(num_cmp "$rd" ">=" "$(calc "2 * ${bd:-0}" 0)")" \
    "roomcast ${rd:-n/a}, baseline ${bd:-n/a} ($(ratio "$rd" "$bd"))"
rp=$(kv "$RC_HALF" p99_ms)
bp=$(kv "$BL_HALF" p99_ms)
target "p99 at half the baseline's top rate ($HALF_RATE msg/s) <= the baseline's" "$(num_cmp "$rp" "<=" "$bp")" \
    "roomcast ${rp:-n/a} ms, baseline ${bp:-n/a} ms"
rw=$(kv "$RC_IDLE" welcomed)
target "$IDLE_CONNS idle connections on the defaults, whole process < 48 KiB per connection" \
    "$(if [ "$rw" = "$IDLE_CONNS" ]; then num_cmp "$RC_IDLE_TOTAL_KIB" "<" 48; fi)" \
    "${RC_IDLE_TOTAL_KIB:-n/a} KiB/conn whole process (${RC_CHURN_TOTAL_KIB:-n/a} after churn), ${RC_IDLE_KIB:-n/a} KiB/conn growth, ${rw:-0} of $IDLE_CONNS welcomed"
target "p99 holding $IDLE_CONNS within 1.2x of an empty gateway ($MEMBERS members, $HELD_RATE msg/s)" \
    "$(num_cmp "$hp" "<=" "$(calc "1.2 * ${ep:-0}" 3)")" "${hp:-n/a} ms against ${ep:-n/a} ms ($(ratio "$hp" "$ep"))"
tw=$(kv "$RC_TWENTY" entered)
target "$TWENTY_MEMBERS members of one room on two gateways, every message to every member" \
    "$(if [ -n "$tw" ]; then [ "$tw" = "$TWENTY_MEMBERS" ] && [ "$(kv "$RC_TWENTY" lost)" = 0 ] && [ "$(kv "$RC_TWENTY" dup)" = 0 ] && [ "$(kv "$RC_TWENTY" order)" = ok ] && echo 1 || echo 0; fi)" \
    "${tw:-0} entered, $(kv "$RC_TWENTY" deliveries) of $(kv "$RC_TWENTY" expected) delivered, lost $(kv "$RC_TWENTY" lost), p99 $(kv "$RC_TWENTY" p99_ms) ms"
rs=$(kv "$RC_STORE" acked_per_s)
target "stored >= 20,000 msg/s" "$(num_cmp "$rs" ">=" 20000)" "${rs:-n/a} msg/s"
clean=""
if [ "$RC_RUNS" -eq "$RUNS_WANTED" ]; then
    clean=0
    [ "$RC_LOST" -eq 0 ] && [ "$dups" -eq 0 ] && [ "$order" = ok ] && clean=1
fi
target "nothing lost, duplicated or out of order (roomcast, all fan-out runs)" "$clean" \
    "$RC_LOST lost, $dups duplicated, order $order, in $RC_RUNS of $RUNS_WANTED runs"
say ""
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
say "full output: tests/out/bench.txt"

if [ $RC_DIED -ne 0 ]; then
    finish 1
elif [ "$STRICT" = 1 ] && [ $MISSED -gt 0 ]; then
    finish 1
else
    finish 0
fi
