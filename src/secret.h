/* secret.h: an account's password or OAuth2 access token, from
 * password_file, password_command, token_command or the built-in OAuth2
 * client (oauth2.h, for an oauth2 section). Asked afresh at every
 * connect, so a long-running daemon never holds a stale token. */
#ifndef MAILFETCHD_SECRET_H
#define MAILFETCHD_SECRET_H

#include <sys/types.h>

#include <time.h>

#include "config.h"

/* Longest secret accepted (an OAuth2 access token can be a few KB). */
#define SECRET_MAX	16384
/* How long a password_command or token_command may run. */
#define SECRET_COMMAND_TIMEOUT	30

/* Returns the secret (the first line of the file or of the command's
 * standard output, trailing CR/LF removed); the caller frees it with
 * xfree_secret(). The secret is registered with log_add_secret() so it can
 * never reach a log line. NULL and *cause (naming the file or command,
 * never the secret) on error. Commands are split into words by
 * cmdline_split() and run without a shell (write "sh -c '...'" to get one);
 * they may block for up to SECRET_COMMAND_TIMEOUT seconds: a daemon's
 * sessions use secret_job_start instead. */
char	*secret_get(const struct account_conf *, char **cause);
/* The same, with the kind of failure in *status (an enum fetch_exit):
 * EXIT_AUTH for a refused OAuth2 grant (re-authorisation needed),
 * EXIT_NETWORK for an unreachable token endpoint, else EXIT_CONFIG. */
char	*secret_get_status(const struct account_conf *, int *status,
	    char **cause);

/* The same without blocking the caller's event loop: a password_command
 * or token_command runs in a child whose stdout the loop watches (killed
 * after SECRET_COMMAND_TIMEOUT, with the messages of secret_get), an
 * OAuth2 refresh runs oauth2_token in a child (the access token then goes
 * into this process's cache; a valid cached token needs no child). The
 * callback comes from the loop, never from inside secret_job_start, once:
 * with the secret (free with xfree_secret) or NULL, the status of
 * secret_get_status and the cause (the callback frees both). Free the job
 * with secret_job_free, also from inside the callback; freeing it before
 * kills the child. A password_file is read at once (its result still
 * comes through the loop). secret_needs_job: whether the account's
 * secret comes from a command or OAuth2, which may take long. */
struct event_base;
struct secret_job;
typedef void	(*secret_job_cb)(char *secret, int status, char *cause,
		    void *arg);
int		 secret_needs_job(const struct account_conf *);
struct secret_job *secret_job_start(struct event_base *,
		    const struct account_conf *, secret_job_cb, void *arg);
void		 secret_job_free(struct secret_job *);

/* Memory for secrets: whole pages of their own, left out of core dumps
 * (MADV_DONTDUMP) and locked where the limit allows; zeroed. secret_free()
 * wipes and unmaps; NULL is a no-op. Aborts when out of memory. */
void	*secret_alloc(size_t);
void	 secret_free(void *);

/* Called once at startup: no core dumps, not dumpable (no ptrace or
 * /proc/PID/mem by other processes of the same user). Logs failures. */
void	 secret_harden_process(void);


/* A command run under the supervisor of password_command (secret.c): in
 * a process group of its own, with everything it starts in its session
 * killed when it ends or is killed, and killed with the daemon. Also
 * used by the hooks (hook.h). env: "NAME=value" strings added to its
 * environment (NULL-ended; NULL: none); infd: its stdin (-1: the
 * daemon's); outfd: its stdout; errfd: its stderr (-1: the daemon's).
 * Every other descriptor is closed. */
struct secret_cmd {
	char		**argv;
	char		**env;
	int		  infd;
	int		  outfd;
	int		  errfd;
	int		  holdfd;	/* -1, or the writer's end of infd's
					 * pipe: the supervisor keeps it open
					 * until secret_cmd_release, so that
					 * the command sees EOF only once its
					 * input is whole, never when the daemon
					 * dies while writing (the command is
					 * killed then instead) */
};
/* Starts it and returns the supervisor's pid, whose exit status is the
 * command's (or its signal); the caller reaps it (waitpid). -1 and
 * *cause (what: the option's name, for the message) when it could not
 * be started, a failed exec included ("cannot run 'x': ..."). */
pid_t	 secret_cmd_spawn(const struct secret_cmd *, const char *what,
	    char **cause);
/* Has the supervisor kill the command and all it started, then reaps
 * it (within a few seconds); its wait status in *wstatus (may be NULL). */
void	 secret_cmd_kill(pid_t, int *wstatus);
/* Only asks the supervisor to kill the command and all it started (it
 * exits within SECRET_KILL_SECONDS): the caller reaps it without
 * waiting (waitpid WNOHANG), never blocking its loop. */
void	 secret_cmd_abort(pid_t);
/* Tells the supervisor that the command's input is whole: it closes its
 * copy of holdfd, and the command sees EOF. */
void	 secret_cmd_release(pid_t);
/* Milliseconds since *started (CLOCK_MONOTONIC). */
long	 secret_cmd_elapsed_ms(const struct timespec *started);
/* One poll of a command that runs under a time limit (an agent, a hook):
 * secret_cmd_abort once timeout_ms have passed since started, then, if it
 * is still there kill_ms later, SIGKILL to its process group and to it.
 * *killing: 0 (running), 1 (aborted at *killed_ms), 2 (killed). */
void	 secret_cmd_escalate(pid_t, const struct timespec *started,
	    long timeout_ms, long kill_ms, int *killing, long *killed_ms);
/* How a command ended, as a phrase for "'cmd' ..." ("exited with status
 * 1", "was killed by signal 9", "timed out after N seconds and was
 * killed" when timed_out); NULL when it exited 0. The caller frees. */
char	*secret_cmd_how(int wstatus, int timed_out, unsigned int timeout);

/* The pieces, for tests: */
char	*secret_from_file(const char *path, char **cause);
char	*secret_from_command(const char *what, const char *command,
	    unsigned int timeout, char **cause);

#endif
