/* test_shard.c: the rendezvous hash of shard.h: fixed vectors (a change
 * re-shards every installation), balance, and how few accounts move from
 * N to N+1 instances; the K/N parser; a configuration narrowed to one
 * instance. The vectors come from an independent SipHash-2-4 (Python,
 * checked against the reference vectors of the SipHash paper). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "shard.h"

#define NAMES	10000

static void
test_vectors(void **state)
{
	static const struct {
		const char	*name;
		unsigned int	 index;
		uint64_t	 hash;
	} v[] = {
		{ "", 1, 0xdb5741cc359acb63ULL },
		{ "alice", 1, 0x567d5c654f49cdfbULL },
		{ "alice", 2, 0x5a19f46152386485ULL },
		{ "user042", 3, 0xac94311b5466a715ULL },
		{ "a-very-long-account-name-over-sixteen", 4000,
		    0xcc9bf4a27f1a346dULL },
	};
	static const unsigned int bob[8] = { 1, 1, 1, 4, 4, 4, 7, 7 };
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof v / sizeof v[0]; i++)
		assert_int_equal(shard_hash(v[i].name, v[i].index), v[i].hash);
	for (i = 0; i < 8; i++)
		assert_int_equal(shard_owner("bob", (unsigned int)i + 1),
		    bob[i]);
}

/* 10,000 names over 8 instances: each gets 1/8 within 10% of it (the
 * binomial standard deviation is ~33 of 1,250). */
static void
test_balance(void **state)
{
	unsigned int	count[9] = { 0 }, i;
	char		name[32];

	(void)state;
	for (i = 0; i < NAMES; i++) {
		snprintf(name, sizeof name, "user%05u", i);
		count[shard_owner(name, 8)]++;
	}
	for (i = 1; i <= 8; i++) {
		assert_in_range(count[i], NAMES / 8 * 9 / 10,
		    NAMES / 8 * 11 / 10);
	}
}

/* From N to N+1: an account moves only to the new instance, and about
 * 1/(N+1) of them do. */
static void
test_movement(void **state)
{
	unsigned int	n, i, moved, a, b;
	char		name[32];

	(void)state;
	for (n = 1; n <= 9; n++) {
		moved = 0;
		for (i = 0; i < NAMES; i++) {
			snprintf(name, sizeof name, "acct-%u@example.org", i);
			a = shard_owner(name, n);
			b = shard_owner(name, n + 1);
			if (a != b) {
				assert_int_equal(b, n + 1);
				moved++;
			}
		}
		assert_in_range(moved, NAMES / (n + 1) * 85 / 100,
		    NAMES / (n + 1) * 115 / 100);
	}
}

static void
test_parse(void **state)
{
	static const char *bad[] = { "", "3", "0/4", "5/4", "1/0", "a/b",
	    "1/4x", "-1/4", "1/4097", "1 /4", "99999999999999999999/1" };
	struct shard	 sh;
	char		*cause;
	size_t		 i;

	(void)state;
	assert_int_equal(shard_parse("3/8", &sh, &cause), 0);
	assert_int_equal(sh.index, 3);
	assert_int_equal(sh.count, 8);
	assert_int_equal(shard_parse("1-of-1", &sh, &cause), 0);
	assert_int_equal(sh.count, 1);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(shard_parse(bad[i], &sh, &cause), -1);
		assert_non_null(strstr(cause, "shard \""));
		free(cause);
	}
}

/* Writes a configuration of n accounts named user000.. to a temp file. */
static char *
write_config(unsigned int n, const char *shard)
{
	static char	 path[] = "/tmp/mfd-test-shard.XXXXXX";
	FILE		*f;
	unsigned int	 i;
	int		 fd;

	strcpy(path, "/tmp/mfd-test-shard.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd != -1);
	f = fdopen(fd, "w");
	fprintf(f, "state_dir = \"/tmp\"\n");
	if (shard != NULL)
		fprintf(f, "shard = \"%s\"\n", shard);
	for (i = 0; i < n; i++)
		fprintf(f, "account user%03u { protocol = imap host = "
		    "\"127.0.0.1\" tls = none user = u password_file = "
		    "\"%s\" maildir = \"/tmp/m\" }\n", i, path);
	fclose(f);
	return (path);
}

/* The file's shard, the environment's override, the others' names. */
static void
test_config(void **state)
{
	struct config	*conf;
	char		*path, *cause = NULL, name[16];
	size_t		 i;

	(void)state;
	unsetenv(SHARD_ENV);
	path = write_config(40, "2/3");
	conf = config_load(path, &cause);
	assert_non_null(conf);
	assert_int_equal(conf->shard_index, 2);
	assert_int_equal(conf->naccounts + conf->nshard_others, 40);
	for (i = 0; i < conf->naccounts; i++)
		assert_int_equal(shard_owner(conf->accounts[i].name, 3), 2);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof name, "user%03zu", i);
		assert_int_equal(shard_other_owner(conf, name) == 0,
		    shard_owner(name, 3) == 2);
	}
	assert_non_null(strstr(conf->control_socket, "/control.2-of-3"));
	config_free(conf);
	setenv(SHARD_ENV, "1-of-1", 1);
	conf = config_load(path, &cause);
	assert_int_equal(conf->naccounts, 40);
	config_free(conf);
	setenv(SHARD_ENV, "4/3", 1);
	assert_null(config_load(path, &cause));
	assert_non_null(strstr(cause, "1 <= K <= N"));
	free(cause);
	unsetenv(SHARD_ENV);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_balance),
		cmocka_unit_test(test_movement),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_config),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
