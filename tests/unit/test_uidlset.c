/* test_uidlset.c: unit tests for the POP3 UIDL set with its UIDLs on disk. */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "uidlset.h"

/* More UIDLs than the write buffer holds, so the scratch file is used. */
#define MANY	5000

/* Per test: a fresh temp dir for the scratch file. */
static int
setup(void **arg)
{
	char		*dir;
	const char	*tmpdir;

	if ((tmpdir = getenv("TMPDIR")) == NULL || strlen(tmpdir) > 64)
		tmpdir = "/tmp";
	dir = calloc(1, 128);
	snprintf(dir, 128, "%s/test_uidlset.XXXXXX", tmpdir);
	if (mkdtemp(dir) == NULL)
		return (-1);
	*arg = dir;
	return (0);
}

/* Removes the temp dir, which must be empty: the scratch file has no
 * name. */
static int
teardown(void **arg)
{
	char	*dir = *arg;
	int	 rc;

	rc = rmdir(dir);
	free(dir);
	return (rc);
}

/* The i-th test UIDL: lengths 1 to 70, bytes of every kind but CR, LF,
 * NUL. */
static size_t
uidl_of(size_t i, char *buf)
{
	size_t	len = 1 + (i * 7) % UIDLSET_LEN_MAX, k;

	for (k = 0; k < len; k++)
		buf[k] = (char)(1 + (i * 31 + k * 17) % 250 + (k == 0));
	for (k = 0; k < len; k++) {
		if (buf[k] == '\r' || buf[k] == '\n')
			buf[k] = 'x';
	}
	/* Unique: the index in decimal at the end. */
	snprintf(buf + (len > 8 ? len - 8 : 0), 9, "%08zu", i);
	return (strlen(buf));
}

/* Inserts the test UIDLs 0 to n - 1 with flag 1: ids 0 to n - 1. */
static void
fill(struct uidlset *set, size_t n)
{
	char	buf[UIDLSET_LEN_MAX + 1];
	size_t	i, len;

	for (i = 0; i < n; i++) {
		len = uidl_of(i, buf);
		assert_int_equal(uidlset_insert(set, buf, len, 1), i);
	}
}

/* Counts the entries of a directory but . and .. */
static int
dir_entries(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return (n);
}

/* Thousands of UIDLs: found by text, text by id, flags kept, and the
 * scratch file never visible in the directory. */
static void
test_many(void **arg)
{
	struct uidlset	*set = uidlset_new(*arg, "acct");
	char		 buf[UIDLSET_LEN_MAX + 1];
	const char	*t;
	size_t		 i, len, tlen;

	for (i = 0; i < MANY; i++) {
		len = uidl_of(i, buf);
		assert_int_equal(uidlset_find(set, buf, len), UIDLSET_NONE);
		assert_int_equal(uidlset_insert(set, buf, len, 1 + i % 3), i);
	}
	assert_int_equal(uidlset_ids(set), MANY);
	assert_int_equal(dir_entries(*arg), 0);
	for (i = 0; i < MANY; i++) {
		len = uidl_of(i, buf);
		assert_int_equal(uidlset_find(set, buf, len), i);
		assert_int_equal(uidlset_flags(set, i), 1 + i % 3);
		t = uidlset_text(set, i, &tlen);
		assert_int_equal(tlen, len);
		assert_memory_equal(t, buf, len);
		assert_int_equal(t[len], '\0');
	}
	/* Same length, one byte off: not found. */
	len = uidl_of(17, buf);
	buf[0] ^= 0x40;
	assert_int_equal(uidlset_find(set, buf, len), UIDLSET_NONE);
	assert_int_equal(uidlset_error(set), 0);
	uidlset_free(set);
	assert_int_equal(dir_entries(*arg), 0);
}

/* Collects the texts uidlset_each hands over. */
struct seen {
	size_t	n;
	size_t	bad;
	size_t	next;		/* the index uidl_of should give next */
	size_t	step;
};

static void
each_cb(void *arg, uint32_t id, const char *text, size_t len)
{
	struct seen	*sn = arg;
	char		 buf[UIDLSET_LEN_MAX + 1];
	size_t		 want;

	(void)id;
	want = uidl_of(sn->next, buf);
	if (want != len || memcmp(buf, text, len) != 0 || text[len] != '\0')
		sn->bad++;
	sn->n++;
	sn->next += sn->step;
}

