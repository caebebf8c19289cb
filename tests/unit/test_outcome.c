/* test_outcome.c: how two accounts' outcomes combine into the exit status
 * of --once (mailfetchd(8), EXIT STATUS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "outcome.h"

/* Both orders must give the same answer: accounts finish in any order. */
static void
assert_merge(int a, int b, int want)
{
	assert_int_equal(outcome_merge(a, b), want);
	assert_int_equal(outcome_merge(b, a), want);
}

static void
test_successes(void **state)
{
	(void)state;
	assert_merge(EXIT_NEW_MAIL, EXIT_NOTHING_NEW, EXIT_NEW_MAIL);
	assert_merge(EXIT_NOTHING_NEW, EXIT_NOTHING_NEW, EXIT_NOTHING_NEW);
	assert_merge(EXIT_NEW_MAIL, EXIT_NEW_MAIL, EXIT_NEW_MAIL);
}

static void
test_failures(void **state)
{
	(void)state;
	assert_merge(EXIT_NEW_MAIL, EXIT_NETWORK, EXIT_PARTIAL);
	assert_merge(EXIT_NOTHING_NEW, EXIT_AUTH, EXIT_PARTIAL);
	assert_int_equal(outcome_merge(EXIT_AUTH, EXIT_NETWORK), EXIT_AUTH);
	assert_int_equal(outcome_merge(EXIT_NETWORK, EXIT_AUTH), EXIT_NETWORK);
}

/* A deferred account (its daily budget used up) beside a certificate
 * failure: the failure must show (it exited 10, "nothing failed", before:
 * chaos seed 646077140); beside an account with nothing new, 10 (not 7,
 * "partial failure": nothing failed); beside new mail, 0. */
static void
test_deferred(void **state)
{
	(void)state;
	assert_merge(EXIT_DEFERRED, EXIT_NETWORK, EXIT_PARTIAL);
	assert_merge(EXIT_DEFERRED, EXIT_PROTOCOL, EXIT_PARTIAL);
	assert_merge(EXIT_DEFERRED, EXIT_PARTIAL, EXIT_PARTIAL);
	assert_merge(EXIT_DEFERRED, EXIT_NOTHING_NEW, EXIT_DEFERRED);
	assert_merge(EXIT_DEFERRED, EXIT_NEW_MAIL, EXIT_NEW_MAIL);
	assert_merge(EXIT_DEFERRED, EXIT_DEFERRED, EXIT_DEFERRED);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(outcome_name(EXIT_DEFERRED), "not yet allowed");
	assert_string_equal(outcome_word(EXIT_NETWORK), "network");
	assert_string_equal(outcome_name(-1), "unknown");
	assert_string_equal(outcome_word(11), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_successes),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_deferred),
		cmocka_unit_test(test_names),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
