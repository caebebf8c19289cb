/* uidlset.c: a set of POP3 UIDLs with the UIDLs on disk; see uidlset.h.
 *
 * Record i of the scratch file, at offset i * UIDLSET_REC, is "<length>
 * <bytes> NUL"; records from wfirst on are still in the write buffer. The
 * index is open addressing with linear probing of 4-byte slots, keyed with
 * a random SipHash key so that a hostile server cannot choose colliding
 * UIDLs. A slot holds id + 1 in its low 27 bits and 5 more bits of the
 * hash above them: only a probe whose bits match (1 in 32 of the others)
 * reads the record back to compare (the page cache answers: the file was
 * written moments ago). Records read back come a chunk at a time into a
 * small cache: the texts a session asks for (the journal of a batch, in
 * listing order) are neighbours, and one pread per UIDL was most of a
 * POP3 fetch's system calls after the message files themselves. */
#include "uidlset.h"

#include <sys/random.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xmalloc.h"

#define UIDLSET_REC	(1 + UIDLSET_LEN_MAX + 1)
#define UIDLSET_WBUF	64		/* records kept before the file */
#define UIDLSET_CHUNK	256		/* records per read of a scan */
#define UIDLSET_CACHE	64		/* records per read of a lookup */
#define UIDLSET_IDS_MAX	(1U << 26)	/* 67 M UIDLs, 4.8 GB on disk */
#define UIDLSET_ID_BITS	27		/* id + 1 <= UIDLSET_IDS_MAX */
#define UIDLSET_ID_MASK	((1U << UIDLSET_ID_BITS) - 1)
#define UIDLSET_SLOT(h, id) \
	((uint32_t)((h) >> 59) << UIDLSET_ID_BITS | ((uint32_t)(id) + 1))
#define UIDLSET_SLOT_ID(v)	(((v) & UIDLSET_ID_MASK) - 1)

/* A chunk of records read from the file: a scan's (UIDLSET_CHUNK, freed
 * after it) or the lookup cache (UIDLSET_CACHE, kept). */
struct uidlset_scan {
	unsigned char	*buf;
	size_t		 cap;		/* records buf holds */
	size_t		 first;
	size_t		 n;		/* 0: nothing valid */
};

struct uidlset {
	const char	*dir;
	const char	*name;
	int		 fd;		/* scratch file; -1: none yet */
	int		 error;		/* errno of the first failure */
	unsigned char	*flags;		/* per id */
	uint32_t	*values;	/* per id, the caller's; 0: none */
	size_t		 n;		/* ids in use */
	size_t		 aflags;
	size_t		 indexed;	/* ids in the index */
	uint32_t	*slots;		/* UIDLSET_SLOT; 0: empty */
	size_t		 size;		/* a power of two */
	uint64_t	 key[2];
	size_t		 wfirst;	/* first id in wbuf */
	unsigned char	 wbuf[UIDLSET_WBUF * UIDLSET_REC];
	struct uidlset_scan cache;	/* records read back; emptied when
					 * compaction moves them */
	size_t		 reads;		/* preads of the scratch file */
	unsigned char	 rec[UIDLSET_REC];	/* uidlset_text's copy */
};

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

/* SipHash-2-4 of a byte string. */
static uint64_t
uidlset_siphash(const uint64_t key[2], const void *data, size_t len)
{
	const unsigned char	*p = data;
	uint64_t		 v0, v1, v2, v3, m;
	size_t			 i, off;

	v0 = 0x736f6d6570736575ULL ^ key[0];
	v1 = 0x646f72616e646f6dULL ^ key[1];
	v2 = 0x6c7967656e657261ULL ^ key[0];
	v3 = 0x7465646279746573ULL ^ key[1];
	for (off = 0; len - off >= 8; off += 8) {
		m = 0;
		for (i = 0; i < 8; i++)
			m |= (uint64_t)p[off + i] << (8 * i);
		v3 ^= m;
		SIPROUND; SIPROUND;
		v0 ^= m;
	}
	m = (uint64_t)len << 56;
	for (i = 0; off + i < len; i++)
		m |= (uint64_t)p[off + i] << (8 * i);
	v3 ^= m;
	SIPROUND; SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND; SIPROUND; SIPROUND; SIPROUND;
	return (v0 ^ v1 ^ v2 ^ v3);
}

