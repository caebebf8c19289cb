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
struct state_folder {
	char		*name;		/* remote name, as the server spells it */
	uint32_t	 uidvalidity;	/* 0: never selected */
	uint32_t	 last_uid;	/* highest UID delivered (or skipped) */
};

/* Takes the account's lock (state_dir/NAME.lock, flock, our pid written
 * inside) and loads state_dir/NAME.state if it exists. state_dir is created
 * (0700) if missing. Fails with *cause (caller frees) when the lock is held
 * ("account NAME is being fetched by pid N"), or the file is unreadable or
 * corrupt (the message names the file and what is wrong). */
struct state	*state_open(const char *state_dir, const char *account,
		    char **cause);
/* Releases the lock and frees everything. Unsaved changes are lost. NULL is
 * a no-op. */
void		 state_close(struct state *);
/* Writes the whole state atomically: temp file, fsync, rename, fsync dir. */
int		 state_save(struct state *, char **cause);
/* The file path. Do not free. */
const char	*state_path(const struct state *);

/* IMAP folders. Returns the record (owned by the state, valid until
 * state_close or state_folder_remove), creating it when create is set.
 * NULL if absent and !create. */
struct state_folder *state_folder_get(struct state *, const char *name,
		    int create);
void		 state_folder_remove(struct state *, const char *name);
size_t		 state_folder_count(const struct state *);
/* i-th folder in name order; NULL past the end. */
struct state_folder *state_folder_at(struct state *, size_t);

/* POP3 UIDLs already delivered (any bytes but CR, LF, NUL; at most 70
 * characters per RFC 1939, longer ones refused with -1). */
int		 state_uidl_has(const struct state *, const char *uidl);
int		 state_uidl_add(struct state *, const char *uidl);
size_t		 state_uidl_count(const struct state *);
/* Keeps only the UIDLs in present[0..n-1] (what the server still lists);
 * returns how many were dropped. */
size_t		 state_uidl_prune(struct state *, const char *const *present,
		    size_t n);

#endif
