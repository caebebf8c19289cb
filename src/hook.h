/* hook.h: the commands mailfetchd runs for the user, as goimapnotify's
 * onNewMail and fetchmail's postconnect do: new_mail_command once a fetch
 * delivered mail (--once, polls and IDLE pushes alike), failure_command
 * when an account needs a person (a refused login, an OAuth2 grant to
 * renew, an account stopped until a reload).
 *
 * A hook runs the way password_command does (secret_cmd_spawn): split
 * into words without a shell, under a supervisor that kills everything
 * it started, in a child the event loop watches, never waited for inside
 * the loop. It runs as the process that fetched: under privsep the
 * owner's worker, never root unless the account runs as root. At most one
 * hook runs per account at a time: mail that arrives meanwhile waits, and
 * all that waited goes to exactly one more run afterwards. A hook past
 * hook_timeout is killed with all it started. Its output is logged, a
 * line each. What new_mail_command owes is kept in state_dir until its
 * run ended (at least once, across stops). How it ended is logged and
 * kept (hook_last, for --status); it never changes what was fetched, the
 * Maildir or the state: it runs after they are durable. */
#ifndef MAILFETCHD_HOOK_H
#define MAILFETCHD_HOOK_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "maildir.h"

/* Paths listed to one run at most (the count says how many came): memory
 * stays bounded however much a server sends. */
#define HOOK_FILES_MAX		10000

/* New files made durable by a session, for new_mail_command. */
struct hook_files {
	char		**paths;	/* absolute; at most HOOK_FILES_MAX */
	size_t		  npaths;
	char		**folders;	/* remote names, each once */
	size_t		  nfolders;
	unsigned long	  count;	/* every new file, listed or not */
};

/* Adds a delivered file (path taken over; beyond HOOK_FILES_MAX only
 * counted) of folder (copied). */
void	 hook_files_add(struct hook_files *, const char *folder, char *path);
/* Counts a message of folder handed to a delivery agent (deliver = mda
 * or lmtp): there is no file to list, only the count and the folder. */
void	 hook_files_count(struct hook_files *, const char *folder);
/* Adds the files a journal recovery found (maildir_recover: those
 * delivered by an interrupted run, which never reached a hook), of
 * folder; those found nowhere are left out. */
void	 hook_files_found(struct hook_files *, const char *folder,
	    const struct maildir *, const struct maildir_found *, size_t n);
/* Frees the paths; the count and the folders stay. */
void	 hook_files_unlist(struct hook_files *);
/* Appends src to dst and empties src. */
void	 hook_files_move(struct hook_files *dst, struct hook_files *src);
void	 hook_files_clear(struct hook_files *);

struct event_base;
struct hook;

/* The hooks of one event loop (the daemon's, or --once's); what
 * new_mail_command owes is kept in state_dir (NULL: nowhere). */
struct hook	*hook_new(struct event_base *, const char *state_dir);
/* A reload changed state_dir: what new_mail_command owes moves there
 * (each account's pending file is written in the new directory, then
 * removed from the old one). */
void		 hook_state_dir(struct hook *, const char *state_dir);
/* Kills every running hook (logged) and frees; what new_mail_command
 * owes stays in state_dir for the next process. NULL is a no-op. */
void		 hook_free(struct hook *);
/* A fetch of ac made files durable: runs ac's new_mail_command now, or
 * after the account's hook running now, for those and for what the
 * account's fetches handed to hook_owe. Takes the files (files is left
 * empty, may be NULL); nothing happens when there are none or no
 * command is set. */
void		 hook_new_mail(struct hook *, const struct account_conf *,
		    struct hook_files *files);
/* A fetch of ac still running made files durable (a batch, a journal
 * recovery's), which its state save is about to make the journal
 * forget: kept in state_dir/ACCOUNT.hook now, so that a kill -9 or an
 * aborted fetch loses no run; they run with the next hook_new_mail of
 * the account (its fetch's end). Takes the files (files is left empty);
 * when ac has no new_mail_command, only the paths go (the count stays:
 * the files are not listed to a command a reload adds meanwhile);
 * nothing happens (files kept) when h is NULL or nothing is kept in
 * state_dir. */
void		 hook_owe(struct hook *, const struct account_conf *,
		    struct hook_files *files);
/* A fetch of ac was aborted (a reload changed the account): what it
 * handed to hook_owe runs now, as at its end. */
void		 hook_fetch_aborted(struct hook *, const struct account_conf *);
/* A fetch of ac ended: status (enum fetch_exit), reauth (the login
 * wants a new OAuth2 grant), stopped (the account waits for a reload);
 * text: what went wrong, for the user. Runs failure_command when the
 * account enters a state that needs a person (see hook.c), once per
 * such state: not again at each retry. A success leaves that state. */
void		 hook_fetch_ended(struct hook *, const struct account_conf *,
		    int status, int reauth, int stopped, const char *text);
/* Runs the loop until no hook runs or waits (each is bounded by its
 * timeout), at most ms milliseconds (< 0: no bound), or until the loop
 * is told to exit: --once waits for its hooks before it exits, a
 * stopping daemon within its grace. 1 when a hook still runs. */
int		 hook_wait(struct hook *, long ms);
/* How many hooks run now. */
unsigned int	 hook_running(const struct hook *);

/* How the account's last hook ended, for --status: 0, or -1 when none
 * ran yet. The strings are the hook's until its next run. */
struct hook_result {
	const char	*which;		/* "new_mail_command", ... */
	time_t		 when;		/* ended then */
	int		 ok;		/* exited with status 0 */
	const char	*text;		/* "exited with status 1", ... */
};
int		 hook_last(const struct hook *, const char *account,
		    struct hook_result *);

#endif
