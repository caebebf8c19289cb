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
/* "1:5,9" (caller frees); at most max_ranges ranges are printed, starting
 * at range *from, which is advanced (so a long set can go out in several
 * commands). from may be NULL (print everything). "" when empty. */
char	*uidset_format(const struct uidset *, size_t *from, size_t max_ranges);
/* Parses a sequence set of UIDs (no '*'); 0, or -1 on bad syntax. The set
 * is added to. */
int	uidset_parse(struct uidset *, const char *);

#endif
