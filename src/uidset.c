/* uidset.c: sorted disjoint UID ranges. */
#include "uidset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

void
uidset_init(struct uidset *s)
{
	s->r = NULL;
	s->n = s->alloc = s->moved = 0;
}

void
uidset_clear(struct uidset *s)
{
	free(s->r);
	uidset_init(s);
}

/* Inserts a range at position i. */
static void
uidset_insert(struct uidset *s, size_t i, uint32_t lo, uint32_t hi)
{
	if (s->n == s->alloc) {
		s->alloc = s->alloc == 0 ? 8 : s->alloc * 2;
		s->r = xreallocarray(s->r, s->alloc, sizeof *s->r);
	}
	memmove(s->r + i + 1, s->r + i, (s->n - i) * sizeof *s->r);
	s->moved += s->n - i;
	s->r[i].lo = lo;
	s->r[i].hi = hi;
	s->n++;
}

/* Merges range i with range i+1 when they touch. */
static void
uidset_merge_next(struct uidset *s, size_t i)
{
	if (i + 1 >= s->n || (uint64_t)s->r[i].hi + 1 < s->r[i + 1].lo)
		return;
	if (s->r[i + 1].hi > s->r[i].hi)
		s->r[i].hi = s->r[i + 1].hi;
	memmove(s->r + i + 1, s->r + i + 2, (s->n - i - 2) * sizeof *s->r);
	s->moved += s->n - i - 2;
	s->n--;
}

void
uidset_add(struct uidset *s, uint32_t uid)
{
	size_t	lo = 0, hi = s->n, mid;

	if (uid == 0)
		return;
	/* The common case: appending in ascending order. */
	if (s->n > 0 && uid > s->r[s->n - 1].hi) {
		if (uid == s->r[s->n - 1].hi + 1)
			s->r[s->n - 1].hi = uid;
		else
			uidset_insert(s, s->n, uid, uid);
		return;
	}
	/* First range whose hi >= uid. */
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (s->r[mid].hi < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n && s->r[lo].lo <= uid)
		return;
	if (lo < s->n && s->r[lo].lo == uid + 1)
		s->r[lo].lo = uid;
	else if (lo > 0 && s->r[lo - 1].hi + 1 == uid) {
		s->r[lo - 1].hi = uid;
		uidset_merge_next(s, lo - 1);
		return;
	} else
		uidset_insert(s, lo, uid, uid);
	if (lo > 0)
		uidset_merge_next(s, lo - 1);
}

/* Adds lo..hi: insert in order, then fold every range it overlaps or
 * touches into it. */
void
uidset_add_range(struct uidset *s, uint32_t lo, uint32_t hi)
{
	size_t	i = 0, j, top = s->n, mid;

	if (lo == 0)
		lo = 1;
	if (hi < lo)
		return;
	/* The first range that reaches lo, by bisection: a set built in
	 * ascending order (uidset_subtract's output) costs no scan of what
	 * is there already (review r22: quadratic on a long SEARCH). */
	while (i < top) {
		mid = i + (top - i) / 2;
		if ((uint64_t)s->r[mid].hi + 1 < lo)
			i = mid + 1;
		else
			top = mid;
	}
	uidset_insert(s, i, lo, hi);
	/* The range before cannot touch (loop above); merge what follows. */
	for (j = i + 1; j < s->n && (uint64_t)s->r[i].hi + 1 >= s->r[j].lo; j++) {
		if (s->r[j].lo < s->r[i].lo)
			s->r[i].lo = s->r[j].lo;
		if (s->r[j].hi > s->r[i].hi)
			s->r[i].hi = s->r[j].hi;
	}
	memmove(s->r + i + 1, s->r + j, (s->n - j) * sizeof *s->r);
	s->moved += s->n - j;
	s->n -= j - i - 1;
}

void
uidset_batch_init(struct uidset_batch *b)
{
	b->v = NULL;
	b->n = b->alloc = 0;
}

void
uidset_batch_clear(struct uidset_batch *b)
{
	free(b->v);
	uidset_batch_init(b);
}

/* Below this many, a queue waits for more even behind a small set: one
 * flush per UID would copy the set each time. */
#define UIDSET_BATCH_MIN	4096

/* Flushing once the queue is as long as the set bounds each flush's copy
 * of the set by the UIDs queued since the last one: linear overall, plus
 * the sorts. */
size_t
uidset_batch_add(struct uidset_batch *b, struct uidset *s, uint32_t uid)
{
	if (uid == 0)
		return (0);
	if (b->n == b->alloc) {
		b->alloc = b->alloc == 0 ? 64 : b->alloc * 2;
		b->v = xreallocarray(b->v, b->alloc, sizeof *b->v);
	}
	b->v[b->n++] = uid;
	if (b->n < UIDSET_BATCH_MIN || b->n < s->n)
		return (0);
	return (uidset_batch_flush(b, s));
}

static int
uidset_u32_cmp(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x < y ? -1 : x > y);
}

