/* uidlset.h: a set of POP3 UIDLs that keeps the UIDLs themselves on disk.
 *
 * An account's state remembers every UIDL it delivered, and a session
 * lists every UIDL of the maildrop: tens of thousands of 1 to 70 byte
 * strings. Held in memory they were most of a POP3 fetch's heap; here each
 * UIDL is a fixed-size record in an unnamed scratch file in the state
 * directory (rebuilt from the state file by every run, never synced), and
 * memory holds only an index (4 to 8 bytes a UIDL), a flags byte and a
 * 32-bit value (the caller's: POP3 keeps the size LIST gave) per UIDL.
 * The most recent records stay in a small write buffer, so a set of a
 * few dozen UIDLs never touches the disk; records read back come 64 at
 * a time into a small cache (4.6 KB), so texts asked for in id order
 * cost one read per 64.
 *
 * Ids are record numbers, stable until uidlset_compact. Flags are the
 * caller's (any nonzero byte); an entry whose flags are 0 is garbage,
 * never found, until the next compaction drops it.
 *
 * A failed read or write of the scratch file is sticky: lookups then find
 * nothing, inserts fail, and uidlset_error says why, so that the owner can
 * refuse to save (a UIDL that could not be read back must never make a
 * message count as new and then be recorded as if nothing happened). */
#ifndef MAILFETCHD_UIDLSET_H
#define MAILFETCHD_UIDLSET_H

#include <stddef.h>
#include <stdint.h>

#define UIDLSET_NONE	UINT32_MAX
#define UIDLSET_LEN_MAX	70		/* RFC 1939 */

struct uidlset;

/* An empty set whose scratch file, when needed, goes into dir; where the
 * filesystem cannot make an unnamed file, it is "NAME.uidls.XXXXXX",
 * unlinked at once (UIDLSET_STRAY: what a kill in between leaves, safe to
 * remove at any time). dir and name are kept as pointers: they must
 * outlive the set. */
#define UIDLSET_STRAY	".uidls."
struct uidlset	*uidlset_new(const char *dir, const char *name);
void		 uidlset_free(struct uidlset *);

/* The id of s (len bytes, 1 to UIDLSET_LEN_MAX), UIDLSET_NONE if absent. */
uint32_t	 uidlset_find(struct uidlset *, const char *s, size_t len);
/* Appends s, which must be absent, with flags (nonzero); its id, or
 * UIDLSET_NONE when the set is full or the scratch file failed. */
uint32_t	 uidlset_insert(struct uidlset *, const char *s, size_t len,
		    unsigned char flags);
/* The text of an id, NUL-terminated, in a buffer that the next call on
 * the set may overwrite: copy it to keep it. "" after a read error. */
const char	*uidlset_text(struct uidlset *, uint32_t id, size_t *len);
unsigned char	 uidlset_flags(const struct uidlset *, uint32_t id);
/* Sets a live entry's flags; 0 makes it garbage: never found again. */
void		 uidlset_set_flags(struct uidlset *, uint32_t id,
		    unsigned char flags);
/* An id's value (0 until set, and for an unknown id); setting a value
 * of an id that is garbage does nothing. Compaction keeps the values. */
uint32_t	 uidlset_value(const struct uidlset *, uint32_t id);
void		 uidlset_set_value(struct uidlset *, uint32_t id,
		    uint32_t value);
/* Calls fn(arg, id, text, len) for every entry with a flag in mask, in id
 * order (text NUL-terminated, valid during the call); -1 when a read
 * failed (uidlset_error). */
int		 uidlset_each(struct uidlset *, unsigned char mask,
		    void (*fn)(void *, uint32_t, const char *, size_t),
		    void *arg);
/* Entries ever inserted since the last compaction (ids run below). */
size_t		 uidlset_ids(const struct uidlset *);
/* Keeps the entries with any flag in keep, clears their other flags, and
 * renumbers them in order. */
void		 uidlset_compact(struct uidlset *, unsigned char keep);
/* Reads of the scratch file so far (each of one or more records): a
 * count for tests and profiles. */
size_t		 uidlset_reads(const struct uidlset *);
/* errno of the first failed scratch file operation, 0 if none. */
int		 uidlset_error(const struct uidlset *);

#endif
