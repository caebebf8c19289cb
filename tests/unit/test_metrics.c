/* test_metrics.c: the metrics file's text: label values escaped, samples
 * grouped under their family's HELP and TYPE lines (each family once,
 * in a fixed order, whatever order the samples came in), the parse the
 * supervisor applies to a worker's lines (and their rendering by us), and the atomic write (mode
 * 0644, no temporary file left). */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "xmalloc.h"

static void
test_escape(void **state)
{
	char	*s;

	(void)state;
	s = metrics_escape("a\"b\\c\nd");
	assert_string_equal(s, "a\\\"b\\\\c\\nd");
	free(s);
	s = metrics_escape("");
	assert_string_equal(s, "");
	free(s);
}

/* Occurrences of needle (not empty) in hay. Not a strstr from each
 * match: ASan's strstr measures the whole rest of hay at every call, so
 * that loop was quadratic under ASan (80 s of test_render_many's 100,000
 * lines); strchr and strncmp read only what they compare. */
static size_t
count(const char *hay, const char *needle)
{
	size_t	n = 0, len = strlen(needle);

	while ((hay = strchr(hay, needle[0])) != NULL) {
		if (strncmp(hay, needle, len) == 0) {
			n++;
			hay += len;
		} else
			hay++;
	}
	return (n);
}

static void
test_samples_render(void **state)
{
	struct status_account	a, b;
	struct metrics_lines	l = { NULL, 0 };
	char			*text;

	(void)state;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	a.name = (char *)"work";
	a.state = STATUS_BACKOFF;
	a.failing = 1;
	a.messages = 3;
	a.bytes = 1234;
	a.failures_by_class[EXIT_AUTH] = 2;
	a.last_success = 1700000000;
	a.budget_limit = 1024;
	b.name = (char *)"we\"ird";
	b.messages = 1;
	metrics_samples(&l, &a);
	metrics_samples(&l, &b);
	text = metrics_render(&l, 1700000100);
	assert_non_null(strstr(text, "mailfetchd_messages_fetched_total{"
	    "account=\"work\"} 3\n"));
	assert_non_null(strstr(text, "mailfetchd_messages_fetched_total{"
	    "account=\"we\\\"ird\"} 1\n"));
	assert_non_null(strstr(text, "mailfetchd_fetched_bytes_total{"
	    "account=\"work\"} 1234\n"));
	assert_non_null(strstr(text, "mailfetchd_failures_total{account="
	    "\"work\",class=\"authentication\"} 2\n"));
	assert_non_null(strstr(text, "mailfetchd_failures_total{account="
	    "\"work\",class=\"network\"} 0\n"));
	assert_non_null(strstr(text, "mailfetchd_account_up{account="
	    "\"work\"} 0\n"));
	assert_non_null(strstr(text, "mailfetchd_account_state{account="
	    "\"work\",state=\"backoff\"} 1\n"));
	assert_non_null(strstr(text, "mailfetchd_account_state{account="
	    "\"work\",state=\"waiting\"} 0\n"));
	assert_non_null(strstr(text, "mailfetchd_last_success_timestamp_"
	    "seconds{account=\"work\"} 1700000000\n"));
	/* Absent values are absent, not 0. */
	assert_null(strstr(text, "mailfetchd_last_success_timestamp_"
	    "seconds{account=\"we"));
	assert_null(strstr(text, "mailfetchd_budget_limit_bytes{account="
	    "\"we"));
	/* Each family once, its samples together, after its header. */
	assert_int_equal(count(text, "# TYPE mailfetchd_messages_fetched_"
	    "total counter\n"), 1);
	assert_int_equal(count(text, "# HELP mailfetchd_messages_fetched_"
	    "total "), 1);
	assert_non_null(strstr(text, "# TYPE mailfetchd_messages_fetched_"
	    "total counter\nmailfetchd_messages_fetched_total{account="
	    "\"work\"} 3\nmailfetchd_messages_fetched_total{account=\"we"));
	assert_int_equal(count(text, "# TYPE "), count(text, "# HELP "));
	/* The time it was made, last. */
	assert_non_null(strstr(text, "\nmailfetchd_metrics_generated_"
	    "timestamp_seconds 1700000100\n"));
	assert_string_equal(text + strlen(text) - 12, " 1700000100\n");
	free(text);
	metrics_lines_clear(&l);
}

/* parse_render LINE: the line parsed and written again by us, or
 * "REFUSED"; the account label unescaped in *account when not NULL. */
static char *
parse_render(const char *line)
{
	struct metrics_lines	 l = { NULL, 0 };
	struct metrics_parsed	 mp;
	char			*out;

	if (metrics_sample_parse(line, &mp) != 0) {
		assert_null(mp.account);
		return (xstrdup("REFUSED"));
	}
	metrics_sample_render(&l, &mp, mp.account);
	out = xstrdup(l.v[0]);
	free(mp.account);
	metrics_lines_clear(&l);
	return (out);
}

