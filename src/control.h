/* control.h: the daemon's local control socket, and the client side used
 * by `mailfetchd --status` and by `mailfetchd --once` to ask a running
 * daemon instead of fighting it for the account locks.
 *
 * A unix stream socket, mode 0600, in a directory owned by the daemon's
 * user (or root) that no one else may write. The protocol is lines of
 * text ending in LF (a CR before it is ignored), at most
 * CONTROL_LINE_MAX bytes; the client sends one command, the daemon
 * answers with zero or more lines and a line holding only ".", then the
 * client may send the next command:
 *
 *	status
 *		One line per account, in configuration order:
 *		"NAME: STATE[; idle on F, F][; connecting IDLE on F]
 *		[; polling F, F]; connections N; last success WHEN; next
 *		poll in DURATION; today N messages, N bytes[; IDLE mail
 *		waits for the daily budget until TIME]; last error WHAT"
 *		STATE is polling, idle, waiting for a connection, backing
 *		off, paused (daily budget), stopped (until reload) or
 *		re-authorisation needed (an OAuth2 grant to renew); the
 *		folder lists are IMAP's (configured names), connections
 *		counts the poll's and the IDLE sessions'.
 *	fetch [NAME...]
 *		Makes the named accounts (every account without a name)
 *		due now and answers, as each one's poll ends (one already
 *		polling: the end of that poll), "NAME STATUS MESSAGES BYTES
 *		TEXT": STATUS an exit status of mailfetchd(8) (enum
 *		fetch_exit), TEXT its name or why the poll did not run,
 *		then "; reconnecting IDLE now on FOLDER" (or "on N
 *		folders") when IDLE folders waiting to reconnect were
 *		made to at once (the answer does not wait for them).
 *		An account that may not poll yet (schedule_fetch_allowed;
 *		an IDLE login the server refused as busy, too) is
 *		answered at once with STATUS 10 (EXIT_DEFERRED) and
 *		"not fetched: WHY; next attempt allowed in DURATION (at
 *		TIME)".
 *		An account the daemon does not run: "NAME unknown".
 *		While the answer is not complete, a line "# busy" every
 *		CONTROL_KEEPALIVE seconds ('#' starts no account name):
 *		the asker (--once, a cron job) gives up after
 *		CONTROL_FETCH_SILENCE seconds without a line, so a daemon
 *		that hangs or is stopped (an owner may SIGSTOP its own
 *		privsep worker) cannot hold it for ever (review r24 10).
 *	status-json [NAME...]
 *		The state as data (status.h): first "daemon JSON", the
 *		daemon's record, then "account JSON" for each account (all,
 *		in configuration order, or the named ones in that order);
 *		"unknown NAME" for a name the daemon does not run. Each
 *		JSON is one object on one line (doc/status.schema.json,
 *		$defs daemon and account); the client makes the document.
 *	metrics
 *		The sample lines of the metrics file for the daemon's
 *		accounts (metrics.h), without HELP and TYPE: what the
 *		privsep supervisor merges into one file.
 *
 * Errors are one line "error TEXT" (then "."). `status`, `status-json`
 * and `metrics` are answered to
 * anyone who can connect (the file mode decides who can); `fetch` only to
 * root and the daemon's own uid, from the peer's SO_PEERCRED. A line too
 * long, bytes that are not printable text, more than CONTROL_CLIENTS_MAX
 * clients ("error too many clients"), a command not whole within
 * CONTROL_TIMEOUT seconds or that long without taking an answer end the
 * connection. */
#ifndef MAILFETCHD_CONTROL_H
#define MAILFETCHD_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#include "compat.h"

#define CONTROL_LINE_MAX	1024	/* bytes of one line, LF included */
#define CONTROL_ARGS_MAX	64	/* names in one command */
#define CONTROL_CLIENTS_MAX	16	/* connections at once */
#define CONTROL_TIMEOUT		10	/* seconds to send a whole command
					 * (from the connect, or the end of
					 * the last answer), or to take an
					 * answer */
#define CONTROL_KEEPALIVE	5	/* seconds between "# busy" lines
					 * while a fetch is answered */
#define CONTROL_FETCH_SILENCE	20	/* seconds a fetch's asker waits
					 * for a line before it gives up */
#define CONTROL_NAME		"control" /* in the runtime or state dir */