/* Garbage is never found, compaction keeps the order of the rest and
 * renumbers it, a UIDL can come back after being dropped. */
static void
test_compact(void **arg)
{
	struct uidlset	*set = uidlset_new(*arg, "acct");
	struct seen	 sn;
	char		 buf[UIDLSET_LEN_MAX + 1];
	size_t		 i, len;

	fill(set, MANY);
	/* Odd ones become garbage, even ones get a second flag. */
	for (i = 0; i < MANY; i++)
		uidlset_set_flags(set, i, i % 2 ? 0 : 3);
	len = uidl_of(1, buf);
	assert_int_equal(uidlset_find(set, buf, len), UIDLSET_NONE);
	memset(&sn, 0, sizeof sn);
	sn.step = 2;
	assert_int_equal(uidlset_each(set, 2, each_cb, &sn), 0);
	assert_int_equal(sn.n, MANY / 2);
	assert_int_equal(sn.bad, 0);

	uidlset_compact(set, 1);
	assert_int_equal(uidlset_ids(set), MANY / 2);
	for (i = 0; i < MANY; i++) {
		len = uidl_of(i, buf);
		if (i % 2) {
			assert_int_equal(uidlset_find(set, buf, len),
			    UIDLSET_NONE);
			continue;
		}
		assert_int_equal(uidlset_find(set, buf, len), i / 2);
		/* Only the kept flag is left. */
		assert_int_equal(uidlset_flags(set, i / 2), 1);
	}
	memset(&sn, 0, sizeof sn);
	sn.step = 2;
	assert_int_equal(uidlset_each(set, 1, each_cb, &sn), 0);
	assert_int_equal(sn.n, MANY / 2);
	assert_int_equal(sn.bad, 0);

	/* A dropped UIDL comes back as a new id. */
	len = uidl_of(3, buf);
	assert_int_equal(uidlset_insert(set, buf, len, 1), MANY / 2);
	assert_int_equal(uidlset_find(set, buf, len), MANY / 2);
	/* Garbage made after compaction gives its slot to the same text. */
	uidlset_set_flags(set, MANY / 2, 0);
	assert_int_equal(uidlset_find(set, buf, len), UIDLSET_NONE);
	assert_int_equal(uidlset_insert(set, buf, len, 2), MANY / 2 + 1);
	assert_int_equal(uidlset_find(set, buf, len), MANY / 2 + 1);

	/* Everything dropped. */
	uidlset_compact(set, 4);
	assert_int_equal(uidlset_ids(set), 0);
	len = uidl_of(0, buf);
	assert_int_equal(uidlset_find(set, buf, len), UIDLSET_NONE);
	assert_int_equal(uidlset_error(set), 0);
	uidlset_free(set);
}

/* Compactions that keep everything, or drop one record late: records
 * before the drop stay where they are, those after move down by one. */
static void
test_compact_partial(void **arg)
{
	struct uidlset	*set = uidlset_new(*arg, "acct");
	struct seen	 sn;
	char		 buf[UIDLSET_LEN_MAX + 1];
	size_t		 i, len;

	fill(set, MANY);
	uidlset_compact(set, 1);
	assert_int_equal(uidlset_ids(set), MANY);
	for (i = 0; i < MANY; i += 7) {
		len = uidl_of(i, buf);
		assert_int_equal(uidlset_find(set, buf, len), i);
	}
	uidlset_set_flags(set, 3000, 0);
	uidlset_compact(set, 1);
	assert_int_equal(uidlset_ids(set), MANY - 1);
	for (i = 0; i < MANY; i++) {
		len = uidl_of(i, buf);
		if (i == 3000)
			assert_int_equal(uidlset_find(set, buf, len),
			    UIDLSET_NONE);
		else
			assert_int_equal(uidlset_find(set, buf, len),
			    i < 3000 ? i : i - 1);
	}
	/* New UIDLs after a compaction on disk land after the others. */
	len = uidl_of(MANY, buf);
	assert_int_equal(uidlset_insert(set, buf, len, 1), MANY - 1);
	memset(&sn, 0, sizeof sn);
	sn.step = 1;
	sn.next = 3001;
	uidlset_set_flags(set, 2999, 0);
	for (i = 0; i < 2999; i++)
		uidlset_set_flags(set, i, 2);
	assert_int_equal(uidlset_each(set, 1, each_cb, &sn), 0);
	assert_int_equal(sn.n, MANY - 3000);
	assert_int_equal(sn.bad, 0);
	assert_int_equal(uidlset_error(set), 0);
	uidlset_free(set);
}

