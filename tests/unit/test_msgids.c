/* test_msgids.c: the delivered-message log: keys per folder, torn lines,
 * the content digest that tells apart two messages with one Message-ID and
 * size, lines of the older form without a digest, Message-ID extraction
 * from header blocks. */
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

/* The digest of one message given as one string. */
static void
digest_of(const char *text, unsigned char out[MSGIDS_DIGEST_LEN])
{
	struct msgids_digest	*d;

	d = msgids_digest_new();
	msgids_digest_update(d, text, strlen(text));
	msgids_digest_final(d, out);
	msgids_digest_free(d);
}

/* The log's path for account "work". */
static char *
log_path(void)
{
	char	*path;

	xasprintf(&path, "%s/work.ids", dir);
	return (path);
}

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
	unsigned char		 da[MSGIDS_DIGEST_LEN];
	FILE			*f;

	(void)state;
	m = msgids_open(dir, "work", &cause);
	assert_non_null(m);
	digest_of("a", da);
	msgids_add(m, "INBOX", "<a@x>", 100, da);
	msgids_add(m, "INBOX", "<b@x>", 200, da);
	msgids_add(m, "Archive", "<c@x>", 300, da);
	msgids_add(m, "INBOX", NULL, 5, da);	/* no Message-ID: ignored */
	assert_int_equal(msgids_flush(m, &cause), 0);
	msgids_close(m);

	/* A torn last line from a crash mid-append. */
	path = log_path();
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("0123456789abcdef 0123456789abcdef 0123", f);
	fclose(f);
	free(path);

	m = msgids_open(dir, "work", &cause);
	assert_non_null(m);
	assert_int_equal(msgids_load(m, "INBOX", &set, &cause), 0);
	assert_int_equal(set.n, 2);
	assert_true(msgids_set_has(&set, "<a@x>", 100));
	assert_true(msgids_set_has_digest(&set, "<a@x>", 100, da));
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

/* A loaded set grows with what a session logs (Gmail's X-GM-MSGIDs,
 * imap.c): after msgids_set_sort every key is found, old and new. */
static void
test_set_add(void **state)
{
	struct msgids_set	 set = { NULL, 0 };
	char			 key[24];
	int			 i;

	(void)state;
	assert_false(msgids_set_has(&set, "1001", 0));
	for (i = 2000; i > 1000; i -= 7) {
		snprintf(key, sizeof key, "%d", i);
		msgids_set_add(&set, key, 0);
	}
	msgids_set_add(&set, NULL, 0);		/* ignored */
	msgids_set_add(&set, "", 0);
	msgids_set_sort(&set);
	assert_int_equal(set.n, 143);
	for (i = 2000; i > 1000; i -= 7) {
		snprintf(key, sizeof key, "%d", i);
		assert_true(msgids_set_has(&set, key, 0));
	}
	assert_false(msgids_set_has(&set, "1999", 0));
	assert_false(msgids_set_has(&set, "2000", 1));	/* size */
	msgids_set_clear(&set);
}

/* Streaming in any split gives one digest; other content another; the
 * context starts afresh after each message. */
static void
test_digest(void **state)
{
	static const char	 text[] = "Message-ID: <a@x>\n\nhello\n";
	struct msgids_digest	*d;
	unsigned char		 whole[MSGIDS_DIGEST_LEN], parts[MSGIDS_DIGEST_LEN];
	unsigned char		 other[MSGIDS_DIGEST_LEN];
	size_t			 i;

	(void)state;
	digest_of(text, whole);
	d = msgids_digest_new();
	for (i = 0; i < 2; i++) {
		msgids_digest_update(d, text, 5);
		msgids_digest_update(d, text + 5, 0);
		msgids_digest_update(d, text + 5, strlen(text) - 5);
		msgids_digest_final(d, parts);
		assert_memory_equal(whole, parts, MSGIDS_DIGEST_LEN);
	}
	msgids_digest_update(d, "Message-ID: <a@x>\n\nHello\n", strlen(text));
	msgids_digest_final(d, other);
	assert_memory_not_equal(whole, other, MSGIDS_DIGEST_LEN);
	msgids_digest_free(d);
}

