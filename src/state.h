/* state.h: what each account has already delivered, one file per account
 * under the state directory, replaced atomically; plus a per-account lock
 * so that two processes never fetch the same account at once.
 *
 * A state file that cannot be read back exactly (truncated, corrupt, an
 * unknown version) is an error, never silently treated as empty: that would
 * fetch everything again or lose track of what was delivered. */
#ifndef MAILFETCHD_STATE_H
#define MAILFETCHD_STATE_H

#include <stddef.h>
#include <stdint.h>

struct state;

/* IMAP: one record per remote folder. */
/* state_folder.first_mode: what a folder's first fetch left on the
 * server. */
#define STATE_FIRST_NEW		1	/* all it found */
#define STATE_FIRST_UNSEEN	2	/* the read mail it found */

struct state_folder {
	char		*name;		/* remote name, as the server spells it */
	uint32_t	 uidvalidity;	/* 0: never selected */
	uint32_t	 last_uid;	/* highest UID delivered (or skipped) */
	char		*pending;	/* server actions still owed (an IMAP
					 * UID set as text); NULL: none. Set
					 * with state_folder_set_pending */
	char		*missing;	/* UIDs up to last_uid that the server
					 * listed but did not deliver, asked
					 * for again (an IMAP UID set as
					 * text); NULL: none. Set with
					 * state_folder_set_missing */
	char		*suspect;	/* messages the server once sent far
					 * larger than announced, asked once
					 * more, alone, last (state.c:
					 * "suspect"); NULL: none. Set with
					 * state_folder_set_suspect */
	int		 matching;	/* the UIDVALIDITY changed and the pass
					 * matching the folder's messages
					 * against the msgids log has not
					 * completed: the next run resumes
					 * it above last_uid */
	uint32_t	 matching_until;	/* with matching: the highest
					 * UID present at the change (what
					 * the pass may leave untouched);
					 * 0: not known yet */
	uint32_t	 first_until;	/* first_fetch = unseen, its first
					 * pass not through: UIDs up to
					 * this one are fetched only when
					 * unread; 0: none */
	int		 trash_bounded;	/* with first_until UINT32_MAX: a
					 * trash mark whose bound (last_uid)
					 * is raised after each move into it
					 * (imap_trash_bound_done); 0: an
					 * older version's mark, bound at its
					 * next SELECT's UIDNEXT */
	int		 first_mode;	/* how the folder's first fetch
					 * filtered (STATE_FIRST_NEW or
					 * _UNSEEN); 0: it did not, or an
					 * older version fetched it */
	long long	 first_time;	/* when it began (Unix time);
					 * kept in the record, unused */
	uint64_t	 modseq;	/* local_flags = mirror with CONDSTORE
					 * (RFC 7162): the server's flag
					 * changes up to this HIGHESTMODSEQ
					 * are applied to the Maildir; 0:
					 * none known (a full flag fetch) */
	uint32_t	 modseq_uidvalidity; /* the UIDVALIDITY modseq
					 * belongs to: of another epoch it
					 * names nothing */
};

/* Takes the account's lock (state_dir/NAME.lock, flock, our pid written
 * inside) and loads state_dir/NAME.state if it exists. NAME is the account
 * name with anything outside [A-Za-z0-9._-], and a leading '.', written
 * %XX. state_dir is created (0700, parents too) if missing. Fails with
 * *cause (caller frees) when the lock is held ("account NAME is already
 * being fetched by another mailfetchd (pid N); lock FILE"; a second open
 * in the same process fails too), or the file is unreadable or corrupt
 * (the message names the file and line, what is wrong, and how to start
 * over; the file is never modified). */
struct state	*state_open(const char *state_dir, const char *account,
		    char **cause);
/* Reads only the intent journal (and the trash folders) of an account's
 * state file, without its lock (the file is replaced atomically, so it is
 * always read whole): for state_inflight_count, state_inflight_at,
 * state_trashed_has and state_close only. A missing
 * file is an empty journal; an unreadable or corrupt one fails as
 * state_open does. Another process may change the journal right after. */
struct state	*state_open_journal(const char *state_dir, const char *account,
		    char **cause);
/* Releases the lock and frees everything. Unsaved changes are lost. NULL is
 * a no-op. */
void		 state_close(struct state *);
/* Writes the whole state atomically: temp file, fsync, rename, fsync dir.
 * On failure the previous file is kept (unless only the directory fsync
 * failed: the message says so) and no temp file is left. */
int		 state_save(struct state *, char **cause);
/* The state directory. Do not free. */
const char	*state_dir(const struct state *);
/* The path of another file of account's in state_dir, named as its
 * state file but with suffix (".hook"); the caller frees it. */
