/* test_hook.c: what a session hands to hook_owe after each batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "hook.h"

#define TEST_HOOK_FILES	3

/* ac: account "a" with command cmd (NULL: none); files: TEST_HOOK_FILES
 * delivered paths of INBOX. */
static void
fill(struct account_conf *ac, char *cmd, struct hook_files *files)
{
	char	*path;
	int	 i;

	memset(ac, 0, sizeof *ac);
	ac->name = (char *)"a";
	ac->new_mail_command = cmd;
	memset(files, 0, sizeof *files);
	for (i = 0; i < TEST_HOOK_FILES; i++) {
		if (asprintf(&path, "/home/u/Maildir/new/%d.M1P1Q%d.host", i,
		    i) == -1)
			fail();
		hook_files_add(files, "INBOX", path);
	}
}

/* Without new_mail_command nothing reads the paths: a session must not
 * keep one per delivered message to its end (issue 20: the heap of a
 * 2,000-message fetch grew by 184 KB of them). The count stays. */
static void
test_owe_without_command(void **state)
{
	struct account_conf	ac;
	struct hook_files	files;

	(void)state;
	fill(&ac, NULL, &files);
	hook_owe(NULL, &ac, &files);
	assert_int_equal(files.npaths, 0);
	assert_null(files.paths);
	assert_int_equal(files.count, TEST_HOOK_FILES);
	assert_int_equal(files.nfolders, 1);
	hook_files_clear(&files);
}

/* With a command but nowhere to keep them, they stay with the session
 * for hook_new_mail at its end, every path. */
static void
test_owe_kept_for_command(void **state)
{
	struct account_conf	ac;
	struct hook_files	files;

	(void)state;
	fill(&ac, (char *)"true", &files);
	hook_owe(NULL, &ac, &files);
	assert_int_equal(files.npaths, TEST_HOOK_FILES);
	assert_string_equal(files.paths[2],
	    "/home/u/Maildir/new/2.M1P1Q2.host");
	assert_int_equal(files.count, TEST_HOOK_FILES);
	hook_files_clear(&files);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owe_without_command),
		cmocka_unit_test(test_owe_kept_for_command),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