/* Texts read back in id order, as a batch's journal asks for them, come
 * a chunk of records per read, not one read each; and a compaction,
 * which moves records down, leaves no stale record in that cache. */
static void
test_read_cache(void **arg)
{
	struct uidlset	*set = uidlset_new(*arg, "acct");
	char		 buf[UIDLSET_LEN_MAX + 1];
	const char	*t;
	size_t		 i, len, tlen, before;

	fill(set, MANY);
	before = uidlset_reads(set);
	for (i = 1000; i < 2000; i++) {
		len = uidl_of(i, buf);
		t = uidlset_text(set, i, &tlen);
		assert_int_equal(tlen, len);
		assert_memory_equal(t, buf, len);
	}
	/* 1,000 texts: at most one read per 64 records. */
	assert_true(uidlset_reads(set) - before <= 1000 / 64 + 1);
	/* The cache now holds records around 1999; drop one before them
	 * and read back from there, downwards. */
	uidlset_set_flags(set, 1500, 0);
	uidlset_compact(set, 1);
	for (i = 2010; i-- > 1490; ) {
		len = uidl_of(i < 1500 ? i : i + 1, buf);
		t = uidlset_text(set, i, &tlen);
		assert_int_equal(tlen, len);
		assert_memory_equal(t, buf, len);
		assert_int_equal(uidlset_find(set, buf, len), i);
	}
	assert_int_equal(uidlset_error(set), 0);
	uidlset_free(set);
}

/* A handful of UIDLs stays in memory: no scratch file even in a directory
 * that cannot hold one. Past the write buffer, the failure is sticky and
 * explicit: nothing found, nothing inserted, the reason kept. */
static void
test_scratch_failure(void **arg)
{
	struct uidlset	*set;
	char		 bad[256], buf[UIDLSET_LEN_MAX + 1];
	size_t		 i, len, ok = 0;

	snprintf(bad, sizeof bad, "%s/missing", (char *)*arg);
	set = uidlset_new(bad, "acct");
	for (i = 0; i < 10; i++) {
		len = uidl_of(i, buf);
		assert_int_equal(uidlset_insert(set, buf, len, 1), i);
	}
	len = uidl_of(5, buf);
	assert_int_equal(uidlset_find(set, buf, len), 5);
	assert_int_equal(uidlset_error(set), 0);
	for (i = 10; i < 1000; i++) {
		len = uidl_of(i, buf);
		if (uidlset_insert(set, buf, len, 1) == UIDLSET_NONE)
			break;
		ok++;
	}
	assert_true(i < 1000);
	assert_int_equal(uidlset_error(set), ENOENT);
	len = uidl_of(5, buf);
	assert_int_equal(uidlset_find(set, buf, len), UIDLSET_NONE);
	assert_int_equal(uidlset_insert(set, "new", 3, 1), UIDLSET_NONE);
	assert_int_equal(uidlset_each(set, 1, each_cb, &(struct seen){ 0 }),
	    -1);
	uidlset_free(set);
}

/* Bad arguments are refused, not stored. */
static void
test_limits(void **arg)
{
	struct uidlset	*set = uidlset_new(*arg, "acct");
	char		 long71[UIDLSET_LEN_MAX + 2];

	memset(long71, 'a', sizeof long71 - 1);
	long71[sizeof long71 - 1] = '\0';
	assert_int_equal(uidlset_insert(set, "", 0, 1), UIDLSET_NONE);
	assert_int_equal(uidlset_insert(set, "a", 1, 0), UIDLSET_NONE);
	assert_int_equal(uidlset_insert(set, long71, UIDLSET_LEN_MAX + 1, 1),
	    UIDLSET_NONE);
	assert_int_equal(uidlset_insert(set, long71, UIDLSET_LEN_MAX, 1), 0);
	assert_int_equal(uidlset_find(set, long71, UIDLSET_LEN_MAX), 0);
	assert_string_equal(uidlset_text(set, 7, NULL), "");
	assert_int_equal(uidlset_flags(set, 7), 0);
	assert_int_equal(uidlset_ids(set), 1);
	uidlset_free(set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact_partial, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_cache, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_scratch_failure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
