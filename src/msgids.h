/* msgids.h: a per-account, append-only log of what was delivered from each
 * folder, as short keys of Message-ID and size plus a digest of the
 * content. It lets a folder whose UIDVALIDITY changed (recreated,
 * migrated) be matched again against what was already delivered, so that
 * only really new messages are delivered: no refusal, no second copy of
 * everything.
 *
 * Message-ID and size alone do not tell two messages apart (mailers that
 * reuse Message-IDs exist, and a sender can copy one): they only name the
 * candidates. A candidate is fetched again and counts as delivered before
 * only when its content digest is one logged under the same key; anything
 * else is delivered (a duplicate rather than a loss).
 *
 * File: STATE_DIR/ACCOUNT.ids, one line per message:
 *     <16 hex: folder name hash> <16 hex: key of Message-ID and size>
 *         <32 hex: content digest>
 * (one line, single spaces). Lines written before the digest existed end
 * after the key: they still name candidates, but match no content, so
 * such a message is delivered again (once; it is then logged with its
 * digest). Older readers skip the longer lines as foreign (their
 * messages are then delivered again after a UIDVALIDITY change, never
 * lost). Appended once each batch is durable in tmp/ and journaled,
 * before its files become visible; a torn last line (crash mid-append)
 * is ignored when reading. */
#ifndef MAILFETCHD_MSGIDS_H
#define MAILFETCHD_MSGIDS_H

#include <stddef.h>
#include <stdint.h>

struct msgids;

/* Bytes of the content digest kept: the first half of a SHA-256 (a
 * cryptographic digest, so that a sender cannot make a message that
 * passes for one delivered before; a birthday attack on 128 bits takes
 * 2^64 work). */
#define MSGIDS_DIGEST_LEN	16

/* What was logged for one message. */
struct msgids_entry {
	uint64_t	 key;		/* Message-ID and size */
	unsigned char	 digest[MSGIDS_DIGEST_LEN]; /* all 0: none logged */
};

/* The entries of one folder, for lookups. */
struct msgids_set {
	struct msgids_entry *e;		/* sorted by key, then digest */
	size_t		 n;
};

/* The content digest of one message, fed as it streams: over the bytes
 * of the Maildir file exactly (LF line ends), so that a file found in
 * the Maildir can be digested the same way. One owner; reused message
 * after message. */
struct msgids_digest;

/* Opens (creating, 0600) the log. NULL and *cause on error. */
struct msgids	*msgids_open(const char *state_dir, const char *account,
		    char **cause);
void		 msgids_close(struct msgids *);
/* Queues a line for folder; msgid is the Message-ID header's value as
 * returned by msgids_parse_header (messages without one are not logged);
 * digest from msgids_digest_final, or NULL when unknown (then the line
 * names a candidate that matches no content). */
void		 msgids_add(struct msgids *, const char *folder,
		    const char *msgid, uint64_t size,
		    const unsigned char *digest);
/* Appends the queued lines and fsyncs. */
int		 msgids_flush(struct msgids *, char **cause);
/* Reads every entry logged for folder. */
int		 msgids_load(struct msgids *, const char *folder,
		    struct msgids_set *, char **cause);
/* 1 if a message with this Message-ID and size was logged: a candidate,
 * whose content must be compared (msgids_set_has_digest). */
int		 msgids_set_has(const struct msgids_set *, const char *msgid,
		    uint64_t size);
/* 1 if a message with this Message-ID, size and content digest was
 * logged: delivered before. Lines without a digest never match. */
int		 msgids_set_has_digest(const struct msgids_set *,
		    const char *msgid, uint64_t size,
		    const unsigned char *digest);
void		 msgids_set_clear(struct msgids_set *);
/* Adds what was just logged to a loaded set: appended unsorted, so
 * msgids_set_sort must run before the next lookup (once per batch, not
 * once per message). */
void		 msgids_set_add(struct msgids_set *, const char *msgid,
		    uint64_t size);
void		 msgids_set_sort(struct msgids_set *);

struct msgids_digest *msgids_digest_new(void);
void		 msgids_digest_free(struct msgids_digest *);
/* Starts a new message (also done by msgids_digest_final). */
void		 msgids_digest_reset(struct msgids_digest *);
void		 msgids_digest_update(struct msgids_digest *, const void *,
		    size_t len);
/* The message's digest into out; the context is ready for the next. */
void		 msgids_digest_final(struct msgids_digest *,
		    unsigned char out[MSGIDS_DIGEST_LEN]);

/* From a header block (e.g. the BODY[HEADER.FIELDS (MESSAGE-ID)] literal,
 * CRLF or LF), the Message-ID value: unfolded, surrounding blanks removed.
 * NULL when there is none. Caller frees. */
char		*msgids_parse_header(const char *, size_t len);

#endif
