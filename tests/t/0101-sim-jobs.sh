#!/bin/sh
# tests/t/0101-sim-jobs.sh: the simulator's jobs: list exports (CSV layout,
# quoting, expiry, ranges, --export-file) and bulk update uploads.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Newsletter", "type": "normal"}, {"name": "VIP"},
           {"name": "Empty"}],
 "users": [{"email": "neil@example.com", "sid": "0123456789abcdef01234567",
            "vars": {"first_name": "Neil", "note": "says \"hi\", then\nleaves", "ltv": 12.5},
            "lists": ["Newsletter", "VIP"], "engagement": "active",
            "opens": 3, "clicks": 1, "created": "2021-03-31 22:15:07",
            "signup": "2021-04-01 10:00:00", "last_open": "2021-04-02 12:30:00"},
           {"email": "ann@example.org", "vars": {"plan": "gold"},
            "lists": ["Newsletter"], "engagement": "passive"},
           {"email": "bob@example.net", "lists": ["VIP"]}]}
JSON
printf 'Profile Id,Email\n0123456789abcdef01234567,x@example.com\n' >"$SCRATCH/given.csv"
# Jobs stay pending long enough to see it on a loaded machine.
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 1500 --url-ttl-s 3600 \
	--export-file "Given=$SCRATCH/given.csv" || exit 1


# The second look must still see "pending" when it came within the job's
# 1.5 s; a loaded machine (or a sanitized build) can take longer than that.
test_expect_success 'export job: pending, then completed with an export_url' '
	t0=$(date +%s%3N) &&
	test "$(api POST job "{\"job\":\"export_list_data\",\"list\":\"Newsletter\"}")" = 200 &&
	test "$(jq -r .status out.json)" = pending &&
	test "$(jq -r .name out.json)" = "List Data Exporter: Newsletter" &&
	jq -r .job_id out.json >job_id && grep -Eq "^[0-9a-f]{24}$" job_id &&
	api GET job "{\"job_id\":\"$(cat job_id)\"}" >/dev/null &&
	t1=$(date +%s%3N) &&
	{ test "$(jq -r .status out.json)" = pending || test $((t1 - t0)) -ge 1500; } &&
	poll "$(cat job_id)" &&
	test "$(jq -r .status out.json)" = completed &&
	jq -r .export_url out.json >url &&
	grep -q "^$SIM_URL/_export/[0-9a-f]*\.csv$" url &&
	jq -e ".start_time and .end_time" out.json
'

test_expect_success 'the export CSV has Sailthru columns in order, then sorted vars' '
	curl -sf -D hdr.txt -o export.csv "$(cat url)" &&
	head -n 1 export.csv >header &&
	test "$(cat header)" = "Profile Id,Email Hash,Email,Engagement,Lists,Profile Created Date,Signup,Opens,Clicks,Last Open,Last Click,first_name,ltv,note,plan" &&
	tr -d "\r" <hdr.txt | grep -qi "^Content-Length: $(wc -c <export.csv | tr -d " ")$"
'

test_expect_success 'export rows: ids, hash, dates, quoting' '
	hash=$(printf %s neil@example.com | md5sum | cut -c1-32) &&
	python3 - "$hash" <<-\EOF &&
	import csv, sys
	rows = list(csv.reader(open("export.csv", newline="")))
	assert len(rows) == 3, rows
	h, n, a = rows
	assert n[:5] == ["0123456789abcdef01234567", sys.argv[1], "neil@example.com", "active", "Newsletter,VIP"], n
	assert n[5] == "2021-03-31 18:15:07", n[5]
	assert n[6] == "Thu, 01 Apr 2021 06:00:00 -0400", n[6]
	assert n[7:11] == ["3", "1", "Fri, 02 Apr 2021 08:30:00 -0400", ""], n
	assert n[11:] == ["Neil", "12.5", "says \"hi\", then\nleaves", ""], n[11:]
	assert a[2] == "ann@example.org" and a[4] == "Newsletter" and a[14] == "gold", a
	assert len(a[0]) == 24
	EOF
	grep -q ",\"Newsletter\"," export.csv
'