/* The system unit's socket (RuntimeDirectory=mailfetchd): tried by the
 * client as well when the configuration names none, its state_dir is the
 * default one and RUNTIME_DIRECTORY is not set (an admin's shell). */
#define CONTROL_SYSTEM_PATH	"/run/mailfetchd/" CONTROL_NAME

struct control;

/* What the daemon does with a command. Each gets a request id; the answer
 * is given with control_reply and control_end, at once or later (fetch).
 * An id whose client went away is ignored by both, so the daemon never
 * needs to know. names are valid during the call only. */
struct control_ops {
	void	(*status)(struct control *, uint64_t id, void *arg);
	void	(*fetch)(struct control *, uint64_t id,
		    const char *const *names, size_t n, void *arg);
	void	(*status_json)(struct control *, uint64_t id,
		    const char *const *names, size_t n, void *arg);
	void	(*metrics)(struct control *, uint64_t id, void *arg);
};

/* Creates the socket at path (mode 0600) and listens on base. A socket
 * file left by a daemon that is gone is replaced; one that answers, a
 * file that is not a socket, or a directory that is not ours is an error.
 * Returns NULL with *cause (caller frees). ops and arg are borrowed. */
struct control	*control_new(struct event_base *, const char *path,
		    const struct control_ops *, void *arg, char **cause);
/* Closes every client and the socket, and removes the socket file (if it
 * is still ours). NULL is a no-op. */
void		 control_free(struct control *);
const char	*control_path(const struct control *);
/* Adds one answer line to request id (no LF; control characters are
 * replaced). Ignored if the client is gone. */
void		 control_reply(struct control *, uint64_t id, const char *, ...)
		    printflike(3, 4);
/* Ends the answer to request id (the "." line); the client's next command
 * is read. Ignored if the client is gone. */
void		 control_end(struct control *, uint64_t id);

/* Client side. */

/* Connects to a daemon's socket: the fd, or -1 with *cause (caller frees)
 * and errno: ENOENT or ECONNREFUSED when no daemon is there. */
int		 control_connect(const char *path, char **cause);
struct config;
/* Connects to the configuration's daemon: its control_socket, and the
 * system unit's (CONTROL_SYSTEM_PATH) when the configuration leaves the
 * path to the default and this shell is not the unit. -1 with *cause
 * (caller frees) when nothing answers. */
int		 control_connect_daemon(const struct config *, char **cause);
/* One line of an answer (LF and the final "." not included): at most
 * CONTROL_ANSWER_MAX bytes (an account's status-json record with many
 * folders is long). */
#define CONTROL_ANSWER_MAX	(1024 * 1024)
typedef void	(*control_line_cb)(const char *line, void *arg);
/* Sends command on fd and calls cb for each line of the answer. timeout:
 * seconds to wait for each line (0: no limit). Returns 0 after the final
 * ".", or -1 with *cause (caller frees). */
int		 control_command(int fd, const char *command, int timeout,
		    control_line_cb, void *arg, char **cause);
/* The same for an answer from a peer root does not trust (privsep's
 * supervisor asking an owner's daemon): total_ms bounds the whole answer,
 * not each read, and past max_bytes bytes or max_lines lines (0: no cap)
 * it stops reading: -1 with *cause. */
int		 control_command_bounded(int fd, const char *command,
		    int total_ms, size_t max_bytes, size_t max_lines,
		    control_line_cb, void *arg, char **cause);
/* Connects to path, the connect bounded by total_ms, and checks that the
 * listener is process pid with uid (SO_PEERCRED gives the one that called
 * listen): the socket of a daemon root started in a directory its owner
 * controls may have been replaced by the owner's own. -1 with *cause
 * (caller frees) otherwise, errno EPERM for another listener. */
int		 control_connect_peer(const char *path, int total_ms,
		    pid_t pid, uid_t uid, char **cause);

/* The same when the daemon's pid is not known (root's --once and --status
 * of an owner's daemon): the listener must have uid (unless (uid_t)-1)
 * and be a child of a process of root's running this program, as a
 * worker of root's privsep supervisor is; an owner cannot make one. -1
 * with *cause (caller frees) otherwise, errno EPERM for another
 * listener: nothing was sent to it. */
int		 control_connect_supervised(const char *path, int total_ms,
		    uid_t uid, char **cause);

#endif
