#!/bin/sh
# deploy/install-config.sh DIR: `make install`'s configuration step.  Puts
# the example configuration in DIR/sailsync.json with its state under
# /var/lib/sailsync (where the units let the stages write), and the
# secrets' environment file DIR/sailsync.env (mode 0600: the units read it
# as root) with a placeholder Sailthru secret and a random status token.
# An existing file is never replaced: it is the operator's.
set -eu
[ $# -eq 1 ] || { echo "usage: deploy/install-config.sh DIR" >&2; exit 64; }
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
if [ ! -e "$dir/sailsync.json" ]; then
	sed -e 's|"var/|"/var/lib/sailsync/|g' -e 's|ipc://var/|ipc:///var/lib/sailsync/|g' \
		"$here/sailsync.json" >"$dir/sailsync.json"
	chmod 0644 "$dir/sailsync.json"
	echo "install-config: wrote $dir/sailsync.json"
fi
if [ ! -e "$dir/sailsync.env" ]; then
	token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	(
		umask 077
		cat >"$dir/sailsync.env" <<ENV
# Secrets for the sailsync units (EnvironmentFile=); root-only.
# The Sailthru API secret of the example connection "demo": replace it.
SAILTHRU_SECRET=change-me
# The status page's token (run now): /login?token=... or Authorization: Bearer.
SAILSYNC_STATUS_TOKEN=$token
ENV
	)
	echo "install-config: wrote $dir/sailsync.env (mode 0600; set SAILTHRU_SECRET)"
fi
