/* test_uidset.c: UID sets: insertion in any order, merging, formatting in
 * slices, parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "uidset.h"

static void
assert_format(const struct uidset *s, const char *want)
{
	char	*got = uidset_format(s, NULL, 0);

	assert_string_equal(got, want);
	free(got);
}

/* a minus b, range by range, up to the largest UID. */
static void
test_subtract(void **state)
{
	struct uidset	a, b, out;

	(void)state;
	uidset_init(&a);
	uidset_init(&b);
	uidset_init(&out);
	assert_int_equal(uidset_parse(&a, "1:10,20:30,40,4294967290:4294967295"),
	    0);
	assert_int_equal(uidset_parse(&b, "3,5:22,29:41,4294967295"), 0);
	uidset_subtract(&out, &a, &b);
	assert_format(&out, "1:2,4,23:28,4294967290:4294967294");
	uidset_clear(&out);
	uidset_subtract(&out, &b, &b);
	assert_format(&out, "");
	uidset_clear(&b);
	uidset_subtract(&out, &a, &b);
	assert_format(&out, "1:10,20:30,40,4294967290:4294967295");
	uidset_clear(&a);
	uidset_clear(&b);
	uidset_clear(&out);
}

/* uidset_add_range finds its place by bisection: random ranges in any
 * order against a bitmap of UIDs 1..600 (adjacent ranges merge, so the
 * set is normalised: each range apart from the next). */
static void
test_add_range_random(void **state)
{
	unsigned char	bits[602];
	struct uidset	s;
	uint32_t	lo, hi, u;
	unsigned	seed = 12345;
	size_t		i, k;

	(void)state;
	for (k = 0; k < 50; k++) {
		memset(bits, 0, sizeof bits);
		uidset_init(&s);
		for (i = 0; i < 40; i++) {
			seed = seed * 1103515245 + 12345;
			lo = 1 + (seed >> 8) % 600;
			seed = seed * 1103515245 + 12345;
			hi = lo + (seed >> 8) % (k % 2 ? 3 : 30);
			if (hi > 600)
				hi = 600;
			uidset_add_range(&s, lo, hi);
			for (u = lo; u <= hi; u++)
				bits[u] = 1;
		}
		for (u = 1; u <= 601; u++)
			assert_int_equal(uidset_has(&s, u), bits[u]);
		for (i = 0; i + 1 < s.n; i++)
			assert_true((uint64_t)s.r[i].hi + 1 < s.r[i + 1].lo);
		uidset_clear(&s);
	}
}

static void
test_add_merge(void **state)
{
	static const uint32_t	 uids[] = { 5, 3, 4, 10, 1, 12, 11, 0, 4, 2 };
	struct uidset		 s;
	size_t			 i;

	(void)state;
	uidset_init(&s);
	assert_true(uidset_empty(&s));
	assert_format(&s, "");
	for (i = 0; i < sizeof uids / sizeof uids[0]; i++)
		uidset_add(&s, uids[i]);
	assert_format(&s, "1:5,10:12");
	assert_int_equal(uidset_count(&s), 8);
	assert_int_equal(uidset_max(&s), 12);
	assert_true(uidset_has(&s, 3));
	assert_false(uidset_has(&s, 6));
	assert_false(uidset_has(&s, 0));
	uidset_add(&s, 6);
	uidset_add(&s, 8);
	uidset_add(&s, 7);
	uidset_add(&s, 9);
	assert_format(&s, "1:12");
	uidset_add(&s, UINT32_MAX);
	assert_format(&s, "1:12,4294967295");
	uidset_clear(&s);
}

static void
test_format_slices(void **state)
{
	struct uidset	 s;
	size_t		 from = 0;
	char		*a, *b, *c;
	uint32_t	 u;

	(void)state;
	uidset_init(&s);
	for (u = 1; u <= 10; u += 2)
		uidset_add(&s, u);
	a = uidset_format(&s, &from, 2);
	b = uidset_format(&s, &from, 2);
	c = uidset_format(&s, &from, 2);
	assert_string_equal(a, "1,3");
	assert_string_equal(b, "5,7");
	assert_string_equal(c, "9");
	assert_int_equal(from, s.n);
	free(a);
	free(b);
	free(c);
	uidset_clear(&s);
}

