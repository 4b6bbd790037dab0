#!/bin/sh
# tests/t/0005-tree.sh: the repository's top level holds what sailsync is
# made of and nothing else, so a test's output committed by mistake (err,
# iv.json, list.json and list.txt were, from test 0900's work) fails here.
# Outside a git checkout (an unpacked tarball) there is nothing to check.
. "$(dirname "$0")/../lib.sh"

test_expect_success 'the top level holds only the project' '
	{ git -C "$SAILSYNC_TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
		exit 0; } &&
	git -C "$SAILSYNC_TOP" ls-files >files &&
	test -s files &&
	cut -d/ -f1 files | sort -u >top &&
	printf "%s\n" .ci .gitignore Makefile README.md common deploy exporter \
		fetcher mapper tests writer | sort >want &&
	comm -23 top want >extra &&
	cat extra &&
	! test -s extra
'

test_done
