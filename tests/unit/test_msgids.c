/* test_msgids.c: the delivered-message log: keys per folder, torn lines,
 * Message-ID extraction from header blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "msgids.h"
#include "xmalloc.h"

static char	dir[] = "/tmp/mfd-test-msgids.XXXXXX";

static int
setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/mfd-test-msgids.XXXXXX");
	return (mkdtemp(dir) == NULL ? -1 : 0);
}

static int
teardown(void **state)
{
	char	*cmd;

	(void)state;
	xasprintf(&cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return (0);
}

static void
test_log_and_load(void **state)
{
	struct msgids		*m;
	struct msgids_set	 set;
	char			*cause = NULL, *path;
	FILE			*f;

	(void)state;
	m = msgids_open(dir, "work", &cause);
	assert_non_null(m);
	msgids_add(m, "INBOX", "<a@x>", 100);
	msgids_add(m, "INBOX", "<b@x>", 200);
	msgids_add(m, "Archive", "<c@x>", 300);
	msgids_add(m, "INBOX", NULL, 5);		/* no Message-ID: ignored */
	assert_int_equal(msgids_flush(m, &cause), 0);
	msgids_close(m);

	/* A torn last line from a crash mid-append. */
	xasprintf(&path, "%s/work.ids", dir);
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("0123456789abcdef 0123", f);
	fclose(f);
	free(path);

	m = msgids_open(dir, "work", &cause);
	assert_non_null(m);
	assert_int_equal(msgids_load(m, "INBOX", &set, &cause), 0);
	assert_int_equal(set.n, 2);
	assert_true(msgids_set_has(&set, "<a@x>", 100));
	assert_true(msgids_set_has(&set, "<b@x>", 200));
	assert_false(msgids_set_has(&set, "<a@x>", 101));	/* size */
	assert_false(msgids_set_has(&set, "<c@x>", 300));	/* folder */
	assert_false(msgids_set_has(&set, NULL, 100));
	msgids_set_clear(&set);
	assert_int_equal(msgids_load(m, "Archive", &set, &cause), 0);
	assert_int_equal(set.n, 1);
	assert_true(msgids_set_has(&set, "<c@x>", 300));
	msgids_set_clear(&set);
	msgids_close(m);
}

static void
test_account_name_stays_inside(void **state)
{
	struct msgids	*m;
	char		*cause = NULL, *path;

	(void)state;
	m = msgids_open(dir, "../evil/x", &cause);
	assert_non_null(m);
	msgids_close(m);
	xasprintf(&path, "%s/%%2E.%%2Fevil%%2Fx.ids", dir);
	assert_int_equal(access(path, F_OK), 0);
	free(path);
}

static void
test_parse_header(void **state)
{
	static const struct {
		const char	*in;
		const char	*want;
	} cases[] = {
		{ "Message-ID: <a@b>\r\n\r\n", "<a@b>" },
		{ "message-id:<a@b>\n", "<a@b>" },
		{ "MESSAGE-ID:   <a@b>   \r\n", "<a@b>" },
		{ "Message-ID:\r\n <folded@b>\r\n\r\n", "<folded@b>" },
		{ "X-Message-ID: <no>\r\nMessage-ID: <yes>\r\n", "<yes>" },
		{ "Subject: hi\r\n\r\n", NULL },
		{ "Message-ID: \r\n\r\n", NULL },
		{ "", NULL },
	};
	size_t	 i;
	char	*got;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		got = msgids_parse_header(cases[i].in, strlen(cases[i].in));
		if (cases[i].want == NULL)
			assert_null(got);
		else {
			assert_non_null(got);
			assert_string_equal(got, cases[i].want);
		}
		free(got);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_and_load, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_account_name_stays_inside,
		    setup, teardown),
		cmocka_unit_test(test_parse_header),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
