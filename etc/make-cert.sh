#!/bin/sh
# make-cert.sh -- a self-signed TLS certificate for the front proxy
# (etc/nginx/roomcast.conf), for a test machine or a private deployment.
#
#   etc/make-cert.sh DIR [HOSTNAME]
#
# Writes DIR/roomcast.key (an ECDSA P-256 private key, mode 0600) and
# DIR/roomcast.crt (a self-signed X.509 certificate, mode 0644), creating DIR
# when it is missing. The certificate is valid for `localhost`, 127.0.0.1
# and ::1, and for HOSTNAME when one is given (a DNS name, or an IPv4 or
# IPv6 address); its subject CN is HOSTNAME, or `localhost` without one.
# It is its own issuer but not a CA (browsers refuse a CA certificate as a
# server's), so a client trusts it by taking roomcast.crt itself as its CA
# (Node: `ca: fs.readFileSync('roomcast.crt')`; curl: `--cacert`).
# Existing files are replaced.
#
# Environment: DAYS (validity, default 825), OPENSSL (default openssl).
#
# On the Internet use a certificate from a real CA (e.g. Let's Encrypt's
# certbot) instead: browsers show a warning for a self-signed one, and the
# www client cannot connect over wss:// until the user accepts it.

set -eu

usage() {
    echo "usage: $0 DIR [HOSTNAME]" >&2
    exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
dir=$1
host=${2:-}
days=${DAYS:-825}
openssl=${OPENSSL:-openssl}

case $days in
'' | *[!0-9]*) echo "$0: DAYS must be a number of days, not '$days'" >&2; exit 2 ;;
esac

# subjectAltName: the loopback names always, the given host too. An address
# goes in as IP:, anything else as DNS: (checked to be a plausible name, so
# that nothing odd ends up in the openssl config).
san="DNS:localhost,IP:127.0.0.1,IP:::1"
cn=localhost
if [ -n "$host" ]; then
    case $host in
    *[!A-Za-z0-9.:-]* | -* | .*)
        echo "$0: '$host' is not a host name or an IP address" >&2
        exit 2
        ;;
    esac
    cn=$host
    case $host in
    *:*) san="$san,IP:$host" ;;                 # IPv6 address
    *[!0-9.]*) san="$san,DNS:$host" ;;          # a name
    *) san="$san,IP:$host" ;;                   # IPv4 address
    esac
fi

command -v "$openssl" >/dev/null 2>&1 || {
    echo "$0: $openssl not found (Debian: apt-get install openssl)" >&2
    exit 1
}

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.make-cert.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# The key never exists with looser permissions than 0600.
umask 077
"$openssl" req -x509 -new -nodes -sha256 -days "$days" \
    -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$tmp/roomcast.key" -out "$tmp/roomcast.crt" \
    -subj "/CN=$cn/O=roomcast" \
    -addext "subjectAltName=$san" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" 2>"$tmp/openssl.err" || {
    cat "$tmp/openssl.err" >&2
    echo "$0: openssl failed" >&2
    exit 1
}
chmod 0644 "$tmp/roomcast.crt"
# Rename into place: a reader (nginx -s reload) never sees half a file.
mv -f "$tmp/roomcast.key" "$dir/roomcast.key"
mv -f "$tmp/roomcast.crt" "$dir/roomcast.crt"

echo "$dir/roomcast.crt: CN=$cn, subjectAltName=$san, $days days"
echo "$dir/roomcast.key: private key (mode 0600)"
