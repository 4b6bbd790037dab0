#!/bin/sh
# tests/t/0110-sim-node-client.sh: Sailthru's own Node client (npm
# sailthru-client), unmodified, works against the simulator.  Skipped when
# node/npm or the npm registry is not available.
. "$(dirname "$0")/../lib.sh"

command -v node >/dev/null && command -v npm >/dev/null ||
	{ echo "1..0 # SKIP node or npm is not installed"; exit 0; }
(cd "$SCRATCH" && timeout 120 npm install --no-audit --no-fund --silent \
	sailthru-client >npm.log 2>&1) ||
	{ echo "1..0 # SKIP npm install sailthru-client failed (no registry?)"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Newsletter"}, {"name": "Customers", "type": "smart"}],
 "users": [{"email": "neil@example.com", "vars": {"first_name": "Neil"},
            "lists": ["Newsletter"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 100 || exit 1
export SIM_KEY SIM_SECRET

cat >"$SCRATCH/client.js" <<'JS'
// Drives the official client; prints one JSON line per answer.
const sailthru = require('sailthru-client').createSailthruClient(
	process.env.SIM_KEY, process.env.SIM_SECRET, { apiUrl: process.env.SIM_URL });
sailthru.disableLogging();
const steps = [
	(cb) => sailthru.apiGet('user', { id: 'neil@example.com' }, cb),
	(cb) => sailthru.apiPost('user', { id: 'new@example.com', key: 'email',
		vars: { plan: 'gold' }, lists: { Newsletter: 1 },
		fields: { keys: 1 } }, cb),
	(cb) => sailthru.getUserByKey('new@example.com', 'email', { vars: 1 }, cb),
	(cb) => sailthru.getLists(cb),
	(cb) => sailthru.apiGet('list', { list: 'Newsletter' }, cb),
	(cb) => sailthru.apiPost('job', { job: 'export_list_data', list: 'Newsletter' }, cb),
	(cb) => sailthru.apiGet('user', { id: 'nobody@example.com' }, cb),
];
let i = 0;
const next = () => {
	if (i === steps.length) {
		const rl = sailthru.request.last_rate_limit_info['/user|GET'];
		console.log(JSON.stringify({ rate: rl || null }));
		return;
	}
	steps[i++]((err, res) => {
		console.log(JSON.stringify({ err: err ? { statusCode: err.statusCode,
			error: err.error } : null, res: res }));
		next();
	});
};
next();
JS

test_expect_success 'the official Node client talks to the simulator' '
	NODE_PATH="$SCRATCH/node_modules" node client.js >out.jsonl 2>err &&
	cat out.jsonl &&
	test "$(wc -l <out.jsonl)" = 8 &&
	sed -n 1p out.jsonl | jq -e ".err == null and .res.keys.email == \"neil@example.com\" and .res.vars.first_name == \"Neil\"" &&
	sed -n 2p out.jsonl | jq -e ".err == null and .res.ok == true and (.res.keys.sid | test(\"^[0-9a-f]{24}$\"))" &&
	sed -n 3p out.jsonl | jq -e ".res.vars.plan == \"gold\" and (.res | has(\"lists\") | not)" &&
	sed -n 4p out.jsonl | jq -e "[.res.lists[].name] == [\"Newsletter\", \"Customers\"] and .res.lists[0].email_count == 2" &&
	sed -n 5p out.jsonl | jq -e ".res.list == \"Newsletter\" and .res.type == \"normal\" and .res.count == 2" &&
	sed -n 6p out.jsonl | jq -e ".res.status == \"pending\" and (.res.job_id | test(\"^[0-9a-f]{24}$\"))" &&
	sed -n 7p out.jsonl | jq -e ".err.statusCode == 400 and .err.error == 99" &&
	sed -n 8p out.jsonl | jq -e ".rate.limit == 1000 and .rate.remaining < 1000 and .rate.reset > 0"
'

test_expect_success 'the Node client multipart upload starts an update job' '
	printf "%s\n" "{\"id\":\"neil@example.com\",\"vars\":{\"city\":\"Oslo\"}}" \
	    "not json" >upd.ndjson &&
	cat >upload.js <<-\JS &&
	const c = require("sailthru-client").createSailthruClient(
		process.env.SIM_KEY, process.env.SIM_SECRET, { apiUrl: process.env.SIM_URL });
	c.disableLogging();
	c.apiPost("job", { job: "update", file: "upd.ndjson" }, ["file"], (err, res) => {
		console.log(JSON.stringify(res));
		const poll = () => c.apiGet("job", { job_id: res.job_id }, (e, j) => {
			if (j.status === "pending") return setTimeout(poll, 50);
			console.log(JSON.stringify(j));
			c.apiGet("user", { id: "neil@example.com" }, (e2, u) =>
				console.log(JSON.stringify(u)));
		});
		poll();
	});
	JS
	NODE_PATH="$SCRATCH/node_modules" node upload.js >up.jsonl 2>err &&
	cat up.jsonl &&
	sed -n 1p up.jsonl | jq -e ".status == \"pending\"" &&
	sed -n 2p up.jsonl | jq -e ".status == \"completed\" and .bad_rows == 1 and (.error_report_url | length > 0)" &&
	sed -n 3p up.jsonl | jq -e ".vars.city == \"Oslo\""
'

test_done
