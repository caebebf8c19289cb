/* uidset.h: a set of IMAP UIDs, kept as sorted ranges, printed and parsed
 * in IMAP sequence-set syntax ("1:5,9,12:20"). */
#ifndef MAILFETCHD_UIDSET_H
#define MAILFETCHD_UIDSET_H

#include <stddef.h>
#include <stdint.h>

struct uidset_range {
	uint32_t	lo;
	uint32_t	hi;
};

struct uidset {
	struct uidset_range	*r;
	size_t			 n;	/* ranges in use, sorted, disjoint,
					   never adjacent */
	size_t			 alloc;
	size_t			 moved;	/* ranges shifted or rewritten since
					   init: tests check that building
					   a set stays linear */
};

/* UIDs queued for a set, in any order: a server's answer may come
 * descending or shuffled, and uidset_add in front of what is there shifts
 * the whole array each time (quadratic: review r23 04). Queued UIDs are
 * sorted and merged in one pass once the queue is as long as the set, so
 * building a set of n UIDs costs O(n log n) whatever their order. The set
 * holds a queued UID only after a flush. */
struct uidset_batch {
	uint32_t	*v;
	size_t		 n;
	size_t		 alloc;
};

void	uidset_init(struct uidset *);
void	uidset_clear(struct uidset *);	/* frees the ranges */
/* Adds one UID (0 is not a UID and is ignored). Appending in ascending
 * order is O(1). */
void	uidset_add(struct uidset *, uint32_t);
/* Adds lo..hi (lo 0 counts as 1; hi < lo adds nothing). */
void	uidset_add_range(struct uidset *, uint32_t lo, uint32_t hi);
void	uidset_add_set(struct uidset *, const struct uidset *);
/* Adds to out (neither a nor b) the UIDs of a that are not in b. */
void	uidset_subtract(struct uidset *out, const struct uidset *a,
	    const struct uidset *b);
int	uidset_has(const struct uidset *, uint32_t);
size_t	uidset_count(const struct uidset *);
int	uidset_empty(const struct uidset *);
uint32_t uidset_max(const struct uidset *);	/* 0 when empty */
void	uidset_batch_init(struct uidset_batch *);
void	uidset_batch_clear(struct uidset_batch *); /* frees, drops the queue */
/* Queues uid (0 is ignored) for s, flushing when the queue is long
 * enough; returns what a flush added (uidset_batch_flush), else 0. */
size_t	uidset_batch_add(struct uidset_batch *, struct uidset *s, uint32_t);
/* Adds the queued UIDs to s; returns how many were not in it. */
size_t	uidset_batch_flush(struct uidset_batch *, struct uidset *s);
/* "1:5,9" (caller frees); at most max_ranges ranges are printed, starting
 * at range *from, which is advanced (so a long set can go out in several
 * commands). from may be NULL (print everything). "" when empty. */
char	*uidset_format(const struct uidset *, size_t *from, size_t max_ranges);
/* Parses a sequence set of UIDs (no '*'); 0, or -1 on bad syntax. The set
 * is added to. */
int	uidset_parse(struct uidset *, const char *);

#endif
