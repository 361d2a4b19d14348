#!/bin/sh
# Installs the Debian packages named after the first argument that are not
# installed yet. Runs `apt-get update` once, only when something is missing.
what=$1; shift
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "roomcast: installing $what packages:$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null || {
    echo "roomcast: could not install:$missing" >&2; exit 1; }
