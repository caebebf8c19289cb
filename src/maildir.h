/* maildir.h: durable Maildir delivery. Knows nothing of protocols.
 *
 * A delivery streams into tmp/, then commit makes it durable: fsync of the
 * file, checked close, rename into new/ (or cur/ with flags), fsync of the
 * directory. Until commit returns 0, nothing is visible in new/ or cur/. */
#ifndef MAILFETCHD_MAILDIR_H
#define MAILFETCHD_MAILDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct maildir;			/* one opened Maildir (root or ++ folder) */
struct maildir_delivery;	/* one message being written */

/* Opens (creating if needed, mode 0700, with tmp/ new/ cur/) the Maildir at
 * root, or its Maildir++ subfolder when folder is not NULL and not "" or
 * "INBOX". folder uses '/' as hierarchy separator ("Lists/dev" becomes
 * ".Lists.dev" with a maildirfolder marker). Returns NULL with *cause set
 * (caller frees) naming the path and the system error. */
struct maildir	*maildir_open(const char *root, const char *folder, char **cause);
/* Whether folder (as maildir_open takes it) has its directory under root
 * already: 1 yes, 0 no (or the name is refused), -1 with *cause when that
 * cannot be told. The root and INBOX count as existing. Creates nothing. */
int		 maildir_folder_exists(const char *root, const char *folder,
		    char **cause);
/* Staged but unsynced deliveries are discarded; every delivery in progress
 * must be committed or aborted first. NULL is a no-op. */
void		 maildir_close(struct maildir *);
/* The directory path of this folder. Do not free. */
const char	*maildir_path(const struct maildir *);

/* Owner tags: each account's deliveries carry one in their unique names
 * ("O<tag>"), so that a cleaner can tell the tmp/ files of the accounts
 * whose intent journals it reads from those of other configurations
 * sharing the Maildir. maildir_owner_tag computes an account's tag
 * (MAILDIR_OWNER_LEN hex digits) from its state_dir and name;
 * maildir_open_owned is maildir_open whose deliveries carry it. */
#define MAILDIR_OWNER_LEN	16
void		 maildir_owner_tag(const char *state_dir, const char *account,
		    char tag[MAILDIR_OWNER_LEN + 1]);
struct maildir	*maildir_open_owned(const char *root, const char *folder,
		    const char *state_dir, const char *account, char **cause);

/* Stale tmp/ files, in two steps so that the caller can read the intent
 * journals in between (fetch.c): maildir_tmp_stale lists (at most 4096 per
 * call) the tmp/ files older than max_age seconds (the spec says 36 hours)
 * and, whatever their age, those a mailfetchd process of this host left
 * when it died (its unique name, a pid no longer running) carrying one of
 * the owner tags owners[0..nowners-1]: the caller must pass exactly the
 * accounts whose journals it reads as keep. 0 with *names
 * (free with maildir_names_free) and *n, or -1 with *cause set.
 * maildir_tmp_remove then removes those of names whose unique name is not
 * that of one of the final names keep[0..nkeep-1] (the intent journals':
 * maildir_recover still needs them), and returns how many it removed, or
 * -1 with *cause set. */
int		 maildir_tmp_stale(struct maildir *, time_t max_age,
		    const char *const *owners, size_t nowners, char ***names,
		    size_t *n, char **cause);
int		 maildir_tmp_remove(struct maildir *, char *const *names,
		    size_t n, const char *const *keep, size_t nkeep,
		    char **cause);
void		 maildir_names_free(char **names, size_t n);

/* Starts a message in tmp/ (O_EXCL, unique name). */
struct maildir_delivery *maildir_deliver_begin(struct maildir *, char **cause);
/* Appends bytes; handles short writes. -1 with *cause on error (ENOSPC,
 * EDQUOT, EIO...), after which only abort is allowed. */
int		 maildir_deliver_write(struct maildir_delivery *, const void *,
		    size_t, char **cause);
/* Makes the message durable and visible: flags NULL or "" goes to new/,
 * otherwise to cur/ with ":2,<flags>" (flags sorted ASCII, e.g. "FS").
 * The final name carries ",S=<size>". On success frees the delivery and,
 * if name is not NULL, returns the final file name (caller frees).
 * On failure the message is removed from tmp/, the delivery freed, -1. */
