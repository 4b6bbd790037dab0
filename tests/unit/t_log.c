/* tests/unit/t_log.c: log lines: timestamp and level on every line, and the JSON form (common/log.c). */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "tap.h"

static char	 path[] = "/tmp/t_log.XXXXXX";
static int	 saved;

/* Runs fn with stderr going to a file; returns the file's text (caller frees). */
static char *
capture(void (*fn)(void))
{
	FILE	*f;
	char	*buf = calloc(1, 65536);
	size_t	 n;
	int	 fd;

	fflush(stderr);
	fd = mkstemp(path);
	saved = dup(2);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fdopen(fd, "r");
	rewind(f);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	strcpy(path, "/tmp/t_log.XXXXXX");
	return buf;
}

static void
lines(void)
{
	log_info("run started run=7 connection=demo");
	log_warnx("notify: mail not sent connection=demo error=%s", "\"connection refused\"");
	log_debug("not shown");
	errno = ENOENT;
	log_warn("cannot open path=/x/y");
	log_info("plain words only");
	log_info("a=b looks like a field but c is not");
}

static void
t_text(void)
{
	regex_t	 re;
	char	*out, *save = NULL, *l;
	int	 n = 0;

	log_init("t_log", LOG_INFO);
	log_format_set(LOG_TEXT);
	out = capture(lines);
	regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
	    "(debug|info|warn|error) t_log: .", REG_EXTENDED | REG_NOSUB);
	for (l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		ok(regexec(&re, l, 0, NULL, 0) == 0, "text line %d has time, level, stage: %s",
		    n, l);
		n++;
	}
	is_int(n, 5, "five lines (debug is below the level)");
	regfree(&re);
	free(out);
}

static void
t_json(void)
{
	json_t	*o[8];
	char	*out, *save = NULL, *l;
	int	 n = 0;

	log_init("t_log", LOG_INFO);
	log_format_set(LOG_JSON);
	out = capture(lines);
	for (l = strtok_r(out, "\n", &save); l && n < 8; l = strtok_r(NULL, "\n", &save)) {
		o[n] = json_loads(l, 0, NULL);
		ok(json_is_object(o[n]), "json line %d parses: %s", n, l);
		if (o[n] == NULL)
			o[n] = json_object();
		n++;
	}
	if (n != 5) {
		ok(0, "five JSON lines, got %d", n);
		return;
	}
	is_str(json_string_value(json_object_get(o[0], "level")), "info", "level");
	is_str(json_string_value(json_object_get(o[0], "stage")), "t_log", "stage");
	ok(json_is_string(json_object_get(o[0], "ts")), "ts");
	is_str(json_string_value(json_object_get(o[0], "msg")), "run started", "msg");
	is_str(json_string_value(json_object_get(o[0], "run")), "7", "field run");
	is_str(json_string_value(json_object_get(o[0], "connection")), "demo", "field");
	is_str(json_string_value(json_object_get(o[1], "level")), "warn", "warn level");
	is_str(json_string_value(json_object_get(o[1], "error")), "connection refused",
	    "a quoted value is unquoted");
	is_str(json_string_value(json_object_get(o[2], "msg")), "cannot open", "log_warn msg");
	is_str(json_string_value(json_object_get(o[2], "path")), "/x/y", "log_warn field");
	ok(strstr(json_string_value(json_object_get(o[2], "error")), "No such file") != NULL,
	    "log_warn's errno text is a field");
	is_str(json_string_value(json_object_get(o[3], "msg")), "plain words only",
	    "no fields: all text is msg");
	is_str(json_string_value(json_object_get(o[4], "msg")),
	    "a=b looks like a field but c is not", "text after a field that is not a "
	    "field: all text is msg");
	for (int i = 0; i < n; i++)
		json_decref(o[i]);
	free(out);
	log_format_set(LOG_TEXT);
}

int
main(void)
{
	enum log_format f;

	t_text();
	t_json();
	ok(log_format_parse("json", &f) == 0 && f == LOG_JSON, "parse json");
	ok(log_format_parse("text", &f) == 0 && f == LOG_TEXT, "parse text");
	ok(log_format_parse("xml", &f) == -1, "xml is refused");
	return done_testing();
}