#define assert_parses_as(line, want) do {				\
	char *got_ = parse_render(line);				\
	assert_string_equal(got_, want);				\
	free(got_);							\
} while (0)
#define assert_refused(line)	assert_parses_as(line, "REFUSED")

/* What the supervisor takes from an owner's socket (review r16 03): the
 * daemon's own lines round-trip; anything else is refused: the review's
 * duplicate label, unescaped quote and extra label, an unknown family or
 * label value, a value that is not a number. */
static void
test_sample_parse(void **state)
{
	struct metrics_parsed	mp;
	char			line[400];

	(void)state;
	assert_parses_as("mailfetchd_account_up{account=\"a\"} 1",
	    "mailfetchd_account_up{account=\"a\"} 1");
	assert_parses_as("mailfetchd_failures_total{account=\"a\",class="
	    "\"network\"} 12", "mailfetchd_failures_total{account=\"a\","
	    "class=\"network\"} 12");
	assert_parses_as("mailfetchd_account_state{account=\"a.b@c\",state="
	    "\"budget_exhausted\"} 0", "mailfetchd_account_state{account="
	    "\"a.b@c\",state=\"budget_exhausted\"} 0");
	assert_int_equal(metrics_sample_parse("mailfetchd_account_up{account="
	    "\"we\\\"ird\"} 18446744073709551615", &mp), 0);
	assert_string_equal(mp.account, "we\"ird");
	assert_true(mp.value == UINT64_MAX);
	free(mp.account);
	assert_refused("mailfetchd_account_up{account=\"A\",account=\"x\"} 1");
	assert_refused("mailfetchd_account_up{account=\"A\",x=\"a\"b\"} 1");
	assert_refused("mailfetchd_account_up{account=\"A\",x=\"1\"} 1");
	assert_refused("mailfetchd_account_state{account=\"A\"} 1");
	assert_refused("mailfetchd_account_state{account=\"A\",state=\"evil\"}"
	    " 1");
	assert_refused("mailfetchd_failures_total{account=\"A\",class=\"ok\"}"
	    " 1");
	assert_refused("mailfetchd_account_up{account=\"A\"} 1\nfake 2");
	assert_refused("mailfetchd_account_up{account=\"A\"} ");
	assert_refused("mailfetchd_account_up{account=\"A\"} 1 2");
	assert_refused("mailfetchd_account_up{account=\"A\"} -1");
	assert_refused("mailfetchd_account_up{account=\"A\"} 1e3");
	assert_refused("mailfetchd_account_up{account=\"A\"} "
	    "18446744073709551616");
	assert_refused("mailfetchd_account_up{account=\"A\\x\"} 1");
	assert_refused("mailfetchd_account_up{account=\"A\x1b]0;t\"} 1");
	assert_refused("mailfetchd_account_up {account=\"A\"} 1");
	assert_refused("mailfetchd_account_up{account=\"A\"}  1");
	assert_refused("node_load1{account=\"a\"} 1");
	assert_refused("mailfetchd_metrics_generated_timestamp_seconds{"
	    "account=\"a\"} 1");
	/* No line longer than the daemon writes. */
	memset(line, 'x', sizeof line);
	memcpy(line, "mailfetchd_account_up{account=\"", 31);
	strcpy(line + sizeof line - 6, "\"} 1");
	assert_refused(line);
}

/* Rendering is linear: a hundred thousand lines at once stay quick (the
 * bound itself is in bench/; this only checks every line is there). */
static void
test_render_many(void **state)
{
	struct metrics_lines	 l = { NULL, 0 };
	char			*text, buf[128];
	size_t			 i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		snprintf(buf, sizeof buf, "mailfetchd_connections{account="
		    "\"a%zu\"} %zu", i, i);
		metrics_lines_add(&l, buf);
	}
	text = metrics_render(&l, 1);
	assert_int_equal(count(text, "\nmailfetchd_connections{"), 100000);
	free(text);
	metrics_lines_clear(&l);
}

static void
test_write(void **state)
{
	char		 dir[] = "/tmp/test_metrics.XXXXXX", *path, *cause;
	char		 buf[64];
	struct stat	 sb;
	FILE		*f;
	size_t		 n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	xasprintf(&path, "%s/m.prom", dir);
	umask(077);
	assert_int_equal(metrics_write(path, "one 1\n", &cause), 0);
	assert_int_equal(metrics_write(path, "two 2\n", &cause), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, "two 2\n");
	assert_int_equal(unlink(path), 0);
	/* Nothing else was left in the directory. */
	assert_int_equal(rmdir(dir), 0);
	/* A directory that is not there: an error naming the path. */
	assert_int_equal(metrics_write(path, "x\n", &cause), -1);
	assert_non_null(strstr(cause, path));
	free(cause);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_samples_render),
		cmocka_unit_test(test_sample_parse),
		cmocka_unit_test(test_render_many),
		cmocka_unit_test(test_write),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
