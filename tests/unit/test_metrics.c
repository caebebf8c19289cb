/* test_metrics.c: the metrics file's text: label values escaped, samples
 * grouped under their family's HELP and TYPE lines (each family once,
 * in a fixed order, whatever order the samples came in), the check the
 * supervisor applies to a worker's lines, and the atomic write (mode
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

/* Occurrences of needle in hay. */
static size_t
count(const char *hay, const char *needle)
{
	size_t	n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
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

static void
test_sample_valid(void **state)
{
	(void)state;
	assert_true(metrics_sample_valid("mailfetchd_account_up{account="
	    "\"a\"} 1", "a"));
	assert_true(metrics_sample_valid("mailfetchd_failures_total{account="
	    "\"a\",class=\"network\"} 12", "a"));
	/* Another account, a prefix of it, an unknown family, a value that
	 * is not a number, a line without value. */
	assert_false(metrics_sample_valid("mailfetchd_account_up{account="
	    "\"b\"} 1", "a"));
	assert_false(metrics_sample_valid("mailfetchd_account_up{account="
	    "\"ab\"} 1", "a"));
	assert_false(metrics_sample_valid("node_load1{account=\"a\"} 1",
	    "a"));
	assert_false(metrics_sample_valid("mailfetchd_account_up{account="
	    "\"a\"} 1\nfake 2", "a"));
	assert_false(metrics_sample_valid("mailfetchd_account_up{account="
	    "\"a\"} ", "a"));
	assert_false(metrics_sample_valid("mailfetchd_account_up{account="
	    "\"a\"} 1 2", "a"));
	assert_false(metrics_sample_valid("mailfetchd_metrics_generated_"
	    "timestamp_seconds{account=\"a\"} 1", "a"));
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
		cmocka_unit_test(test_sample_valid),
		cmocka_unit_test(test_write),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
