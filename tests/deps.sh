#!/bin/sh
# Installs the Debian packages named after the first argument that are not
# installed yet. Runs `apt-get update` once, only when something is missing.
# A package whose program is already on the PATH from elsewhere (Node.js
# from another repository brings its own npm, say) counts as present:
# installing Debian's over it would conflict.
what=$1; shift
provides() { # package -> the command it provides, if we check by command
    case $1 in
    nodejs) echo node ;; npm) echo npm ;; chromium) echo chromium ;;
    nginx) echo nginx ;; clang) echo clang ;; openssl) echo openssl ;;
    curl) echo curl ;;
    esac
}
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
    cmd=$(provides "$p")
    [ -n "$cmd" ] && PATH="$PATH:/usr/sbin" command -v "$cmd" >/dev/null 2>&1 && continue
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "roomcast: installing $what packages:$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null || {
    echo "roomcast: could not install:$missing" >&2; exit 1; }
