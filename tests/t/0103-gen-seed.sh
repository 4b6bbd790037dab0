#!/bin/sh
# tests/t/0103-gen-seed.sh: gen-seed's seeds load into the simulator and
# export as expected; its CSVs are well-formed, deterministic and quirky.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }


gen-seed --users 500 --seed 7 >"$SCRATCH/a.json" || exit 1
start_sim --seed "$SCRATCH/a.json" --job-delay-ms 50 || exit 1

test_expect_success 'seeds are deterministic per --seed and valid JSON' '
	gen-seed --users 500 --seed 7 >b.json &&
	gen-seed --users 500 --seed 8 >c.json &&
	cmp a.json b.json && ! cmp -s a.json c.json &&
	test "$(jq ".users | length" a.json)" = 500 &&
	test "$(jq -c "[.lists[] | [.name, .type]]" a.json)" = "[[\"Newsletter\",\"normal\"],[\"VIP\",\"normal\"],[\"Customers\",\"smart\"]]" &&
	test "$(jq "[.users[].email | ascii_downcase | gsub(\" \"; \"\")] | unique | length" a.json)" = 500 &&
	jq -e "all(.users[]; (.lists | length) >= 1 and (.lists | length) <= 3)" a.json &&
	jq -e "[.users[] | select(.lists | length > 1)] | length > 50" a.json &&
	jq -e "[.users[] | select(.email | test(\"[A-Z]\"))] | length > 0" a.json &&
	jq -e "all(.users[]; .vars.lifetime_value | type == \"number\")" a.json &&
	jq -e "all(.users[]; .vars | keys | length == 6)" a.json &&
	gen-seed --users 3 --vars 8 --lists "A,B:smart" | jq -e "(.users[0].vars | length) == 8 and .lists[1].type == \"smart\""
'

test_expect_success 'a generated seed loads; exports carry the sorted var columns' '
	test "$(api GET list "{}")" = 200 &&
	test "$(jq "[.lists[] | .email_count] | add" out.json)" = "$(jq "[.users[].lists | length] | add" a.json)" &&
	api POST job "{\"job\":\"export_list_data\",\"list\":\"VIP\"}" >/dev/null &&
	id=$(jq -r .job_id out.json) &&
	poll "$id" && test "$(jq -r .status out.json)" = completed &&
	curl -sf "$(jq -r .export_url out.json)" >vip.csv &&
	test "$(head -n 1 vip.csv)" = "Profile Id,Email Hash,Email,Engagement,Lists,Profile Created Date,Signup,Opens,Clicks,Last Open,Last Click,birthday,city,first_name,last_name,lifetime_value,plan" &&
	test "$(($(python3 -c "import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=\"\"))))" vip.csv) - 1))" = \
	    "$(jq "[.users[] | select(.lists | index(\"VIP\"))] | length" a.json)"
'

test_expect_success 'CSV mode: Sailthru layout, 21 columns, duplicates, quirks, deterministic' '
	gen-seed --csv --rows 3000 --seed 3 >x.csv &&
	gen-seed --csv --rows 3000 --seed 3 | cmp - x.csv &&
	python3 - <<-\EOF
	import csv, hashlib
	rows = list(csv.reader(open("x.csv", newline="")))
	h = rows[0]
	assert h[:11] == ["Profile Id", "Email Hash", "Email", "Engagement", "Lists",
	    "Profile Created Date", "Signup", "Opens", "Clicks", "Last Open", "Last Click"], h
	assert h[11:] == sorted(h[11:]) and len(h) == 21, h
	body = rows[1:]
	assert len(body) == 3000
	assert all(len(r) == 21 for r in body)
	sids = [r[0] for r in body]
	assert 50 < len(sids) - len(set(sids)) < 300, len(sids) - len(set(sids))
	assert any(r[2] != r[2].strip() for r in body), "no spaced emails"
	assert any(r[2] != r[2].lower() for r in body), "no upper-case emails"
	assert any(r[2] == "" for r in body), "no email-less rows"
	assert any("," in r[4] for r in body), "no multi-list rows"
	assert any("\"" in r[14] for r in body) and any(", Jr." in r[16] for r in body)
	for r in body:
	    if r[2]:
	        assert hashlib.md5(r[2].strip().lower().encode()).hexdigest() == r[1]
	    assert len(r[0]) == 24 and r[6].endswith("-0400")
	EOF
'

test_expect_success 'bad arguments are usage errors' '
	test_expect_code 64 gen-seed --users x >/dev/null 2>&1 &&
	test_expect_code 64 gen-seed --csv >/dev/null 2>&1 &&
	test_expect_code 64 gen-seed >/dev/null 2>&1
'

test_done
