/* mda.h: hands one message to a mail delivery agent (deliver = mda in
 * mailfetchd.conf(5)): procmail, maildrop, dovecot-lda, a script.
 *
 * The agent runs as hooks do (hook.h): its command split into words
 * without a shell, the placeholders MDA_KEYS replaced in each word, under
 * the supervisor of secret_cmd_spawn (everything it starts is killed with
 * it), as the process that fetched (under privsep the owner's worker),
 * watched from the event loop, never waited for inside it. The message
 * is streamed to its stdin from the staged file (LF line ends, as stored
 * in a Maildir), optionally after an X-Mailfetchd-Id header line; nothing
 * holds it whole in memory. Past its timeout the agent is killed with all
 * it started.
 *
 * Its exit status says what became of the message: 0 delivered (the
 * agent took it over), 75 (EX_TEMPFAIL, sysexits.h) try again later,
 * anything else (a signal, the timeout) failed; the caller acts on the
 * server only after 0. */
#ifndef MAILFETCHD_MDA_H
#define MAILFETCHD_MDA_H

#include <stddef.h>

/* The placeholders of mda_command, in the order of mda_msg's fields:
 * %a account, %f folder, %u recipient, %s envelope sender ("%%": %). */
#define MDA_KEYS		"afus"
/* EX_TEMPFAIL of sysexits.h: the agent asks to be tried again later. */
#define MDA_EX_TEMPFAIL		75
/* Bytes of the agent's output (stdout and stderr) kept for the report. */
#define MDA_OUTPUT_MAX		1024

enum mda_result {
	MDA_DELIVERED,		/* exit 0 */
	MDA_TEMPFAIL,		/* exit 75 */
	MDA_FAILED,		/* any other exit status; or it could not
				 * start */
	MDA_BROKEN,		/* failed with no word on the message:
				 * killed (a signal, mda_timeout), the
				 * staged file unreadable; with LMTP the
				 * connection refused, lost or out of step.
				 * As MDA_FAILED but for the retry backoff
				 * (mda_hold_note: as MDA_TEMPFAIL) */
};

/* One message's identity for the agent. */
struct mda_msg {
	const char	*account;	/* %a */
	const char	*folder;	/* %f: the remote folder, "INBOX" */
	const char	*user;		/* %u */
	const char	*sender;	/* %s: "" when not known */
	const char	*id;		/* X-Mailfetchd-Id's value; NULL:
					 * no such header line */
};

struct event_base;
struct mda_job;

/* How the agent ended: text says how, with its output, for a log line
 * (after MDA_DELIVERED NULL, or a warning: it left input unread); both
 * are the job's, valid during the call. The job is freed right after
 * the callback returns: the callback must forget it, not free it. */
typedef void (*mda_done_cb)(enum mda_result, const char *text, void *arg);

/* Starts command for the message read from fd (taken over, from its
 * current offset), killed after timeout seconds. NULL and *cause
 * (caller frees) when it could not start: then no callback. */
struct mda_job	*mda_start(struct event_base *, const char *command,
		    unsigned int timeout, const struct mda_msg *, int fd,
		    mda_done_cb, void *arg, char **cause);
/* Kills a running agent with all it started (waiting for it: a few
 * seconds at most), without callback. NULL is a no-op. */
void		 mda_job_free(struct mda_job *);
/* The same for a session freed while its job runs (a reload changed
 * the account, a second stop signal, a stop that outlasted its grace and
 * mda_stop_wait), with a warning (ctx: the message's context): the agent
 * or LMTP server may have taken the message already, which is then
 * handed over again next time, a duplicate. A session that merely ends
 * (the server closed the connection, a stop's grace is over) waits for
 * its job instead (imap.c, pop3.c). */
struct log_ctx;
void		 mda_job_cancel(struct mda_job *, const struct log_ctx *);

/* How long, at most, a job of ac started now may run, in seconds: its
 * mda_timeout and the time the kill after it may take. 0 when ac hands
 * nothing to an agent or LMTP (deliver = maildir, in every folder).
 * What a stop waits for a running job before it kills it. */
struct account_conf;
unsigned int	 mda_stop_wait(const struct account_conf *);

/* For a fetch session: starts the account's agent (deliver: DELIVER_MDA,
 * ac's mda_command) or LMTP transaction (DELIVER_LMTP, ac's lmtp), with
 * ac's mda_timeout and mda_id_header, for the message staged under
 * final in md (maildir_staged_open), of folder, identified by key (as
 * mda_id). NULL and *cause when it could not start. */
struct account_conf;
struct maildir;
struct mda_job	*mda_start_staged(struct event_base *,
		    const struct account_conf *, int deliver, struct maildir *,
		    const char *final, const char *folder, const char *key,
		    mda_done_cb, void *arg, char **cause);
/* Logs how the agent ended for a message (ctx: its context): nothing
 * after a clean MDA_DELIVERED, a warning after an unclean one or
 * MDA_TEMPFAIL, an error after MDA_FAILED or MDA_BROKEN, saying the message stays on
 * the server, handed over again after until (mda_hold_note; 0: at the
 * next poll). */