/* Two different messages with the same Message-ID and size: each matches
 * only by its own content; both logged, both match. */
static void
test_same_id_other_content(void **state)
{
	struct msgids		*m;
	struct msgids_set	 set;
	char			*cause = NULL;
	unsigned char		 d1[MSGIDS_DIGEST_LEN], d2[MSGIDS_DIGEST_LEN];
	unsigned char		 zero[MSGIDS_DIGEST_LEN];

	(void)state;
	digest_of("first message", d1);
	digest_of("other message", d2);
	memset(zero, 0, sizeof zero);
	m = msgids_open(dir, "work", &cause);
	assert_non_null(m);
	msgids_add(m, "INBOX", "<same@x>", 13, d1);
	assert_int_equal(msgids_flush(m, &cause), 0);
	assert_int_equal(msgids_load(m, "INBOX", &set, &cause), 0);
	assert_true(msgids_set_has(&set, "<same@x>", 13));	/* candidate */
	assert_true(msgids_set_has_digest(&set, "<same@x>", 13, d1));
	assert_false(msgids_set_has_digest(&set, "<same@x>", 13, d2));
	assert_false(msgids_set_has_digest(&set, "<same@x>", 14, d1));
	assert_false(msgids_set_has_digest(&set, "<same@x>", 13, zero));
	assert_false(msgids_set_has_digest(&set, NULL, 13, d1));
	msgids_set_clear(&set);

	msgids_add(m, "INBOX", "<same@x>", 13, d2);
	msgids_add(m, "INBOX", "<zz@x>", 1, d1);
	msgids_add(m, "INBOX", "<aa@x>", 1, d2);
	assert_int_equal(msgids_flush(m, &cause), 0);
	assert_int_equal(msgids_load(m, "INBOX", &set, &cause), 0);
	assert_int_equal(set.n, 4);
	assert_true(msgids_set_has_digest(&set, "<same@x>", 13, d1));
	assert_true(msgids_set_has_digest(&set, "<same@x>", 13, d2));
	assert_true(msgids_set_has_digest(&set, "<zz@x>", 1, d1));
	assert_false(msgids_set_has_digest(&set, "<zz@x>", 1, d2));
	msgids_set_clear(&set);
	msgids_close(m);
}

/* A log written before digests existed: its lines still name candidates
 * but match no content (delivered again: a duplicate, never a loss). A
 * line logged without a digest (NULL) behaves the same. */
static void
test_old_lines(void **state)
{
	struct msgids		*m;
	struct msgids_set	 set;
	char			*cause = NULL, *path, line[128];
	unsigned char		 d[MSGIDS_DIGEST_LEN];
	FILE			*f;

	(void)state;
	digest_of("old message", d);
	m = msgids_open(dir, "work", &cause);
	assert_non_null(m);
	msgids_add(m, "INBOX", "<old@x>", 11, d);
	assert_int_equal(msgids_flush(m, &cause), 0);
	msgids_close(m);

	/* The same line as the older form wrote it: key, no digest. */
	path = log_path();
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	assert_int_equal(strlen(line), 34 + 2 * MSGIDS_DIGEST_LEN + 1);
	strcpy(line + 33, "\n");
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(line, f);
	fclose(f);
	free(path);

	m = msgids_open(dir, "work", &cause);
	assert_non_null(m);
	msgids_add(m, "INBOX", "<nodigest@x>", 7, NULL);
	assert_int_equal(msgids_flush(m, &cause), 0);
	assert_int_equal(msgids_load(m, "INBOX", &set, &cause), 0);
	assert_int_equal(set.n, 2);
	assert_true(msgids_set_has(&set, "<old@x>", 11));
	assert_false(msgids_set_has_digest(&set, "<old@x>", 11, d));
	assert_true(msgids_set_has(&set, "<nodigest@x>", 7));
	assert_false(msgids_set_has_digest(&set, "<nodigest@x>", 7, d));
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
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_set_add),
		cmocka_unit_test_setup_teardown(test_same_id_other_content,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_lines, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_account_name_stays_inside,
		    setup, teardown),
		cmocka_unit_test(test_parse_header),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
