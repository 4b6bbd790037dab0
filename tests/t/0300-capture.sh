#!/bin/sh
# tests/t/0300-capture.sh: captool over real captures: generated, joined,
# reordered, duplicated, cut short and corrupted.
. "$(dirname "$0")/../lib.sh"

# A capture of 2500 rows in 2 lanes, 100 rows per batch: 26 frames.
test_expect_success 'gen writes a sealed capture' '
	captool gen 2500 -o a.cap --lanes 2 --batch 100 --run 7 &&
	test -s a.cap && ! test -e a.cap.tmp &&
	test "$(captool count a.cap)" -eq 26
'

test_expect_success 'dump shows every batch, sequences contiguous per lane' '
	captool dump a.cap >a.dump &&
	test "$(wc -l <a.dump)" -eq 26 &&
	grep -c "^users run=7 lane=[01] seq_first=[0-9]* count=[0-9]* conn=acme goal=import list=\"Main List\"$" a.dump >n &&
	test "$(cat n)" -eq 26 &&
	awk "{ split(\$3, l, \"=\"); split(\$4, s, \"=\"); split(\$5, c, \"=\");
	       if (s[2] != next_seq[l[2]] + 1) bad++;
	       next_seq[l[2]] = s[2] + c[2] - 1; total += c[2] }
	     END { exit !(bad == 0 && total == 2500) }" a.dump
'

test_expect_success 'cat joins captures' '
	captool cat a.cap a.cap a.cap -o three.cap &&
	test "$(captool count three.cap)" -eq 78 &&
	captool dump three.cap | sort >three.dump &&
	sort a.dump a.dump a.dump >want && cmp want three.dump
'

test_expect_success 'shuffle keeps every frame, changes the order, repeats by seed' '
	captool shuffle a.cap -o s1.cap --seed 11 &&
	captool shuffle a.cap -o s2.cap --seed 11 &&
	captool shuffle a.cap -o s3.cap --seed 12 &&
	cmp s1.cap s2.cap && ! cmp -s s1.cap s3.cap &&
	captool dump s1.cap >s1.dump && ! cmp -s a.dump s1.dump &&
	sort a.dump >want && sort s1.dump >got && cmp want got
'

test_expect_success 'dup sends every frame once and some twice' '
	captool dup a.cap -o d.cap --seed 5 &&
	n=$(captool count d.cap) && test "$n" -gt 26 && test "$n" -le 52 &&
	captool dump d.cap | sort -u >got && sort a.dump >want && cmp want got
'

test_expect_failure_exit 'a capture cut in a frame: count says 65' 65 '
	captool truncate a.cap -o t.cap --bytes 100000 && captool count t.cap
'

test_expect_success 'a cut capture counts its whole frames only' '
	size=$(wc -c <a.cap) &&
	for bytes in 0 10 16 17 100000 $((size / 2)) $((size - 13)); do
		captool truncate a.cap -o t.cap --bytes $bytes &&
		test "$(wc -c <t.cap)" -eq $bytes || return 1
		n=$(captool count t.cap 2>err); rc=$?
		test $rc -eq 65 && test "$n" -lt 26 && grep -q "truncated" err || {
			echo "bytes=$bytes rc=$rc n=$n"; cat err; return 1; }
	done
'

test_expect_success 'a capture missing only its END frame is truncated after all frames' '
	size=$(wc -c <a.cap) &&
	captool truncate a.cap -o t.cap --bytes $((size - 12)) &&
	test_expect_code 65 captool count t.cap >n 2>err &&
	test "$(cat n)" -eq 26 && grep -q "no END frame" err
'

test_expect_failure_exit 'dump of a cut capture exits 65' 65 '
	captool truncate a.cap -o t.cap --bytes 50000 && captool dump t.cap
'

test_expect_success 'corrupt frames: dump names the frame, never crashes' '
	bad=0 &&
	for seed in 1 2 3 4 5 6 7 8; do
		captool corrupt a.cap -o c.cap --seed $seed &&
		test "$(captool count c.cap)" -eq 26 || return 1
		captool dump c.cap >/dev/null 2>err; rc=$?
		case $rc in
		0) ;;
		65) grep -q "c.cap: frame [0-9]*: " err || { cat err; return 1; }
		    bad=$((bad + 1)) ;;
		*) echo "seed $seed: exit $rc"; cat err; return 1 ;;
		esac
	done &&
	test $bad -gt 0
'

test_expect_failure_exit 'not a capture: 65' 65 '
	printf "SAILSYNC-CAP-99\nxxxx" >x.cap && captool count x.cap
'

test_expect_failure_exit 'a missing capture: 66' 66 'captool count nothing.cap'

test_expect_failure_exit 'shuffle without a seed is a usage error' 64 '
	captool shuffle a.cap -o s.cap
'

test_expect_success 'a cut input leaves no output capture behind' '
	captool truncate a.cap -o t.cap --bytes 100000 &&
	! captool cat a.cap t.cap -o out.cap 2>err &&
	! test -e out.cap && ! test -e out.cap.tmp
'

test_done