void		 mda_log(const struct log_ctx *, enum mda_result,
		    const char *text, long long until);

/* Per-message retry backoff (review r23 05): a message the agent refused
 * is held back, not downloaded again, until its retry time (the state's
 * "refused" records, state.h), so that one refused for good costs a
 * download per backoff step, not one per poll. folder: the remote
 * folder ("INBOX" for POP3); key: the message there (imap.c:
 * "UIDVALIDITY.UID", pop3.c: "UIDL<tab>SIZE").
 * note records how the agent ended: a refusal (MDA_FAILED; MDA_TEMPFAIL
 * and MDA_BROKEN: temporary, no hold the first time in a row, a shorter
 * cap) raises the
 * message's hold from ac's poll_interval and returns its retry time (0
 * when not held); MDA_DELIVERED forgets it and returns 0. The caller
 * saves the state. */
struct state;
long long	 mda_hold_note(struct state *, const struct account_conf *,
		    const char *folder, const char *key, enum mda_result);
/* Whether the message is held back at now; if so, *first is lowered to
 * its retry time (0 counts as none yet) and *n counted. */
int		 mda_hold_is(const struct state *, const char *folder,
		    const char *key, long long now, long long *first,
		    unsigned long *n);
/* The one line of a folder's poll on the messages it held back: how
 * many, and the earliest retry time. Nothing for none. */
void		 mda_hold_log(const struct log_ctx *, unsigned long n,
		    long long first);
/* Counts a message held back until until (0: none, not counted) in *n,
 * lowering *first to it; returns until. */
long long	 mda_hold_count(unsigned long *n, long long *first,
		    long long until);
/* A retry time as the logs and --status show it ("2026-12-07
 * 17:29:40", local time) into buf. */
void		 mda_hold_time(long long when, char *buf, size_t len);

/* The envelope sender a message records in its header section: the
 * address of its first Return-Path line ("Return-Path: <a@b>"), looked
 * for in the first len bytes of the message (p), copied into out
 * (outlen bytes with the NUL). "" when there is none, it is "<>", it is
 * folded onto the next line, it does not fit, or it holds a character
 * other than letters, digits and .!#$%&'*+/=?^_`{|}~@- : the value goes
 * into an argv (%s) or an LMTP command, so it must be plain. */
#define MDA_SENDER_MAX		256
void		 mda_return_path(const char *p, size_t len, char *out,
		    size_t outlen);

/* A stable X-Mailfetchd-Id value for a message: "<HEX@mailfetchd>", HEX
 * a SHA-256 prefix of account, folder and key (the POP3 UIDL with the
 * digest of the message's content, mda_content_digest, as a server may
 * give a freed UIDL to a new message; or the IMAP UIDVALIDITY and
 * UID). The same message
 * fetched twice gets the same id, so that Sieve's duplicate test or
 * formail -D drops the second copy; another message gets another. The
 * caller frees it. */
char		*mda_id(const char *account, const char *folder,
		    const char *key);
/* For a POP3 message's mda_id key: the digest of the message read from
 * fd (pread, from its start; the offset is left alone) without the
 * header fields a mailbox server adds or rewrites as it serves a message
 * (Status, X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase, X-UIDL,
 * Content-Length, with their continuation lines): the same message
 * served again with "Status: RO" added (qpopper, UW ipop3d) has the same
 * digest, another message another. MDA_CONTENT_HEX hex digits into hex
 * (hexlen bytes, MDA_CONTENT_HEX + 1 at least); 0, or -1 with errno when
 * fd could not be read. With seen (not NULL): what those fields were,
 * and when one had a value no server writes (seen->odd), the whole
 * message's digest instead: a sender's "Status: FIRING" and "Status:
 * RESOLVED" are two messages (review r27 11). */
#define MDA_CONTENT_HEX	32
/* Of the header fields the content digest left out of a message: had
 * any, how many bytes and lines they took, and whether one had a value
 * no server writes (odd: "Status: FIRING", a keyword in X-Keywords, or
 * more than MDA_SEEN_MAX bytes of them). Without any, the content digest
 * is the whole message's SHA-256; with only a server's, the message may
 * be one delivered before, served again with them added. */
#define MDA_SEEN_MAX	1024
struct mda_seen {
	int		 had;
	int		 odd;
	size_t		 bytes;
	size_t		 lines;
};
int		 mda_content_digest(int fd, char *hex, size_t hexlen,
		    struct mda_seen *);
/* The same digest fed in pieces of any size, as RETR decodes them (the
 * POP3 identity of a message whose DELE is owed, pop3.c): new, then
 * update as often as needed, final for the first mdlen bytes of the
 * SHA-256 (which starts the next message), free. */
struct mda_content;
struct mda_content *mda_content_new(void);
void		 mda_content_free(struct mda_content *);
void		 mda_content_reset(struct mda_content *);
void		 mda_content_update(struct mda_content *, const char *,
		    size_t);
void		 mda_content_final(struct mda_content *, unsigned char *,
		    size_t, struct mda_seen *);

#endif