char		*state_account_file(const char *state_dir, const char *account,
		    const char *suffix);
/* The file path. Do not free. */
const char	*state_path(const struct state *);

/* IMAP folders. Returns the record (owned by the state, valid until
 * state_close or state_folder_remove), creating it (zeroed) when create is
 * set. NULL if absent and !create, or if name is "" or longer than 2048
 * bytes (never created). */
struct state_folder *state_folder_get(struct state *, const char *name,
		    int create);
void		 state_folder_remove(struct state *, const char *name);
/* Replaces the folder's pending text with a copy of text (any bytes, any
 * length); NULL or "" clears it. */
void		 state_folder_set_pending(struct state_folder *,
		    const char *text);
/* The same for the folder's missing text, and its suspect text. */
void		 state_folder_set_missing(struct state_folder *,
		    const char *text);
void		 state_folder_set_suspect(struct state_folder *,
		    const char *text);
size_t		 state_folder_count(const struct state *);
/* i-th folder in name order; NULL past the end. */
struct state_folder *state_folder_at(struct state *, size_t);

/* IMAP folders delivered mail was moved into as the trash (keep = no):
 * a folder pattern never fetches one, whatever the server says of its
 * role later (review r11 01). Names as the server spells them, compared
 * without ASCII case (a case-insensitive server lists "Deleted Items"
 * for the trash_folder "deleted items": review r11 12); the oldest of
 * more than 32 is forgotten. add returns 1
 * when added (saved with the next state_save), 0 when already there (it
 * is then made the most recent), -1 for "" or a name longer than 2048
 * bytes. last: the most recently added, the account's trash as the last
 * session that resolved it saw it (an IDLE session compares its own:
 * review r11 13); NULL when none. */
int		 state_trashed_has(const struct state *, const char *name);
int		 state_trashed_add(struct state *, const char *name);
const char	*state_trashed_last(const struct state *);

/* POP3 UIDLs already delivered (any bytes but CR, LF, NUL; 1 to 70
 * characters per RFC 1939, others refused with -1 by add and never "had").
 * add returns 0 when added or already present, -1 also when the set is
 * full (67 million UIDLs) or its scratch file failed. Saved in the order
 * first listed or added. The UIDLs themselves live in a scratch file in
 * the state directory (uidlset.h); after a scratch file error nothing is
 * found and state_save fails. */
int		 state_uidl_has(struct state *, const char *uidl);
int		 state_uidl_add(struct state *, const char *uidl);
size_t		 state_uidl_count(const struct state *);
/* Keeps only the UIDLs in present[0..n-1] (what the server still lists);
 * returns how many were dropped. Invalidates every listing id. */
size_t		 state_uidl_prune(struct state *, const char *const *present,
		    size_t n);

/* A POP3 session's listing, kept in the state's own UIDL set so that
 * the session needs no copy of any UIDL: list_begin forgets the
 * previous listing (its ids become invalid, as with state_uidl_prune);
 * list records one listed UIDL, delivered or not, and returns its id
 * (valid until the next list_begin or state_uidl_prune), or
 * STATE_UIDL_NONE for a UIDL that add would refuse; *again is set when it
 * was already listed since list_begin (the server gave two messages one
 * UIDL). list_prune forgets the delivered UIDLs not listed since
 * list_begin and returns how many; with grace, a delivered UIDL (its
 * size recorded or not) is only marked absent (kept, saved with the
 * mark) the first time, and forgotten when the next listing leaves it
 * out too (a listing that names it takes the mark off). A listed UIDL that is not
 * delivered is neither "had", counted nor saved. */
#define STATE_UIDL_NONE	UINT32_MAX
void		 state_uidl_list_begin(struct state *);
uint32_t	 state_uidl_list(struct state *, const char *uidl, int *again);
size_t		 state_uidl_list_prune(struct state *, int grace);
/* spare keeps a delivered UIDL (its size recorded or not) that the
 * listing since list_begin did not name through the next list_prune,
 * marked absent, even without grace; not one absent already (returns 0
 * then, 1 when spared). absent: whether an id is so marked. */
int		 state_uidl_spare(struct state *, const char *uidl);
int		 state_uidl_absent(const struct state *, uint32_t id);
/* Whether the listing since list_begin named the id more than once. */
int		 state_uidl_shared(const struct state *, uint32_t id);
/* Why the UIDL set stopped working, "cannot use the UIDL scratch file in
 * DIR: ERROR" (caller frees; then every UIDL call fails and state_save
 * refuses with it), NULL if it did not. */