int		 maildir_deliver_commit(struct maildir_delivery *, const char *flags,
		    char **name, char **cause);
/* Removes the tmp/ file and frees the delivery. NULL is a no-op. */
void		 maildir_deliver_abort(struct maildir_delivery *);

/* Batch commit: finish many deliveries with one directory fsync each for
 * new/ and cur/. maildir_deliver_stage takes the delivery over (the caller
 * must not use it again) and names it (name as in commit), but the message
 * stays invisible in tmp/; maildir_sync fsyncs every staged file, renames
 * them all into new/ or cur/ and fsyncs each of those directories once.
 * At most 64 staged files are kept open: stage fsyncs and closes them when
 * that many are pending (still invisible). The batch (everything staged
 * since the last successful sync) is all or nothing: when stage or sync
 * returns -1, every message of the batch has been removed from tmp/, new/
 * and cur/. A crash before sync returns leaves no incomplete file in new/
 * or cur/; record the messages as fetched only after sync returns 0.
 * Sync with nothing staged returns 0. */
int		 maildir_deliver_stage(struct maildir_delivery *, const char *flags,
		    char **name, char **cause);
int		 maildir_sync(struct maildir *, char **cause);

/* The two halves of maildir_sync, for callers with an intent journal
 * (state.h): prepare makes every staged file durable in tmp/ (nothing
 * visible yet); the caller then journals the final names and calls
 * maildir_sync. When prepare fails the batch is discarded. Once prepare
 * succeeded the files belong to the journal: a failing maildir_sync (or a
 * maildir_close before it) leaves them where they are, as a crash would,
 * for maildir_recover; the caller keeps its journal entries. */
int		 maildir_sync_prepare(struct maildir *, char **cause);
/* For a delivery agent (mda.h) in place of the sync: a staged file of
 * the batch, by the final name stage gave it, opened for reading from
 * its start (it stays in tmp/): a descriptor, or -1 with errno. When
 * the agents are done, maildir_staged_drop removes the batch's files
 * from tmp/ (what they hold is the agents' now, or fetched again). */
int		 maildir_staged_open(struct maildir *, const char *final);
void		 maildir_staged_drop(struct maildir *);

/* After a crash, for the journaled final names finals[0..n-1]: each file
 * still in tmp/ is moved into place; then each is looked for, at its final
 * name (one stat), else, for those still not found, in one scan of cur/
 * by its unique name (a mail reader moves new/X to cur/X:2,S). found[i]
 * (n of them, filled; free with maildir_found_clear) says where: in new/
 * or cur/ under the name given, or MAILDIR_GONE, found nowhere (a reader
 * deleted or refiled it, or someone removed the tmp/ file). 0, or -1
 * with *cause (nothing to free). */
enum maildir_where {
	MAILDIR_GONE = 0,
	MAILDIR_IN_NEW,
	MAILDIR_IN_CUR
};
struct maildir_found {
	enum maildir_where	 where;
	int			 moved;		/* out of tmp/ just now */
	char			*name;		/* its name there; NULL: gone */
};
int		 maildir_recover(struct maildir *, const char *const *finals,
		    size_t n, struct maildir_found *found, char **cause);
void		 maildir_found_clear(struct maildir_found *, size_t n);
/* The bytes of the files found (not gone), from their ",S=" sizes. */
uint64_t	 maildir_found_bytes(const struct maildir_found *, size_t n);
/* The full path of a file maildir_recover found (the caller frees it);
 * NULL when it is gone. */
char		*maildir_found_path(const struct maildir *,
		    const struct maildir_found *);
/* Opens a file maildir_recover found, for reading, refusing a symbolic
 * link: a descriptor, or -1 with errno (ENOENT when it is gone). */
int		 maildir_open_found(struct maildir *,
		    const struct maildir_found *);

/* The full path of a delivered message by its final name (as stage or
 * commit returned it): in new/, or in cur/ when it has flags. The caller
 * frees it. */
char		*maildir_final_path(const struct maildir *, const char *final);

/* Bytes written so far to a delivery. */
size_t		 maildir_delivery_size(const struct maildir_delivery *);

#endif
