# lib.sh -- the shell functions the benchmark scripts share; run.sh,
# binary.sh, webhooks.sh and raft.sh source it (`. "$BENCH/lib.sh"`), each in
# its own process. Nothing here starts a process by itself: the callers
# keep the pids they start in PIDS, and stop them by pid.

say() { printf '%s\n' "$*"; }

# kv LINE KEY: the value of KEY in a `result k=v ...` line.
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# free_ports N: N distinct ports that bind on 127.0.0.1 now, picked outside
# the ephemeral range so that the load generator's own outgoing connections
# (and their TIME_WAIT leftovers) never sit on them.
free_ports() {
    node -e '
const net = require("net");
const want = Number(process.argv[1]), got = new Set();
let tries = 0;
function next() {
  if (got.size === want) { console.log([...got].join(" ")); return; }
  if (++tries > 500) { console.error("no free ports"); process.exit(1); }
  const p = 20000 + Math.floor(Math.random() * 12000);
  if (got.has(p)) return next();
  const s = net.createServer();
  s.once("error", next);
  s.listen(p, "127.0.0.1", () => { got.add(p); s.close(next); });
}
next();' "$1"
}

# wait_healthz URL: polls (curl, every 0.1 s) until GET URL answers 200;
# fails after 30 s.
wait_healthz() {
    n=0
    while [ $n -lt 300 ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" = 200 ] && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# rss_kib PID: resident memory (VmRSS) of PID in KiB, "" when it is gone.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# metric PORT NAME: a gateway's figure.
metric() {
    curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2; exit }'
}

# stop PID: SIGTERM, then SIGKILL after 10 s; reaps PID and drops it from
# PIDS.
stop() {
    kill -TERM "$1" 2>/dev/null
    n=0
    while kill -0 "$1" 2>/dev/null && [ $n -lt 100 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    rest=""
    for p in $PIDS; do [ "$p" = "$1" ] || rest="$rest $p"; done
    PIDS=$rest
}

# kill_all: the EXIT trap of binary.sh, webhooks.sh and raft.sh: SIGKILL to
# every pid still in PIDS, then TMP removed.
kill_all() {
    for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