test_expect_success 'a Range request gets 206 with Content-Range; a bad one 416' '
	size=$(wc -c <export.csv | tr -d " ") &&
	code=$(curl -s -D hdr.txt -o part -w "%{http_code}" -H "Range: bytes=10-" "$(cat url)") &&
	test "$code" = 206 &&
	tail -c +11 export.csv | cmp - part &&
	tr -d "\r" <hdr.txt | grep -q "^Content-Range: bytes 10-$((size - 1))/$size$" &&
	code=$(curl -s -o part -w "%{http_code}" -H "Range: bytes=0-9" "$(cat url)") &&
	test "$code" = 206 && test "$(cat part)" = "Profile Id" &&
	code=$(curl -s -o /dev/null -w "%{http_code}" -H "Range: bytes=$size-" "$(cat url)") &&
	test "$code" = 416
'

test_expect_success 'an export of an unknown list is 404 error 15; unknown job 99' '
	test "$(api POST job "{\"job\":\"export_list_data\",\"list\":\"Nope\"}")" = 404 &&
	test "$(jq -r .error out.json)" = 15 &&
	test "$(jq -r .errormsg out.json)" = "Unknown list: Nope" &&
	test "$(api GET job "{\"job_id\":\"ffffffffffffffffffffffff\"}")" = 400 &&
	test "$(jq -r .error out.json)" = 99 &&
	test "$(jq -r .errormsg out.json)" = "Job not found: ffffffffffffffffffffffff"
'

test_expect_success 'an empty list exports just the header' '
	api POST job "{\"job\":\"export_list_data\",\"list\":\"Empty\"}" >/dev/null &&
	poll "$(jq -r .job_id out.json)" &&
	curl -sf "$(jq -r .export_url out.json)" >empty.csv &&
	test "$(wc -l <empty.csv)" = 1
'

test_expect_success '--export-file serves the given file for that list' '
	api POST job "{\"job\":\"export_list_data\",\"list\":\"Given\"}" >/dev/null &&
	poll "$(jq -r .job_id out.json)" &&
	curl -sf "$(jq -r .export_url out.json)" | cmp - "$SCRATCH/given.csv"
'

test_expect_success 'expired export URLs answer 403 "Request has expired"' '
	curl -sf -X POST "$SIM_URL/_sim/expire" >/dev/null &&
	test "$(curl -s -o body -w "%{http_code}" "$(cat url)")" = 403 &&
	grep -q "Request has expired" body &&
	api GET job "{\"job_id\":\"$(cat job_id)\"}" >/dev/null &&
	test "$(jq -r .expired out.json)" = true &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "$SIM_URL/_export/00000000000000000000000000000000.csv")" = 404
'

test_expect_success 'update job: applies good lines, reports bad ones' '
	cat >upd.ndjson <<-\EOF &&
	{"id":"ann@example.org","key":"email","vars":{"plan":"platinum"},"lists":{"VIP":1}}
	{"id": "broken
	{"vars":{"a":1}}

	{"id":"ffffffffffffffffffffffff","key":"sid","vars":{"a":1}}
	{"id":"carol@example.com","vars":{"city":"Lima"},"lists":{"Newsletter":1}}
	EOF
	j="{\"job\":\"update\"}" &&
	code=$(curl -s -o out.json -w "%{http_code}" "$SIM_URL/job" \
	    -F "api_key=$SIM_KEY" -F format=json -F "json=$j" \
	    -F "sig=$(sig "$SIM_KEY" json "$j")" -F "file=@upd.ndjson") &&
	test "$code" = 200 && test "$(jq -r .status out.json)" = pending &&
	poll "$(jq -r .job_id out.json)" &&
	test "$(jq -r .status out.json)" = completed &&
	curl -sf "$(jq -r .error_report_url out.json)" >report.csv &&
	cat report.csv &&
	test "$(head -n 1 report.csv)" = "line,error" &&
	test "$(cut -d, -f1 report.csv | tail -n +2 | tr "\n" " ")" = "2 3 5 " &&
	grep -q "^5,User not found with sid: ffffffffffffffffffffffff$" report.csv &&
	api GET user "{\"id\":\"ann@example.org\"}" >/dev/null &&
	test "$(jq -r .vars.plan out.json)" = platinum &&
	test "$(jq -r ".lists | keys | join(\",\")" out.json)" = Newsletter,VIP &&
	test "$(api GET user "{\"id\":\"carol@example.com\"}")" = 200
'

test_expect_success 'an update job without a file is refused' '
	test "$(api POST job "{\"job\":\"update\"}")" = 400 &&
	test "$(jq -r .error out.json)" = 2
'

test_done