static void
test_parse(void **state)
{
	struct uidset	s, t;

	(void)state;
	uidset_init(&s);
	assert_int_equal(uidset_parse(&s, "7:5,1,2,9"), 0);
	assert_format(&s, "1:2,5:7,9");
	uidset_init(&t);
	assert_int_equal(uidset_parse(&t, "3,8"), 0);
	uidset_add_set(&s, &t);
	assert_format(&s, "1:3,5:9");
	uidset_add_range(&s, 2, 4294967295U);	/* one step, not 4e9 */
	assert_format(&s, "1:4294967295");
	uidset_clear(&s);
	assert_int_equal(uidset_parse(&s, "10:12,20,30:31"), 0);
	uidset_add_range(&s, 13, 19);
	assert_format(&s, "10:20,30:31");
	uidset_add_range(&s, 1, 2);
	uidset_add_range(&s, 22, 40);
	assert_format(&s, "1:2,10:20,22:40");
	assert_int_equal(uidset_parse(&t, "1,"), -1);
	assert_int_equal(uidset_parse(&t, "0"), -1);
	assert_int_equal(uidset_parse(&t, "4294967296"), -1);
	assert_int_equal(uidset_parse(&t, "1:*"), -1);
	assert_int_equal(uidset_parse(&t, "a"), -1);
	uidset_clear(&s);
	uidset_clear(&t);
}

/* The queue merged into what the set holds: 0 ignored, duplicates and
 * UIDs already there not counted, touching ranges joined. */
static void
test_batch_merge(void **state)
{
	static const uint32_t	q[] = { 15, 0, 11, 20, 5, 21, 4294967295U, 15,
	    22 };
	struct uidset		s;
	struct uidset_batch	b;
	size_t			i, added = 0;

	(void)state;
	uidset_init(&s);
	uidset_batch_init(&b);
	assert_int_equal(uidset_parse(&s, "1:10,20,30"), 0);
	for (i = 0; i < sizeof q / sizeof q[0]; i++)
		added += uidset_batch_add(&b, &s, q[i]);
	assert_int_equal(added, 0);	/* queued below UIDSET_BATCH_MIN */
	assert_format(&s, "1:10,20,30");
	assert_int_equal(uidset_batch_flush(&b, &s), 5);
	assert_format(&s, "1:11,15,20:22,30,4294967295");
	assert_int_equal(uidset_batch_flush(&b, &s), 0);
	uidset_batch_add(&b, &s, 12);
	uidset_batch_clear(&b);		/* dropped, not added */
	assert_format(&s, "1:11,15,20:22,30,4294967295");
	uidset_clear(&s);
}

#define SPARSE_N	200000

/* UID k of SPARSE_N sparse ones (2, 4, ...) in the order named: 0
 * ascending, 1 descending (a hostile "* SEARCH 400000 399998 ... 2",
 * review r23 04), 2 shuffled (each index once: 7919 is prime to N). */
static uint32_t
sparse_uid(int order, uint32_t k)
{
	if (order == 1)
		k = SPARSE_N - 1 - k;
	else if (order == 2)
		k = (uint32_t)(((uint64_t)k * 7919) % SPARSE_N);
	return (2 * k + 2);
}

/* In any order, the batch builds the same set, counts each UID once,
 * and moves at most 3 ranges per UID (each flush copies the set once,
 * and waits for as many UIDs as the set holds): no order is quadratic,
 * where uidset_add of the descending list shifts ~N*N/2 ranges. */
static void
test_batch_orders(void **state)
{
	struct uidset		s;
	struct uidset_batch	b;
	size_t			added, from;
	uint32_t		k;
	int			order, pass;
	char			*got;

	(void)state;
	for (order = 0; order < 3; order++) {
		uidset_init(&s);
		uidset_batch_init(&b);
		added = 0;
		for (pass = 0; pass < 2; pass++) {	/* each UID twice */
			for (k = 0; k < SPARSE_N; k++)
				added += uidset_batch_add(&b, &s,
				    sparse_uid(order, k));
		}
		added += uidset_batch_flush(&b, &s);
		assert_int_equal(added, SPARSE_N);
		assert_int_equal(s.n, SPARSE_N);
		assert_int_equal(uidset_count(&s), SPARSE_N);
		assert_true(uidset_has(&s, 2) && uidset_has(&s, 2 * SPARSE_N));
		assert_false(uidset_has(&s, 3));
		from = 0;
		got = uidset_format(&s, &from, 2);
		assert_string_equal(got, "2,4");
		free(got);
		assert_true(s.moved <= 3 * (size_t)(2 * SPARSE_N));
		uidset_batch_clear(&b);
		uidset_clear(&s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_merge),
		cmocka_unit_test(test_batch_merge),
		cmocka_unit_test(test_batch_orders),
		cmocka_unit_test(test_add_range_random),
		cmocka_unit_test(test_format_slices),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_subtract),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
