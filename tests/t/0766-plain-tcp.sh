#!/bin/sh
# tests/t/0766-plain-tcp.sh: tcp:// without pipeline.curve. Each plain
# channel is a warning at start; a plain channel beyond loopback is refused
# (a configuration error; a bind given on the command line by the channel
# layer) unless pipeline.allow_plain_tcp is set.
. "$(dirname "$0")/../lib.sh"

port=$(port_base 3)

# conf NAME LANE [EXTRA]: one lane on LANE, EXTRA added to pipeline.
conf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {"path": "store-$1", "properties": {"email": {"type": "text", "unique": true}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["$2"] ${3:-}}
}
JSON
}
mkdir -p "$SCRATCH/run"
conf loop "tcp://127.0.0.1:$port"
conf wide "tcp://0.0.0.0:$port"
conf cmd "tcp://127.0.0.1:$((port + 2))"
conf notbool "tcp://0.0.0.0:$port" ', "allow_plain_tcp": "yes"'
conf allowed "tcp://0.0.0.0:$((port + 1))" ', "allow_plain_tcp": true'

test_expect_success 'a plain tcp:// lane on loopback starts, with a warning' '
	background w sailsync-writer -c loop.json --lane 0 --acks none &&
	wait_for 10 grep -q "plain tcp channel uri=tcp://127.0.0.1:$port side=bind" w.log &&
	grep -q "anyone who reaches the port can inject or read records" w.log &&
	kill -TERM "$(cat w.pid)"
'

test_expect_success 'a plain tcp:// channel beyond loopback is a configuration error (78)' '
	test_expect_code 78 sailsync-writer -c wide.json --lane 0 --acks none 2>err &&
	cat err &&
	grep -q "wide.json:[0-9]*:[0-9]*: pipeline.lanes\[0\]: plain tcp:// beyond loopback lets anyone who reaches the port inject profiles; set pipeline.curve (or pipeline.allow_plain_tcp)" err &&
	test_expect_code 78 sailsync-mapper -c wide.json -n 2>err &&
	grep -q "pipeline.lanes\[0\]: plain tcp:// beyond loopback" err
'

test_expect_success '... and a plain bind beyond loopback given on the command line is refused' '
	test_expect_code 69 sailsync-writer -c cmd.json --lane 0 --in "tcp://0.0.0.0:$port" \
		--acks none 2>err &&
	cat err &&
	grep -q "bind tcp://0.0.0.0:$port: plain tcp:// beyond loopback lets anyone who reaches the port inject profiles" err
'

test_expect_success 'pipeline.allow_plain_tcp must be a boolean' '
	test_expect_code 78 sailsync-writer -c notbool.json -n 2>err &&
	grep -q "pipeline.allow_plain_tcp: must be true or false" err
'

test_expect_success 'with pipeline.allow_plain_tcp the bind beyond loopback is made, with the warning' '
	background wa sailsync-writer -c allowed.json --lane 0 --acks none &&
	wait_for 10 grep -q "plain tcp channel uri=tcp://0.0.0.0:$((port + 1)) side=bind" wa.log &&
	kill -0 "$(cat wa.pid)" &&
	kill -TERM "$(cat wa.pid)"
'

test_done
