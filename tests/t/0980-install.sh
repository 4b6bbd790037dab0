#!/bin/sh
# tests/t/0980-install.sh: `make install` into a scratch PREFIX and
# SYSCONFDIR: units that name the installed binaries and configuration,
# start in order (writers, mappers, then the coordinator and status), pass
# `systemd-analyze verify` and score low on `systemd-analyze security`
# (every service's score is printed); the network only for the units that
# talk to Sailthru; the sailsync user; the installed example configuration
# passes every stage's check.
. "$(dirname "$0")/../lib.sh"

P=$SCRATCH/prefix
E=$SCRATCH/etc
UNITS=$P/lib/systemd/system

test_expect_success 'make install puts binaries, units, the user and the configuration' '
	make -s -C "$SAILSYNC_TOP" install PREFIX="$P" SYSCONFDIR="$E" >out 2>&1 &&
	for b in sailsync sailsync-fetcher sailsync-mapper sailsync-writer sailsync-exporter; do
		test -x "$P/bin/$b" || exit 1
	done &&
	test -f "$P/share/sailsync/sailsync.example.json" &&
	grep -qx "u sailsync - \"sailsync profile pipeline\" /var/lib/sailsync -" \
		"$P/lib/sysusers.d/sailsync.conf" &&
	test "$(stat -c %a "$E/sailsync/sailsync.env")" = 600 &&
	grep -q "^SAILSYNC_STATUS_TOKEN=[0-9a-f]\{32\}$" "$E/sailsync/sailsync.env"
'

