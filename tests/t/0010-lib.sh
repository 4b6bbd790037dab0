#!/bin/sh
# tests/t/0010-lib.sh: tests/lib.sh itself: a body with a broken && chain
# fails without running, test_expect_code insists on its exact code, and a
# failed assertion can no longer pass as an expected failure exit.
. "$(dirname "$0")/../lib.sh"

# inner BODY...: a throw-away script that sources lib.sh and runs each
# BODY as one test_expect_success; its TAP goes to stdout.
inner() {
	{
		echo ". \"$SAILSYNC_TOP/tests/lib.sh\""
		for b in "$@"; do
			printf "test_expect_success 'inner' '%s'\n" "$b"
		done
		echo test_done
	} >"$SCRATCH/inner.sh" &&
	OUTER=$SCRATCH TMPDIR=$SCRATCH sh "$SCRATCH/inner.sh"
}

test_expect_success 'a joined chain runs and passes' '
	inner "true &&
	echo ran >\"\$OUTER/ran-1\"" >tap &&
	grep -qx "ok 1 - inner" tap && test -f ran-1
'

test_expect_success 'a broken chain fails, and the body is not run as a test' '
	test_expect_code 1 inner "echo ran >\"\$OUTER/ran-2\"
	true" >tap &&
	grep -qx "not ok 1 - inner (broken && chain in the test body)" tap &&
	! test -e ran-2
'

test_expect_success 'a semicolon breaks the chain too' '
	test_expect_code 1 inner "false; true" >tap &&
	grep -q "^not ok 1 - inner (broken" tap
'

test_expect_success 'heredocs, groups and pipes may be chained' '
	inner "cat >f <<-\\EOF &&
	x
	EOF
	{ grep -q x f || exit 1; } &&
	echo a | grep -q a" >tap &&
	grep -qx "ok 1 - inner" tap
'

test_expect_success 'test_expect_code: the exact code passes, any other fails' '
	test_expect_code 3 sh -c "exit 3" &&
	! test_expect_code 1 true 2>err && grep -q "exited 0, expected 1" err &&
	! test_expect_code 1 sh -c "exit 2" 2>/dev/null
'

test_expect_success 'an expected exit 1 followed by a false check fails' '
	test_expect_code 1 inner "test_expect_code 1 sh -c \"exit 1\" &&
	test no = yes" >tap &&
	grep -qx "not ok 1 - inner" tap
'

test_done