/* Appends lo..hi to the ranges out[0..*n), which end at or before lo:
 * folded into the last when they touch. */
static void
uidset_append(struct uidset_range *out, size_t *n, uint32_t lo, uint32_t hi)
{
	if (*n > 0 && (uint64_t)out[*n - 1].hi + 1 >= lo) {
		if (hi > out[*n - 1].hi)
			out[*n - 1].hi = hi;
		return;
	}
	out[*n].lo = lo;
	out[*n].hi = hi;
	(*n)++;
}

/* The queue sorted, then merged with the set's ranges into a new array,
 * both walked once in UID order. A queued UID is new unless the last
 * range appended (the only one that can, as all start at or below it)
 * holds it already. */
size_t
uidset_batch_flush(struct uidset_batch *b, struct uidset *s)
{
	struct uidset_range	*out;
	size_t			 i = 0, j = 0, n = 0, added = 0;

	if (b->n == 0)
		return (0);
	qsort(b->v, b->n, sizeof *b->v, uidset_u32_cmp);
	out = xreallocarray(NULL, s->n + b->n, sizeof *out);
	while (i < s->n || j < b->n) {
		if (j == b->n || (i < s->n && s->r[i].lo <= b->v[j])) {
			uidset_append(out, &n, s->r[i].lo, s->r[i].hi);
			i++;
			continue;
		}
		if (n == 0 || b->v[j] > out[n - 1].hi)
			added++;
		uidset_append(out, &n, b->v[j], b->v[j]);
		j++;
	}
	free(s->r);
	s->r = out;
	s->alloc = s->n + b->n;
	s->n = n;
	s->moved += n;
	b->n = 0;
	return (added);
}

void
uidset_add_set(struct uidset *s, const struct uidset *add)
{
	size_t	i;

	for (i = 0; i < add->n; i++)
		uidset_add_range(s, add->r[i].lo, add->r[i].hi);
}

void
uidset_subtract(struct uidset *out, const struct uidset *a,
    const struct uidset *b)
{
	size_t		i, j = 0, k;
	uint64_t	lo;

	for (i = 0; i < a->n; i++) {
		lo = a->r[i].lo;
		while (j < b->n && b->r[j].hi < lo)
			j++;
		for (k = j; k < b->n && b->r[k].lo <= a->r[i].hi; k++) {
			if (b->r[k].lo > lo)
				uidset_add_range(out, (uint32_t)lo,
				    b->r[k].lo - 1);
			lo = (uint64_t)b->r[k].hi + 1;
		}
		if (lo <= a->r[i].hi)
			uidset_add_range(out, (uint32_t)lo, a->r[i].hi);
	}
}

int
uidset_has(const struct uidset *s, uint32_t uid)
{
	size_t	lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (s->r[mid].hi < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < s->n && s->r[lo].lo <= uid);
}

size_t
uidset_count(const struct uidset *s)
{
	size_t	i, n = 0;

	for (i = 0; i < s->n; i++)
		n += (size_t)(s->r[i].hi - s->r[i].lo) + 1;
	return (n);
}

int
uidset_empty(const struct uidset *s)
{
	return (s->n == 0);
}

uint32_t
uidset_max(const struct uidset *s)
{
	return (s->n == 0 ? 0 : s->r[s->n - 1].hi);
}

char *
uidset_format(const struct uidset *s, size_t *from, size_t max_ranges)
{
	size_t	 i = from != NULL ? *from : 0, end, len = 0;
	char	*out;

	end = from != NULL && s->n - i > max_ranges ? i + max_ranges : s->n;
	out = xmalloc((end - i) * 22 + 1);
	out[0] = '\0';
	for (; i < end; i++) {
		if (s->r[i].lo == s->r[i].hi)
			len += sprintf(out + len, "%s%u", len ? "," : "",
			    s->r[i].lo);
		else
			len += sprintf(out + len, "%s%u:%u", len ? "," : "",
			    s->r[i].lo, s->r[i].hi);
	}
	if (from != NULL)
		*from = end;
	return (out);
}

/* Reads one nonzero 32-bit number; advances *p. */
static int
uidset_number(const char **p, uint32_t *out)
{
	unsigned long	v;
	char		*end;

	if (**p < '1' || **p > '9')
		return (-1);
	errno = 0;
	v = strtoul(*p, &end, 10);
	if (errno != 0 || v > UINT32_MAX)
		return (-1);
	*p = end;
	*out = (uint32_t)v;
	return (0);
}

int
uidset_parse(struct uidset *s, const char *text)
{
	const char	*p = text;
	uint32_t	 a, b, t;

	if (*p == '\0')
		return (0);
	for (;;) {
		if (uidset_number(&p, &a) != 0)
			return (-1);
		b = a;
		if (*p == ':') {
			p++;
			if (uidset_number(&p, &b) != 0)
				return (-1);
			if (b < a) {
				t = a;
				a = b;
				b = t;
			}
		}
		uidset_add_range(s, a, b);
		if (*p == '\0')
			return (0);
		if (*p++ != ',')
			return (-1);
	}
}
