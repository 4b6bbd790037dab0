/* tests/unit/t_fetcher_csv.c: the fetcher's CSV and JSON-lines spool readers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "../../fetcher/fetcher.h"
#include "log.h"
#include "tap.h"

static char dir[] = "/tmp/t_fetcher_csv.XXXXXX";

static const char *
write_tmp(const char *name, const char *data, size_t len)
{
	static char	 path[256];
	FILE		*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "wb")) == NULL || fwrite(data, 1, len, fp) != len)
		abort();
	fclose(fp);
	return path;
}

/*
 * Reads the whole source into out as text: "cols|...\n" then one line per
 * row "L<line>:v1|v2" (newlines shown as \n) or "S<line>:reason".
 */
static int
dump(const char *path, int format, size_t chunk, struct buf *out)
{
	struct fetcher_src *s;
	struct fetcher_row row;
	char		 err[256];
	int		 rc;

	buf_reset(out);
	if ((s = fetcher_src_open(path, format, chunk, err, sizeof(err))) == NULL) {
		buf_printf(out, "ERR %s", err);
		return -1;
	}
	buf_addstr(out, "cols");
	for (uint32_t i = 0; i < fetcher_src_ncols(s); i++)
		buf_printf(out, "|%s", fetcher_src_cols(s)[i].p);
	buf_addstr(out, "\n");
	while ((rc = fetcher_src_next(s, &row)) != FETCHER_END) {
		if (rc == FETCHER_ERR) {
			buf_printf(out, "ERR %s\n", fetcher_src_error(s));
			break;
		}
		if (rc == FETCHER_SKIP) {
			buf_printf(out, "S%llu:%s\n", (unsigned long long)row.line, row.skip);
			continue;
		}
		buf_printf(out, "L%llu:", (unsigned long long)row.line);
		for (uint32_t i = 0; i < row.nvals; i++) {
			if (i)
				buf_addstr(out, "|");
			if (strlen(row.vals[i].p) != row.vals[i].len)
				buf_addstr(out, "<len mismatch>");
			for (const char *p = row.vals[i].p; *p; p++)
				buf_addstr(out, *p == '\n' ? "\\n" : *p == '\r' ? "\\r" :
				    (char[2]){ *p, 0 });
		}
		buf_addstr(out, "\n");
	}
	fetcher_src_close(&s);
	return 0;
}

static const char quirky[] =
    "\xef\xbb\xbf" "Profile Id,Email,Name,Email,City\r\n"
    "a1,ann@example.com,\"Ann, Jr.\",dup1,Z\xc3\xbcrich\r\n"
    "b2,bob@example.com,\"Bob \"\"B\"\" Smith\",dup2,\"Line1\r\nLine2\"\r\n"
    "c3,carl@example.com,Carl\r\n"
    "d4, dee@example.com ,,,\r\n"
    "e5,eve@example.com,\"\",x,\xe6\x9d\xb1\xe4\xba\xac\r\n"
    "\r\n"
    "\r\n";

static const char quirky_want[] =
    "cols|Profile Id|Email|Name|City\n"
    "L2:a1|ann@example.com|Ann, Jr.|Z\xc3\xbcrich\n"
    "L3:b2|bob@example.com|Bob \"B\" Smith|Line1\\r\\nLine2\n"
    "S4:ragged_row\n"
    "L5:d4| dee@example.com ||\n"
    "L6:e5|eve@example.com||\xe6\x9d\xb1\xe4\xba\xac\n";