/* An empty set with a fresh random key. */
struct uidlset *
uidlset_new(const char *dir, const char *name)
{
	struct uidlset	*set;

	set = xcalloc(1, sizeof *set);
	set->dir = dir;
	set->name = name;
	set->fd = -1;
	set->cache.cap = UIDLSET_CACHE;
	set->size = 64;
	set->slots = xcalloc(set->size, sizeof *set->slots);
	/* Without randomness the table still works, only less hardened. */
	if (getrandom(set->key, sizeof set->key, GRND_NONBLOCK) !=
	    (ssize_t)sizeof set->key) {
		set->key[0] = (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ULL;
		set->key[1] = (uint64_t)getpid() * 0xbf58476d1ce4e5b9ULL;
	}
	return (set);
}

/* Frees the set; the scratch file goes with its descriptor. */
void
uidlset_free(struct uidlset *set)
{
	if (set == NULL)
		return;
	if (set->fd != -1)
		close(set->fd);
	free(set->flags);
	free(set->values);
	free(set->slots);
	free(set->cache.buf);
	free(set);
}

/* Records the first failure; later ones add nothing. */
static void
uidlset_fail(struct uidlset *set, int error)
{
	if (set->error == 0)
		set->error = error != 0 ? error : EIO;
}

/* Creates the scratch file: unnamed (O_TMPFILE), or named and unlinked at
 * once where the filesystem cannot do that. */
static int
uidlset_open_scratch(struct uidlset *set)
{
	char	*path;
	int	 fd;

	fd = open(set->dir, O_TMPFILE|O_RDWR|O_CLOEXEC, 0600);
	if (fd == -1 && (errno == EOPNOTSUPP || errno == EISDIR ||
	    errno == EINVAL)) {
		xasprintf(&path, "%s/%s" UIDLSET_STRAY "XXXXXX", set->dir,
		    set->name);
		if ((fd = mkostemp(path, O_CLOEXEC)) != -1)
			unlink(path);
		free(path);
	}
	if (fd == -1) {
		uidlset_fail(set, errno);
		return (-1);
	}
	set->fd = fd;
	return (0);
}

/* Writes the buffered records out to the scratch file. */
static int
uidlset_flush(struct uidlset *set)
{
	size_t	len = (set->n - set->wfirst) * UIDLSET_REC;
	ssize_t	r;

	if (set->error != 0)
		return (-1);
	if (set->fd == -1 && uidlset_open_scratch(set) != 0)
		return (-1);
	r = pwrite(set->fd, set->wbuf, len, (off_t)set->wfirst * UIDLSET_REC);
	if (r != (ssize_t)len) {
		uidlset_fail(set, r == -1 ? errno : ENOSPC);
		return (-1);
	}
	set->wfirst = set->n;
	return (0);
}

/* Appends a record with flags; -1 when full or the file failed. */
static int
uidlset_append(struct uidlset *set, const unsigned char *rec,
    unsigned char flags)
{
	if (set->n >= UIDLSET_IDS_MAX)
		return (-1);
	if (set->n - set->wfirst == UIDLSET_WBUF && uidlset_flush(set) != 0)
		return (-1);
	if (set->n == set->aflags) {
		set->aflags = set->aflags < 64 ? 64 : set->aflags * 2;
		set->flags = xreallocarray(set->flags, set->aflags, 1);
		set->values = xreallocarray(set->values, set->aflags,
		    sizeof *set->values);
	}
	memcpy(set->wbuf + (set->n - set->wfirst) * UIDLSET_REC, rec,
	    UIDLSET_REC);
	set->values[set->n] = 0;
	set->flags[set->n++] = flags;
	return (0);
}

/* Record id, from the write buffer or from sc's chunk, which is read
 * from the file (from id on, sc->cap records at most) when it does not
 * hold id; NULL after a read error. */
static const unsigned char *
uidlset_scan_rec(struct uidlset *set, struct uidlset_scan *sc, size_t id)
{
	size_t	want;
	ssize_t	r;

	if (id >= set->wfirst)
		return (set->wbuf + (id - set->wfirst) * UIDLSET_REC);
	if (id >= sc->first && id < sc->first + sc->n)
		return (sc->buf + (id - sc->first) * UIDLSET_REC);
	if (set->error != 0)
		return (NULL);
	want = set->wfirst - id < sc->cap ? set->wfirst - id : sc->cap;
	if (sc->buf == NULL)
		sc->buf = xmalloc(sc->cap * UIDLSET_REC);
	sc->n = 0;
	set->reads++;
	r = pread(set->fd, sc->buf, want * UIDLSET_REC,
	    (off_t)id * UIDLSET_REC);
	if (r != (ssize_t)(want * UIDLSET_REC)) {
		uidlset_fail(set, r == -1 ? errno : EIO);
		return (NULL);
	}
	sc->first = id;
	sc->n = want;
	return (sc->buf);
}

/* Record id for a lookup, through the cache; NULL after a read error. */
static const unsigned char *
uidlset_rec(struct uidlset *set, size_t id)
{
	return (uidlset_scan_rec(set, &set->cache, id));
}

/* The slot holding s (len bytes), or the empty slot where it would go;
 * (size_t)-1 after a read error. */
static size_t
uidlset_slot(struct uidlset *set, const char *s, size_t len, uint64_t h)
{
	const unsigned char	*r;
	size_t			 mask = set->size - 1, i;
	uint32_t		 tag = UIDLSET_SLOT(h, 0) & ~UIDLSET_ID_MASK;

	for (i = h & mask; set->slots[i] != 0; i = (i + 1) & mask) {
		if ((set->slots[i] & ~UIDLSET_ID_MASK) != tag)
			continue;
		r = uidlset_rec(set, UIDLSET_SLOT_ID(set->slots[i]));
		if (r == NULL)
			return ((size_t)-1);
		if (r[0] == len && memcmp(r + 1, s, len) == 0)
			break;
	}
	return (i);
}

/* Rebuilds the index over the live ids, with the load factor at most three
 * quarters: probes stay short, the index 4 to 8 bytes a UIDL. */
static void
uidlset_reindex(struct uidlset *set)
{
	struct uidlset_scan	 sc = { NULL, UIDLSET_CHUNK, 0, 0 };
	const unsigned char	*r;
	size_t			 id, n = 0, mask, i;
	uint64_t		 h;

	for (id = 0; id < set->n; id++)
		n += set->flags[id] != 0;
	set->size = 64;
	while (set->size / 4 * 3 < n + 1)
		set->size *= 2;
	free(set->slots);
	set->slots = xcalloc(set->size, sizeof *set->slots);
	set->indexed = 0;
	mask = set->size - 1;
	for (id = 0; id < set->n; id++) {
		if (set->flags[id] == 0)
			continue;
		if ((r = uidlset_scan_rec(set, &sc, id)) == NULL)
			break;
		h = uidlset_siphash(set->key, r + 1, r[0]);
		for (i = h & mask; set->slots[i] != 0; i = (i + 1) & mask)
			;
		set->slots[i] = UIDLSET_SLOT(h, id);
		set->indexed++;
	}
	free(sc.buf);
}

/* Looks a UIDL up. */
uint32_t
uidlset_find(struct uidlset *set, const char *s, size_t len)
{
	size_t	i;

	if (set->error != 0 || len == 0 || len > UIDLSET_LEN_MAX)
		return (UIDLSET_NONE);
	i = uidlset_slot(set, s, len, uidlset_siphash(set->key, s, len));
	if (i == (size_t)-1 || set->slots[i] == 0 ||
	    set->flags[UIDLSET_SLOT_ID(set->slots[i])] == 0)
		return (UIDLSET_NONE);
	return (UIDLSET_SLOT_ID(set->slots[i]));
}

/* Appends an absent UIDL. */
uint32_t
uidlset_insert(struct uidlset *set, const char *s, size_t len,
    unsigned char flags)
{
	unsigned char	rec[UIDLSET_REC];
	uint32_t	id;
	uint64_t	h;
	size_t		i;

	if (set->error != 0 || len == 0 || len > UIDLSET_LEN_MAX ||
	    flags == 0)
		return (UIDLSET_NONE);
	memset(rec, 0, sizeof rec);
	rec[0] = len;
	memcpy(rec + 1, s, len);
	id = set->n;
	if (uidlset_append(set, rec, flags) != 0)
		return (UIDLSET_NONE);
	if (set->indexed + 1 > set->size / 4 * 3)
		uidlset_reindex(set);
	else {
		h = uidlset_siphash(set->key, s, len);
		if ((i = uidlset_slot(set, s, len, h)) != (size_t)-1) {
			/* A garbage entry with the same text gives up its
			 * slot. */
			set->indexed += set->slots[i] == 0;
			set->slots[i] = UIDLSET_SLOT(h, id);
		}
	}
	return (set->error != 0 ? UIDLSET_NONE : id);
}

/* The text of an id. */
const char *
uidlset_text(struct uidlset *set, uint32_t id, size_t *len)
{
	const unsigned char	*r;

	if (id >= set->n || (r = uidlset_rec(set, id)) == NULL) {
		if (len != NULL)
			*len = 0;
		return ("");
	}
	if (r != set->rec)
		memcpy(set->rec, r, UIDLSET_REC);
	if (len != NULL)
		*len = set->rec[0];
	return ((const char *)set->rec + 1);
}

/* An id's flags. */
unsigned char
uidlset_flags(const struct uidlset *set, uint32_t id)
{
	return (id < set->n ? set->flags[id] : 0);
}

/* Sets an id's flags. */
void
uidlset_set_flags(struct uidlset *set, uint32_t id, unsigned char flags)
{
	if (id < set->n && set->flags[id] != 0)
		set->flags[id] = flags;
}

/* An id's value. */
uint32_t
uidlset_value(const struct uidlset *set, uint32_t id)
{
	return (id < set->n ? set->values[id] : 0);
}

/* Sets a live id's value. */
void
uidlset_set_value(struct uidlset *set, uint32_t id, uint32_t value)
{
	if (id < set->n && set->flags[id] != 0)
		set->values[id] = value;
}

/* Calls fn for every entry with a flag in mask, in id order. */
int
uidlset_each(struct uidlset *set, unsigned char mask,
    void (*fn)(void *, uint32_t, const char *, size_t), void *arg)
{
	struct uidlset_scan	 sc = { NULL, UIDLSET_CHUNK, 0, 0 };
	const unsigned char	*r;
	size_t			 id;

	for (id = 0; id < set->n; id++) {
		if ((set->flags[id] & mask) == 0)
			continue;
		if ((r = uidlset_scan_rec(set, &sc, id)) == NULL)
			break;
		fn(arg, (uint32_t)id, (const char *)r + 1, r[0]);
	}
	free(sc.buf);
	return (set->error != 0 ? -1 : 0);
}

/* Ids in use. */
size_t
uidlset_ids(const struct uidlset *set)
{
	return (set->n);
}

/* Writes n records at id first (a compaction moving records down). */
static int
uidlset_write_at(struct uidlset *set, const unsigned char *buf, size_t n,
    size_t first)
{
	ssize_t	r;

	r = pwrite(set->fd, buf, n * UIDLSET_REC, (off_t)first * UIDLSET_REC);
	if (r != (ssize_t)(n * UIDLSET_REC)) {
		uidlset_fail(set, r == -1 ? errno : ENOSPC);
		return (-1);
	}
	return (0);
}

/* Compacts records that are all on disk: the write buffer went out
 * first. A kept record moves down only once an earlier one was dropped,
 * so a listing that dropped nothing writes nothing; a move never lands
 * on a record the scan has not read yet (it only ever goes to a lower
 * id). Returns the number of records kept. */
static size_t
uidlset_compact_file(struct uidlset *set, unsigned char keep)
{
	struct uidlset_scan	 sc = { NULL, UIDLSET_CHUNK, 0, 0 };
	const unsigned char	*r;
	unsigned char		*wb = NULL;
	size_t			 id, out = 0, wn = 0, wstart = 0;

	for (id = 0; id < set->n; id++) {
		if ((set->flags[id] & keep) == 0)
			continue;
		set->flags[out] = set->flags[id] & keep;
		set->values[out] = set->values[id];
		if (out != id) {
			if ((r = uidlset_scan_rec(set, &sc, id)) == NULL)
				break;
			if (wb == NULL)
				wb = xmalloc(UIDLSET_CHUNK * UIDLSET_REC);
			if (wn == 0)
				wstart = out;
			memcpy(wb + wn * UIDLSET_REC, r, UIDLSET_REC);
			if (++wn == UIDLSET_CHUNK) {
				if (uidlset_write_at(set, wb, wn, wstart) != 0)
					break;
				wn = 0;
			}
		}
		out++;
	}
	if (wn > 0 && set->error == 0)
		uidlset_write_at(set, wb, wn, wstart);
	free(wb);
	free(sc.buf);
	if (out < set->n && set->error == 0 &&
	    ftruncate(set->fd, (off_t)out * UIDLSET_REC) == -1)
		uidlset_fail(set, errno);
	return (out);
}

/* Drops the entries without any flag in keep and renumbers the rest in
 * order: in the write buffer while everything fits there, else on disk. */
void
uidlset_compact(struct uidlset *set, unsigned char keep)
{
	size_t	id, out = 0;

	if (set->error != 0)
		return;
	/* Records move down: what the cache holds is stale. */
	set->cache.n = 0;
	if (set->wfirst == 0) {
		for (id = 0; id < set->n; id++) {
			if ((set->flags[id] & keep) == 0)
				continue;
			if (out != id)
				memmove(set->wbuf + out * UIDLSET_REC,
				    set->wbuf + id * UIDLSET_REC, UIDLSET_REC);
			set->values[out] = set->values[id];
			set->flags[out++] = set->flags[id] & keep;
		}
	} else if (uidlset_flush(set) == 0)
		out = uidlset_compact_file(set, keep);
	else
		return;
	set->n = out;
	if (set->wfirst > out)
		set->wfirst = out;
	/* A maildrop emptied: give back what it held. */
	if (set->aflags > 4096 && set->n < set->aflags / 4) {
		set->aflags = set->n < 2048 ? 4096 : set->n * 2;
		set->flags = xreallocarray(set->flags, set->aflags, 1);
		set->values = xreallocarray(set->values, set->aflags,
		    sizeof *set->values);
	}
	uidlset_reindex(set);
}

/* Reads of the scratch file so far. */
size_t
uidlset_reads(const struct uidlset *set)
{
	return (set->reads);
}

/* The first failure's errno. */
int
uidlset_error(const struct uidlset *set)
{
	return (set->error);
}