char		*state_uidl_failure(const struct state *);
/* The id of a listed or delivered UIDL, STATE_UIDL_NONE if neither. */
uint32_t	 state_uidl_find(struct state *, const char *uidl);
/* The text of an id (NUL-terminated, valid until the next call of any
 * state_uidl_ function: copy it to keep it; "" after a scratch file
 * error), whether it is delivered, and marking it delivered. */
const char	*state_uidl_text(struct state *, uint32_t id);
int		 state_uidl_delivered(const struct state *, uint32_t id);
void		 state_uidl_deliver(struct state *, uint32_t id);
/* The size LIST gave for the message delivered under an id (0: not
 * recorded, as by older versions), and recording it (saved with the
 * UIDL while it is delivered; 0 forgets it). */
uint32_t	 state_uidl_size(const struct state *, uint32_t id);
void		 state_uidl_set_size(struct state *, uint32_t id, uint32_t size);
int		 state_uidl_resized(const struct state *, uint32_t id);
void		 state_uidl_set_resized(struct state *, uint32_t id);
/* Takes the delivered mark off a listed id again (then neither "had",
 * counted nor saved, and fetched by the session); no-op on any other. */
void		 state_uidl_undeliver(struct state *, uint32_t id);

/* Messages a delivery agent (deliver = mda | lmtp) refused, held back
 * until a retry time so that one refused for good is not downloaded again
 * at every poll (review r23 05). Keyed by folder ("INBOX" for POP3) and a
 * key naming the message there (imap.c: "UIDVALIDITY.UID"; pop3.c:
 * "UIDL<tab>SIZE"), both at most 2048 bytes (longer ones are not held).
 * count: the refusals in a row; until: the Unix time before which it is
 * not handed over again. A record only holds back: dropped (the cap, a
 * crash before the save), the message is simply tried sooner. */
struct state_refusal {
	char		*folder;
	char		*key;
	unsigned int	 count;
	long long	 until;
};
/* Records kept at most; past it the oldest refusal is forgotten. */
#define STATE_REFUSED_MAX	256
/* The hold after the first refusal is two poll intervals, doubled at each
 * refusal in a row, at most a day. An agent that asked to be tried later
 * (temporary: exit 75, LMTP 4xx) gets no hold the first time in a row
 * (retry time now: tried at the next poll), then the same from the
 * second, at most an hour. */
#define STATE_REFUSED_CAP	86400
#define STATE_REFUSED_TEMP_CAP	3600
/* The record of a message, NULL if none. */
const struct state_refusal *state_refused_get(const struct state *,
		    const char *folder, const char *key);
/* One more refusal of a message at now: its count raised and its retry
 * time set (interval: the account's poll interval, in seconds). Returns
 * the record (valid until the next change), NULL when not held (a folder
 * or key too long or empty). */
const struct state_refusal *state_refused_note(struct state *,
		    const char *folder, const char *key, int temporary,
		    unsigned int interval, long long now);
/* Forgets a message's record (delivered); a no-op when none. */
void		 state_refused_drop(struct state *, const char *folder,
		    const char *key);
/* Keeps of folder's records only those keep(arg, key) says still name a
 * message waiting on the server; returns how many were dropped. */
size_t		 state_refused_keep(struct state *, const char *folder,
		    int (*keep)(void *, const char *), void *arg);
size_t		 state_refused_count(const struct state *);

/* The daemon's download history for the daily budget, kept as opaque text
 * (schedule_budget_format), at most 4096 bytes. get returns NULL when none
 * was saved (do not free); set copies text (NULL or "" clears it) and
 * returns -1, changing nothing, when it is too long. */
const char	*state_budget_get(const struct state *);
int		 state_budget_set(struct state *, const char *text);


/* The intent journal (doc/DESIGN.md promise 1): a session records each
 * message of a batch here, and saves, after the files are durable in tmp/ and
 * before they are moved into new/ or cur/; after the move it records them
 * as delivered (last_uid, UIDLs) and clears the entries, and saves again.
 * A run that finds entries left over from a crash finishes or undoes them
 * (maildir_recover) before it fetches anything, so no message is lost or
 * delivered twice whenever the process dies. */
struct state_inflight {
	char	*folder;	/* remote folder ("INBOX" for POP3) */
	char	*id;		/* opaque here: IMAP UID, UIDVALIDITY, size,
				 * state and Message-ID (imap.c); POP3 UIDL */
	char	*file;		/* the message's final Maildir name */
};
void		 state_inflight_add(struct state *, const char *folder,
		    const char *id, const char *file);
size_t		 state_inflight_count(const struct state *);
/* The i-th entry, NULL past the end; valid until the journal changes. */
const struct state_inflight *state_inflight_at(const struct state *, size_t);
/* Drops the entries of one folder, or all with NULL. */
void		 state_inflight_clear(struct state *, const char *folder);

#endif
