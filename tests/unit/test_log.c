/* test_log.c: the log module: levels, context prefix, secret redaction,
 * sanitising of server text. stderr is captured into a temp file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static char	capture_path[] = "/tmp/mfd-test-log.XXXXXX";
static int	saved_stderr = -1;

/* Redirects stderr into a fresh temp file. */
static int
capture_setup(void **state)
{
	int	fd;

	(void)state;
	strcpy(capture_path, "/tmp/mfd-test-log.XXXXXX");
	if ((fd = mkstemp(capture_path)) == -1)
		return (-1);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	unsetenv("JOURNAL_STREAM");
	log_init(LOG_LVL_INFO);
	return (0);
}

static int
capture_teardown(void **state)
{
	(void)state;
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	unlink(capture_path);
	log_clear_secrets();
	return (0);
}

/* Returns what was written to stderr so far (caller frees). */
static char *
captured(void)
{
	FILE	*f;
	char	*buf;
	long	 n;

	fflush(stderr);
	f = fopen(capture_path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, n + 1);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	return (buf);
}

static void
test_levels_filter(void **state)
{
	char	*out;

	(void)state;
	log_set_level(LOG_LVL_WARNING);
	log_info("not shown");
	log_debug("not shown either");
	log_warnx("shown %d", 42);
	out = captured();
	assert_null(strstr(out, "not shown"));
	assert_non_null(strstr(out, " warning: shown 42\n"));
	free(out);
}

static void
test_context_prefix(void **state)
{
	struct log_ctx	 ctx = { "work", "INBOX", 17 };
	char		*out;

	(void)state;
	log_msg(LOG_LVL_INFO, &ctx, "delivered %s", "x");
	out = captured();
	assert_non_null(strstr(out,
	    " info: account=work folder=INBOX uid=17: delivered x\n"));
	free(out);
}

static void
test_warn_appends_errno(void **state)
{
	char	*out;

	(void)state;
	errno = ENOENT;
	log_warn("open %s", "/nowhere");
	out = captured();
	assert_non_null(strstr(out, "open /nowhere: No such file or directory"));
	free(out);
}

static void
test_secret_redacted(void **state)
{
	char	*out;

	(void)state;
	log_add_secret("hunter2");
	log_add_secret("");		/* ignored: would match everything */
	log_warnx("server said: LOGIN user hunter2 hunter2x");
	out = captured();
	assert_null(strstr(out, "hunter2"));
	assert_non_null(strstr(out, "LOGIN user ******** ********x"));
	free(out);
	log_clear_secrets();
	log_warnx("after clear hunter2");
	out = captured();
	assert_non_null(strstr(out, "after clear hunter2"));
	free(out);
}

static void
test_sanitize(void **state)
{
	char	*s;

	(void)state;
	s = log_sanitize("a\r\n\x1b[31m\\\xff", 10, 100);
	assert_string_equal(s, "a\\015\\012\\033[31m\\\\\\377");
	free(s);
	s = log_sanitize("abcdef", 6, 3);
	assert_string_equal(s, "abc...");
	free(s);
	s = log_sanitize("", 0, 3);
	assert_string_equal(s, "");
	free(s);
}

/* A decoded folder name keeps its UTF-8 text; C0, DEL, the C1 controls
 * (U+009B is CSI, U+009D OSC) and ill-formed bytes are escaped, so that a
 * server's name can drive no terminal (review r20, 10). */
static void
test_escape_controls(void **state)
{
	static const struct {
		const char	*in;
		int		 bs;
		const char	*want;
	} cases[] = {
		{ "Входящие/Ärger", 0, "Входящие/Ärger" },
		{ "a\x1b[2Jb\n", 0, "a\\033[2Jb\\012" },
		{ "x\xc2\x9b" "2J\xc2\x9d" "0;t\xc2\x9c", 0,
		  "x\\302\\2332J\\302\\2350;t\\302\\234" },
		{ "\xc2\xa0nbsp\x7f", 0, "\xc2\xa0nbsp\\177" },
		{ "lone \x9b and cut \xd0", 0, "lone \\233 and cut \\320" },
		{ "overlong \xc0\xaf \xe0\x80\xaf", 0,
		  "overlong \\300\\257 \\340\\200\\257" },
		{ "surrogate \xed\xa0\x80", 0, "surrogate \\355\\240\\200" },
		{ "\xf0\x9f\x93\xa7 mail", 0, "\xf0\x9f\x93\xa7 mail" },
		{ "\\Junk", 0, "\\Junk" },
		{ "\\Junk", 1, "\\\\Junk" },
	};
	size_t	 i;
	char	*out;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		out = log_escape_controls(cases[i].in, cases[i].bs);
		assert_string_equal(out, cases[i].want);
		free(out);
	}
}

static void
test_level_names(void **state)
{
	(void)state;
	assert_int_equal(log_level_from_name("debug"), LOG_LVL_DEBUG);
	assert_int_equal(log_level_from_name("warning"), LOG_LVL_WARNING);
	assert_int_equal(log_level_from_name("warn"), LOG_LVL_WARNING);
	assert_int_equal(log_level_from_name("loud"), -1);
	assert_string_equal(log_level_name(LOG_LVL_NOTICE), "notice");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_levels_filter,
		    capture_setup, capture_teardown),
		cmocka_unit_test_setup_teardown(test_context_prefix,
		    capture_setup, capture_teardown),
		cmocka_unit_test_setup_teardown(test_warn_appends_errno,
		    capture_setup, capture_teardown),
		cmocka_unit_test_setup_teardown(test_secret_redacted,
		    capture_setup, capture_teardown),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_escape_controls),
		cmocka_unit_test(test_level_names),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