int
main(void)
{
	struct buf	 out, ref;
	const char	*p;
	char		*big;
	size_t		 chunks[] = { 1, 2, 3, 5, 7, 64, 4096, 0 };

	log_init("t_fetcher_csv", LOG_ERR);
	if (mkdtemp(dir) == NULL)
		abort();
	buf_init(&out, 1 << 24);
	buf_init(&ref, 1 << 24);

	p = write_tmp("quirky.csv", quirky, sizeof(quirky) - 1);
	dump(p, FMT_CSV, 0, &ref);
	is_str(ref.data, quirky_want, "CSV with BOM, CRLF, quotes, embedded newline, "
	    "duplicate header, ragged row, UTF-8, blank trailing lines");
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		dump(p, FMT_CSV, chunks[i], &out);
		is_str(out.data, ref.data, "chunk size %zu gives the same rows", chunks[i]);
	}

	/* LF endings, no final newline, no BOM. */
	p = write_tmp("lf.csv", "a,b\n1,2\n\n3,\"4\n5\"", 16);
	dump(p, FMT_CSV, 2, &out);
	is_str(out.data, "cols|a|b\nL2:1|2\nL3:3|4\\n5\n", "LF, blank line, last row "
	    "without newline");

	p = write_tmp("empty.csv", "", 0);
	dump(p, FMT_CSV, 0, &out);
	is_str(out.data, "cols\n", "empty file: no columns, no rows");

	p = write_tmp("hdr.csv", "\xef\xbb\xbfonly\n", 8);
	dump(p, FMT_CSV, 1, &out);
	is_str(out.data, "cols|only\n", "header only, BOM stripped at chunk size 1");

	/*
	 * A quote left open at the end of the file fails the source: the rows
	 * after it are not swallowed into one field.  The rows before it stand.
	 */
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		p = write_tmp("openquote.csv", "a,b\n1,2\n3,\"x\n4,5\n6,7\n", 21);
		dump(p, FMT_CSV, chunks[i], &out);
		is_str(out.data, "cols|a|b\nL2:1|2\nERR record 3: a quoted field is "
		    "still open at the end of the file (unterminated quote)\n",
		    "quote open at the end, chunk %zu: the part fails, rows before stand",
		    chunks[i]);
	}
	p = write_tmp("closed.csv", "a,b\n1,\"x\"\"\n\"\n2,\"y\"", 18);
	dump(p, FMT_CSV, 0, &out);
	is_str(out.data, "cols|a|b\nL2:1|x\"\\n\nL3:2|y\n",
	    "a quote closed at the very end of the file is not an open one");
	p = write_tmp("openhdr.csv", "a,\"b\n1,2\n", 10);
	dump(p, FMT_CSV, 0, &out);
	ok(strstr(out.data, "ERR ") == out.data && strstr(out.data, "unterminated quote"),
	    "quote open in the header: the source does not open");

	/* An unterminated quote fails the source instead of buffering forever. */
	{
		size_t	 n = FETCHER_PARSE_MAX + (1u << 20);

		big = malloc(n + 16);
		memcpy(big, "a,b\n1,\"", 7);
		memset(big + 7, 'x', n);
		p = write_tmp("unterminated.csv", big, n + 7);
		dump(p, FMT_CSV, 0, &out);
		ok(strstr(out.data, "ERR record 2: a field runs past") != NULL,
		    "unterminated quote: error names the record");
		/* A field over the message cap skips the row, and reading goes on. */
		memcpy(big, "a,b\n1,", 6);
		memset(big + 6, 'y', FETCHER_FIELD_MAX + 10);
		memcpy(big + 6 + FETCHER_FIELD_MAX + 10, "\n2,3\n", 5);
		p = write_tmp("bigfield.csv", big, 6 + FETCHER_FIELD_MAX + 15);
		dump(p, FMT_CSV, 0, &out);
		is_str(out.data, "cols|a|b\nS2:row_too_large\nL3:2|3\n",
		    "oversized field: row skipped, next row read");

		/* JSON lines: a line over the cap is skipped without being held. */
		memcpy(big, "{\"a\":1}\r\n\n  \n{\"b\":\"", 19);
		memset(big + 19, 'z', FETCHER_LINE_MAX + 5);
		memcpy(big + 19 + FETCHER_LINE_MAX + 5, "\"}\n{\"c\":3}", 10);
		p = write_tmp("x.jsonl", big, 19 + FETCHER_LINE_MAX + 15);
		for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
			if (chunks[i] == 1 || chunks[i] == 2)
				continue;	/* a megabyte a byte at a time: slow */
			dump(p, FMT_JSONL, chunks[i], &out);
			is_str(out.data, "cols|json\nL1:{\"a\":1}\nS4:line_too_long\n"
			    "L5:{\"c\":3}\n", "JSON lines, chunk %zu: CRLF, blank lines, "
			    "long line skipped, last line without newline", chunks[i]);
		}
		free(big);
	}
	p = write_tmp("bom.jsonl", "\xef\xbb\xbf{\"e\":\"\xc3\xa9\"}\n\n", 15);
	dump(p, FMT_JSONL, 1, &out);
	is_str(out.data, "cols|json\nL1:{\"e\":\"\xc3\xa9\"}\n", "JSON lines: BOM "
	    "stripped, UTF-8 kept, chunk size 1");

	dump("/nonexistent/x.csv", FMT_CSV, 0, &out);
	ok(strstr(out.data, "ERR /nonexistent/x.csv:") == out.data, "missing file: error");

	buf_clear(&out);
	buf_clear(&ref);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return done_testing();
}
