#!/bin/sh
# deploy/deps.sh: installs the Debian packages sailsync builds and tests
# with, only those that are missing.  Safe to run again; needs root (or
# sudo) only when something is missing.
set -eu

need=""
pc() { pkg-config --exists "$1" 2>/dev/null || need="$need $2"; }

command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
command -v cc >/dev/null 2>&1 || need="$need gcc"
command -v make >/dev/null 2>&1 || need="$need make"
pc libzmq libzmq3-dev
pc msgpack libmsgpack-dev
pc lmdb liblmdb-dev
pc libcurl libcurl4-openssl-dev
pc jansson libjansson-dev
pc openssl libssl-dev
pc libmicrohttpd libmicrohttpd-dev
[ -f /usr/include/csv.h ] || need="$need libcsv-dev"
command -v mdb_stat >/dev/null 2>&1 || need="$need lmdb-utils"
command -v prove >/dev/null 2>&1 || need="$need perl"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
command -v curl >/dev/null 2>&1 || need="$need curl"
command -v jq >/dev/null 2>&1 || need="$need jq"
command -v python3 >/dev/null 2>&1 || need="$need python3"
[ -d /usr/share/zoneinfo/America ] || need="$need tzdata"
# Tests only: the status page's browser test (it skips without chromium).
command -v chromium >/dev/null 2>&1 || need="$need chromium"

[ -z "$need" ] && exit 0

echo "deps: installing$need" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $need >&2
