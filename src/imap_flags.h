/* imap_flags.h: local_flags = mirror after delivery: the server's flag
 * changes applied to the delivered Maildir files (issue 17).
 *
 * Three parts, none of which knows the IMAP session:
 *  - the UID map, STATE_DIR/ACCOUNT.uids: which Maildir file each
 *    delivered UID became (a Maildir name carries no UID);
 *  - the plan: whether a folder's sync may ask only for the changes since
 *    the saved HIGHESTMODSEQ (CONDSTORE, RFC 7162) or must fetch every
 *    message's flags, and why;
 *  - the sync: the flags the server answered, collected (bounded), then
 *    applied to the Maildir by renaming each file to its new flags. */
#ifndef MAILFETCHD_IMAP_FLAGS_H
#define MAILFETCHD_IMAP_FLAGS_H

#include <stddef.h>
#include <stdint.h>

#include "imap_parse.h"
#include "msgids.h"
#include "state.h"

/* The server flags mirrored, as Maildir info letters (D F R S). */
#define IMAP_FLAGS_DRAFT	0x1
#define IMAP_FLAGS_FLAGGED	0x2
#define IMAP_FLAGS_ANSWERED	0x4
#define IMAP_FLAGS_SEEN		0x8
#define IMAP_FLAGS_UNKNOWN	0x10	/* no server flags known */
/* Most messages one sync collects (16 bytes each, twice over while
 * repeats are weeded out), whatever the caller's cap: a folder with more
 * is not synced (logged), its modseq not saved. */
#define IMAP_FLAGS_MAX		(1u << 22)

/* The mirrored flags of a FETCH's FLAGS list (NULL: none). */
unsigned int	 imap_flags_mask(const struct imap_node *flags);
/* The Maildir info letters of a mask, "" for none (buf of 5 bytes). */
const char	*imap_flags_letters(unsigned int mask, char *buf);

/* A message for the UID map. */
struct imap_flags_entry {
	uint32_t		 uid;
	unsigned int		 known;	/* the server's flags as known:
					 * IMAP_FLAGS_* bits or _UNKNOWN */
	const char		*final;	/* its final Maildir name */
	const unsigned char	*digest; /* MSGIDS_DIGEST_LEN bytes, the
					 * msgids log's; NULL: none */
};

/* Appends one line per delivered message to the UID map and fsyncs it:
 * folder (remote name), its UIDVALIDITY, the UIDs, the server's flags as
 * known (those fetched with the message, plus what mailfetchd itself
 * stores, mark_read's \Seen), their final Maildir names and content
 * digests. Called once the batch is journaled, before its files are
 * visible, so that a recovered file is in the map too. A line lost (the
 * append failed) only leaves that message's flags unsynced. */
int		 imap_flags_map_add(const char *state_dir, const char *account,
		    const char *folder, uint32_t uidvalidity,
		    const struct imap_flags_entry *, size_t n, char **cause);
/* After a UIDVALIDITY change: the messages a matching pass recognised
 * (their new UIDs, n digests of MSGIDS_DIGEST_LEN bytes) get lines of
 * the new UIDVALIDITY naming the files the map names for the same
 * digest in the folder under an older one, with the flags known then,
 * so that they keep following the server. *linked: how many had one. */
int		 imap_flags_map_relink(const char *state_dir,
		    const char *account, const char *folder,
		    uint32_t uidvalidity, const uint32_t *uids,
		    const unsigned char *digests, size_t n, size_t *linked,
		    char **cause);

enum imap_flags_plan {
	IMAP_FLAGS_FULL,	/* UID FETCH 1:last_uid (FLAGS) */
	IMAP_FLAGS_CHANGED,	/* ... (CHANGEDSINCE saved modseq) */
};
/* What the folder's sync asks: CHANGED only with CONDSTORE, a saved
 * modseq of this UIDVALIDITY and a server HIGHESTMODSEQ (0: none, or
 * NOMODSEQ) not below it. *why (caller frees) says why a saved modseq
 * cannot be used (UIDVALIDITY changed, NOMODSEQ, went backwards); NULL
 * when there was none to use or it is used. */
enum imap_flags_plan imap_flags_plan(const struct state_folder *,
		    uint32_t uidvalidity, int condstore, uint64_t highest,
		    char **why);

/* One folder's sync. */
struct imap_flags_sync;
struct imap_flags_sync *imap_flags_sync_new(void);
void		 imap_flags_sync_free(struct imap_flags_sync *);
/* Notes the server's flags of a UID; -1 when the notes name more than
 * cap distinct UIDs (or IMAP_FLAGS_MAX): then the sync must not be
 * applied as complete. The last note of a UID wins. */
int		 imap_flags_sync_note(struct imap_flags_sync *, uint32_t uid,
		    unsigned int mask, size_t cap);
/* The notes taken (answers). */
size_t		 imap_flags_sync_count(const struct imap_flags_sync *);

struct imap_flags_stats {
	size_t	 mapped;	/* noted UIDs the map names */
	size_t	 renamed;	/* files given the server's changes */
	size_t	 absent;	/* mapped, found in neither new/ nor cur/
				 * (removed or moved by the user) */
};
/* Applies the server's changes the notes show to the Maildir folder at
 * path (its new/ and cur/): for each mapped file, the bits of D F R S
 * whose server flag differs from the one the map knows are set as the
 * server has them, the file's other letters are kept; one in new/ with
 * no flag stays there. The map is rewritten with the bits to rename as
 * pending first; then the renames, the directories fsynced, and the map
 * rewritten with the server's flags as known, before it returns 0.
 * Renaming to the name a file has is a no-op, so an apply repeated after
 * a crash is harmless. */
int		 imap_flags_sync_apply(struct imap_flags_sync *,
		    const char *state_dir, const char *account,
		    const char *folder, uint32_t uidvalidity,
		    const char *path, struct imap_flags_stats *,
		    char **cause);

#endif