test_expect_success 'the units name the installed binaries and configuration' '
	for u in sailsync-writer@.service sailsync-mapper@.service sailsync-status.service \
	    sailsync-coordinator.service sailsync-exporter.service \
	    sailsync-run@.service sailsync.target sailsync-writers.target \
	    sailsync-mappers.target sailsync-run@.timer; do
		test -f "$UNITS/$u" || { echo "missing $u"; exit 1; }
	done &&
	! grep -h "[= ]/usr/local/bin\|[= ]/etc/sailsync" "$UNITS"/* &&
	grep -q "^ExecStart=$P/bin/sailsync-writer -c \${SAILSYNC_CONF} --lane %i$" \
		"$UNITS/sailsync-writer@.service" &&
	grep -q "^Environment=SAILSYNC_CONF=$E/sailsync/sailsync.json$" "$UNITS/sailsync-mapper@.service" &&
	grep -q "^EnvironmentFile=$E/sailsync/sailsync.env$" "$UNITS/sailsync-status.service" &&
	grep -q "^ExecStart=$P/bin/sailsync-fetcher -c \${SAILSYNC_CONF} coordinator$" \
		"$UNITS/sailsync-coordinator.service" &&
	for u in writer@ mapper@ status run@ coordinator exporter; do
		grep -q "^User=sailsync$" "$UNITS/sailsync-$u.service" &&
		grep -q "^StateDirectory=sailsync sailsync/run$" "$UNITS/sailsync-$u.service" &&
		grep -q "^EnvironmentFile=$E/sailsync/sailsync.env$" "$UNITS/sailsync-$u.service" &&
		grep -q "^ExecStartPre=$P/bin/sailsync-[a-z]* -c \${SAILSYNC_CONF} -n$" \
			"$UNITS/sailsync-$u.service" &&
		grep -q "^ProtectSystem=strict$" "$UNITS/sailsync-$u.service" ||
		{ echo "sailsync-$u.service"; exit 1; }
	done
'

test_expect_success 'only the units that talk to Sailthru reach the network' '
	for u in writer@ mapper@ status; do
		grep -q "^IPAddressDeny=any$" "$UNITS/sailsync-$u.service" &&
		grep -q "^IPAddressAllow=localhost$" "$UNITS/sailsync-$u.service" ||
		{ echo "sailsync-$u.service"; exit 1; }
	done &&
	for u in coordinator exporter run@; do
		! grep -q "^IPAddress" "$UNITS/sailsync-$u.service" &&
		grep -q "^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6$" \
			"$UNITS/sailsync-$u.service" || { echo "sailsync-$u.service"; exit 1; }
	done
'

test_expect_success 'writers before mappers before the coordinator and the status server' '
	grep -q "^Before=sailsync-writers.target$" "$UNITS/sailsync-writer@.service" &&
	grep -q "^After=sailsync-writers.target$" "$UNITS/sailsync-mapper@.service" &&
	grep -q "^Before=sailsync-mappers.target$" "$UNITS/sailsync-mapper@.service" &&
	grep -q "^After=sailsync-mappers.target$" "$UNITS/sailsync-status.service" &&
	grep -q "^Wants=sailsync-writers.target sailsync-mappers.target$" \
		"$UNITS/sailsync-coordinator.service" &&
	grep -q "^After=sailsync-writers.target sailsync-mappers.target$" \
		"$UNITS/sailsync-coordinator.service" &&
	grep -q "^PartOf=sailsync.target$" "$UNITS/sailsync-coordinator.service" &&
	grep -q "^WantedBy=sailsync.target$" "$UNITS/sailsync-coordinator.service" &&
	grep -q "^Wants=sailsync-writers.target sailsync-mappers.target sailsync-coordinator.service sailsync-status.service$" \
		"$UNITS/sailsync.target"
'

test_expect_success 'the installed example configuration passes every stage check' '
	grep -q "\"path\": \"/var/lib/sailsync/store\"" "$E/sailsync/sailsync.json" &&
	grep -q "\"ipc:///var/lib/sailsync/run/users\"" "$E/sailsync/sailsync.json" &&
	(set -a; . "$E/sailsync/sailsync.env"; set +a
	 "$P/bin/sailsync-writer" -c "$E/sailsync/sailsync.json" -n &&
	 "$P/bin/sailsync-mapper" -c "$E/sailsync/sailsync.json" -n &&
	 "$P/bin/sailsync-fetcher" -c "$E/sailsync/sailsync.json" -n &&
	 "$P/bin/sailsync-exporter" -c "$E/sailsync/sailsync.json" -n) >chk 2>&1 &&
	cat chk &&
	: a second install keeps what the operator changed &&
	echo "SAILTHRU_SECRET=mine" >>"$E/sailsync/sailsync.env" &&
	make -s -C "$SAILSYNC_TOP" install PREFIX="$P" SYSCONFDIR="$E" >out2 2>&1 &&
	grep -q "^SAILTHRU_SECRET=mine$" "$E/sailsync/sailsync.env"
'

test_expect_success 'the installed sailsync command finds its binaries and the secrets file' '
	env -u SAILSYNC_BIN -u SAILTHRU_SECRET -u SAILSYNC_STATUS_TOKEN PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		"$P/bin/sailsync" -c "$E/sailsync/sailsync.json" check >check.out 2>&1 &&
	test $(grep -c "configuration ok" check.out) -eq 4 &&
	env -u SAILSYNC_BIN -u SAILTHRU_SECRET -u SAILSYNC_STATUS_TOKEN PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		"$P/bin/sailsync" -c "$E/sailsync/sailsync.json" runs demo >runs.out &&
	grep -q "^connection demo (America/New_York), schedule: daily at 02:00$" runs.out
'

# As root, run-now writes its request as the owner of the state directory
# (the units' user), or the coordinator could not read it.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v runuser >/dev/null &&
    command -v jq >/dev/null; then
	test_expect_success 'root queues a run as the owner of the state directory' '
		chmod 0711 "$SCRATCH" &&
		mkdir -p state && chown nobody state &&
		: the state directory not made yet: the one it will be made in decides &&
		jq ".pipeline.state_dir = \"$SCRATCH/state/fetcher\"" "$E/sailsync/sailsync.json" \
			>"$E/sailsync/own.json" &&
		env -u SAILSYNC_BIN PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			"$P/bin/sailsync" -c "$E/sailsync/own.json" run-now demo &&
		ls state/fetcher/demo/queue/*.json >q &&
		test $(wc -l <q) -eq 1 &&
		test "$(stat -c %U $(cat q))" = nobody &&
		test "$(stat -c %U state/fetcher/demo/queue)" = nobody
	'
else
	echo "ok $((test_count + 1)) # SKIP needs root, the user nobody, runuser and jq"
	test_count=$((test_count + 1))
fi

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "ok 8 # SKIP systemd-analyze is not installed"
	echo "ok 9 # SKIP systemd-analyze is not installed"
	test_count=9
	test_done
fi

# Instances of the templates, as `systemctl enable` would name them.
mkdir -p "$SCRATCH/verify"
cp "$UNITS"/* "$SCRATCH/verify/"
for i in writer@0 mapper@1 run@demo; do
	ln -s "sailsync-${i%@*}@.service" "$SCRATCH/verify/sailsync-$i.service"
done
ln -s "sailsync-run@.timer" "$SCRATCH/verify/sailsync-run@demo.timer"

test_expect_success 'systemd-analyze verify passes on the installed units' '
	cd verify &&
	{ systemd-analyze verify --man=no ./sailsync-writer@0.service ./sailsync-mapper@1.service \
		./sailsync-status.service ./sailsync-coordinator.service ./sailsync-exporter.service \
		./sailsync-run@demo.service ./sailsync-run@demo.timer \
		./sailsync.target ./sailsync-writers.target ./sailsync-mappers.target >../verify.out 2>&1 ||
		{ cat ../verify.out; false; }; } &&
	cat ../verify.out &&
	! test -s ../verify.out
'

test_expect_success 'systemd-analyze security: every service scores 2.0 or better' '
	cd verify &&
	for u in sailsync-writer@0 sailsync-mapper@1 sailsync-status sailsync-coordinator \
	    sailsync-exporter sailsync-run@demo; do
		s=$(systemd-analyze security --offline=true "./$u.service" 2>/dev/null |
			sed -n "s/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p") &&
		echo "# $u.service exposure $s" >&3 &&
		awk -v s="$s" "BEGIN { exit !(s != \"\" && s <= 2.0) }" || exit 1
	done
' 3>&1

test_done
