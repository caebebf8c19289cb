/* msgids.h: a per-account, append-only log of what was delivered from each
 * folder, as short keys of Message-ID and size. It lets a folder whose
 * UIDVALIDITY changed (recreated, migrated) be matched again against what
 * was already delivered, so that only really new messages are fetched:
 * no refusal, no second copy of everything.
 *
 * File: STATE_DIR/ACCOUNT.ids, one line per message:
 *     <16 hex: folder name hash> <16 hex: key of Message-ID and size>
 * Appended after each batch is durable in the Maildir; a torn last line
 * (crash mid-append) is ignored when reading. */
#ifndef MAILFETCHD_MSGIDS_H
#define MAILFETCHD_MSGIDS_H

#include <stddef.h>
#include <stdint.h>

struct msgids;

/* The keys of one folder, for lookups. */
struct msgids_set {
	uint64_t	*keys;		/* sorted */
	size_t		 n;
};

/* Opens (creating, 0600) the log. NULL and *cause on error. */
struct msgids	*msgids_open(const char *state_dir, const char *account,
		    char **cause);
void		 msgids_close(struct msgids *);
/* Queues a line for folder; msgid is the Message-ID header's value as
 * returned by msgids_parse_header (messages without one are not logged). */
void		 msgids_add(struct msgids *, const char *folder,
		    const char *msgid, uint64_t size);
/* Appends the queued lines and fsyncs. */
int		 msgids_flush(struct msgids *, char **cause);
/* Reads every key logged for folder. */
int		 msgids_load(struct msgids *, const char *folder,
		    struct msgids_set *, char **cause);
int		 msgids_set_has(const struct msgids_set *, const char *msgid,
		    uint64_t size);
void		 msgids_set_clear(struct msgids_set *);

/* From a header block (e.g. the BODY[HEADER.FIELDS (MESSAGE-ID)] literal,
 * CRLF or LF), the Message-ID value: unfolded, surrounding blanks removed.
 * NULL when there is none. Caller frees. */
char		*msgids_parse_header(const char *, size_t len);

#endif
