#!/bin/sh
# run-dev.sh -- what `make run` does after building: start a broker and a
# gateway on the defaults of etc/roomcast.conf, print the URL, and stop both
# cleanly on Ctrl-C (or when either exits).
cd "$(dirname "$0")/.." || exit 2
CONF=${CONF:-etc/roomcast.conf}
bin/roomcast-broker -c "$CONF" &
broker=$!
bin/roomcast-gateway -c "$CONF" &
gateway=$!
stop() {
    kill -TERM "$gateway" "$broker" 2>/dev/null
    wait "$gateway" "$broker" 2>/dev/null
    exit 0
}
trap stop INT TERM
port=$(sed -n 's/^[[:space:]]*listen[[:space:]]*=[[:space:]]*//p' "$CONF" | tail -n 1)
port=${port:-8080}
case $port in *:*) url="http://$port/" ;; *) url="http://127.0.0.1:$port/" ;; esac
i=0
while [ $i -lt 50 ] && ! curl -fs "${url}healthz" >/dev/null 2>&1; do
    sleep 0.1; i=$((i + 1))
done
echo
echo "roomcast is running: open $url in a browser (WebSocket: ws://${url#http://}ws)."
echo "Ctrl-C stops both processes."
echo
# Either process ending ends the session.
while kill -0 "$broker" 2>/dev/null && kill -0 "$gateway" 2>/dev/null; do
    sleep 1
done
stop
