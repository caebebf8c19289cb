/* uidset_bench.c: building a UID set from N sparse UIDs (2, 4, ..., 2N),
 * as a server's UID SEARCH answer may list them, ascending, descending
 * or shuffled: uidset_add one by one against uidset_batch (what
 * imap_search_untagged uses since review r23 04).
 *
 *	cc -O2 -D_GNU_SOURCE -Isrc -I_build -o /tmp/uidset_bench \
 *	    bench/uidset_bench.c src/uidset.c src/xmalloc.c -lcrypto
 *	/tmp/uidset_bench [N]	(default 200000)
 *
 * Prints CPU seconds and the ranges moved (struct uidset's moved) of
 * each. uidset_add of a descending list shifts the whole array at each
 * UID: N*N/2 ranges moved (N=200,000: 2e10, seconds; at N=1,000,000,
 * IMAP_SEARCH_MAX, the daemon spent 55.9 s CPU on one answer); the batch
 * stays under 3 ranges a UID in any order. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "uidset.h"

static double
bench_cpu(void)
{
	struct timespec	t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (t.tv_sec + t.tv_nsec / 1e9);
}

/* The k-th UID of order 0 ascending, 1 descending, 2 shuffled (7919 is
 * prime to the default N; another N may repeat some: fewer ranges). */
static uint32_t
bench_uid(int order, uint32_t n, uint32_t k)
{
	if (order == 1)
		k = n - 1 - k;
	else if (order == 2)
		k = (uint32_t)(((uint64_t)k * 7919) % n);
	return (2 * k + 2);
}

static void
bench_one(int order, uint32_t n, int batched)
{
	static const char	*names[] = { "ascending", "descending",
	    "shuffled" };
	struct uidset		 s;
	struct uidset_batch	 b;
	uint32_t		 k;
	double			 t = bench_cpu();

	uidset_init(&s);
	uidset_batch_init(&b);
	for (k = 0; k < n; k++) {
		if (batched)
			uidset_batch_add(&b, &s, bench_uid(order, n, k));
		else
			uidset_add(&s, bench_uid(order, n, k));
	}
	uidset_batch_flush(&b, &s);
	printf("N=%u %-10s %-12s %8.3f s CPU, %zu ranges, %zu moved\n", n,
	    names[order], batched ? "uidset_batch" : "uidset_add",
	    bench_cpu() - t, s.n, s.moved);
	uidset_batch_clear(&b);
	uidset_clear(&s);
}

int
main(int argc, char **argv)
{
	uint32_t	n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) :
	    200000;
	int		order;

	if (n == 0)
		return (1);
	for (order = 0; order < 3; order++) {
		bench_one(order, n, 0);
		bench_one(order, n, 1);
	}
	return (0);
}
