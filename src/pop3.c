/* pop3.c: the POP3 session (RFC 1939, RFC 2449 CAPA and response codes,
 * RFC 2595 STLS, RFC 5034 SASL).
 *
 * One connection per account, driven by one state enum: pop3_enter() sends
 * a state's command and logs the transition, pop3_reply() decides on each
 * status line. Multi-line listings are read line by line; RETR bodies go
 * through the dot-unstuffing decoder (CRLF -> LF) straight into a Maildir
 * tmp/ file, never into memory. With PIPELINING (RFC 2449) up to
 * POP3_WINDOW RETR or DELE commands are in flight; one otherwise.
 *
 * Tracking is by UIDL: a message is fetched when its UIDL is not in the
 * account state. After the listing, the state's UIDLs are pruned to what
 * the server lists, so the set never grows beyond the maildrop (not after
 * an empty listing: pop3_listing_empty). With keep = yes a delivered
 * UIDL (or one owed a refetch, its "resized" mark with it: chaos seed
 * 664240427) is forgotten only when two listings in a row leave it out:
 * the first marks it absent (state_uidl_list_prune; its size known or
 * not: review r23 02), since a listing may leave out a message still
 * there (a backend briefly out of sync), and forgetting it had the next
 * session fetch it again (chaos seed 661095042); the set then holds at
 * most the maildrop plus the messages another client deleted since the
 * session before. With keep = no only
 * the UIDLs whose DELE is owed are so kept, with their owed DELEs
 * (pop3_owed_spare, pop3_owed_absent: a UIDL kept while its owed DELE
 * was dropped would leave the message on the server for good); the
 * others are of messages the last QUIT deleted, forgotten at once as
 * before (a server that gives a freed UIDL to a new message of the same
 * size would otherwise have it wait one more session). With each
 * delivered UIDL the state keeps the size LIST gave: RFC 1939 section 7
 * forbids reusing a UIDL only while its message exists, so once another
 * client deleted it (keep = yes) the server may give it to a new message,
 * and a UIDL listed with another size than recorded is such a message: it
 * is fetched (a duplicate if the server merely changed the message, as
 * servers that add a Status header do: once, since the new size is then
 * recorded; never a loss). A UIDL is fetched again for a size change at
 * most once: a server whose LIST size of an unchanged message flaps
 * between two values (LF and CRLF counts from one session to the next)
 * would have it doubled on every run; after that once, no size change
 * of that UIDL is taken for a reuse. A new message of the same size
 * under a reused UIDL cannot be told from the one delivered without
 * downloading every message on every run: it is not fetched
 * (mailfetchd.conf(5)), nor one of another size under a UIDL fetched
 * again once already. A UIDL
 * the listing names twice says nothing of either message and is left
 * alone (pop3_uidl_reused). UIDLs an older version recorded without a
 * size take the size listed at the next run.
 *
 * Memory stays small on a large maildrop: the UIDLs are in the state's
 * set, on disk (state_uidl_list, uidlset.h), with 4 bytes each for their
 * recorded sizes in memory; the session keeps a 12-byte record for each
 * message listed (its size is compared with the recorded one), plus 8
 * bytes for its digest; the command queue and the staged arrays hold one
 * batch.
 *
 * Durability order for each batch (doc/DESIGN.md promise 1):
 *   1. RETR of the batch -> files staged in tmp/;
 *   2. maildir_sync_prepare: every file fsynced, still invisible in tmp/;
 *   3. the intent journal: one "inflight" state record per message
 *      (folder "INBOX", the UIDL and size, the final file name), state
 *      saved;
 *   4. maildir_sync: renamed into new/ or cur/, the directories fsynced;
 *   5. the batch's UIDLs added to the state and the journal cleared; with
 *      keep = no the UIDLs also join the "DELE owed" set, kept as the
 *      pending text of the state's "INBOX" record, each with the size
 *      LIST gave and the digest of its content (pop3_entry); the
 *      state is saved atomically;
 *   6. only then DELE for the batch (keep = no).
 * With keep = yes step 1 of the next batch overlaps steps 2 to 5: its
 * RETRs go out behind the batch's (pop3_ahead), and their answers are
 * read once step 5 is done; a RETR changes nothing on the server.
 * QUIT commits the deletions; after its +OK the owed set is emptied and
 * saved. Killed before 3, nothing is visible and the batch is fetched
 * again. Killed between 3 and 5, the next run finds the journal right
 * after the UIDL listing, before it fetches anything: maildir_recover
 * finishes each move (the files are durable in tmp/, and no mailfetchd
 * removes a journaled one), and every journaled message counts as
 * delivered (its UIDL recorded, its DELE owed with keep = no, unless the
 * server lists that UIDL twice: then it cannot tell which message was
 * delivered and deletes none; or unless its file is found nowhere in the
 * Maildir: then it stays on the server). Killed after 5, or a session that
 * dies before QUIT, leaves the server unchanged: the UIDLs in the state
 * stop the messages from being fetched again, and the owed set makes the
 * next run DELE them before fetching anything. The crash points
 * (fault.h) are pop3-journaled, pop3-synced and pop3-saved.
 * With deliver = mda, steps 2 to 5 are one message at a time, the
 * agent's exit 0 in place of the Maildir (pop3_mda_batch; crash point
 * pop3-mda-taken).
 *
 * Between two runs another client may delete a message whose DELE is
 * owed, and the server may give its freed UIDL to a new message (RFC 1939
 * section 7 forbids the reuse only while the message exists), perhaps of
 * the same size and with the same header section (a local program's
 * alerts, without Date or Message-ID: only the body differs). So an owed
 * DELE of an earlier session is sent only when RETR n (the CHECK phase:
 * read again, digested, not stored, whatever size LIST gives now: sizes
 * may flap; an answer longer than the size LIST gives, or gave at its
 * delivery, allows, or than max_message_size, is another message and is
 * not read further:
 * pop3_check_cut) gives the message recorded (pop3_same_copy: the
 * SHA-256 of the whole message as RETR decoded it; or, when the copy
 * delivered had none of the header fields a mailbox server adds as it
 * serves it, "s", the same without such fields added since, each with a
 * value a server writes: a server that adds "Status: RO" after a RETR,
 * qpopper or UW ipop3d, had every message whose DELE was owed taken for
 * another and delivered twice, review r24 12; leaving the fields out
 * whatever they said, "c", deleted a sender's "Status: RESOLVED" for the
 * "Status: FIRING" delivered, review r27 04 and 11: such an entry is
 * never proof);
 * otherwise (or when the entry has no digest: written by an older
 * version) the message is not deleted but fetched as new, with a
 * warning: a duplicate at worst, never a loss (pop3_owed_same,
 * pop3_check_end). The cost: after an interrupted keep = no run, each
 * message whose DELE it owed is downloaded once more, to be checked,
 * before its DELE. An entry of the previous version has the digest of
 * the header section alone, which cannot tell apart messages that differ
 * only in their body (nor can TOP n 0, which the previous version checked
 * it with: review r9, finding 05b): that message is not deleted but
 * fetched again, a duplicate at worst, and recorded in the new form;
 * so is one whose check RETR is refused (pop3_owed_refetch), unless
 * for the moment ([SYS/TEMP]): its DELE stays owed, not sent in that
 * session, and the others go on (pop3_owed_hold), as they do past a
 * RETR refused for a new message (tried again next time). A DELE the
 * server refuses stays owed, checked and sent again by the next
 * session, at most POP3_DELE_REFUSALS_MAX times; then the message is
 * given up, with an error (pop3_dele_refused). The
 * DELEs of messages delivered in the same connection need no check: the
 * message numbers cannot change within a session (RFC 1939). RFC 1939
 * allows UIDLs computed as a hash of the message, so an identical copy
 * arriving later may take the UIDL: the check cannot tell it from the
 * message delivered and it is deleted, but its content is in the Maildir
 * already (two copies listed at once under one UIDL get no DELE,
 * pop3_mark_owed_as). The journal entries (the same form) are
 * checked the same way; one an older version wrote without the whole
 * message's digest gets it from its delivered file, which holds the
 * bytes RETR digested (pop3_file_digest). An owed DELE of an older
 * version without a digest has no file to take it from (the journal
 * naming it was cleared when the DELE became owed): that message is
 * fetched again, a duplicate rather than a DELE of a message whose
 * identity is not confirmed.
 *
 * Messages larger than max_message_size are not fetched: their UIDL goes
 * into the state anyway ("seen, skipped"), so they are logged once and not
 * retried every poll; they are never in the owed set, so keep = no does not
 * delete them. One whose body goes on past the limit, or far past
 * LIST's size, ends the session: the rest is not read at the server's
 * pace (pop3_body_bound). One such answer may be a passing server bug,
 * so the first time its UIDL only becomes a suspect (the state's
 * "suspect" text of the "INBOX" record): the next session fetches the
 * others first, then RETRs it alone, last, so that a server lying about
 * it again blocks no other message; then it is skipped for good (its
 * UIDL remembered as for one too big). A suspect the server no longer
 * lists is forgotten.
 *
 * A server without UIDL cannot be tracked: refused unless keep = no, which
 * then fetches and deletes every message (a session cut between delivery
 * and QUIT delivers those messages again next time; nothing can recognise
 * them, so no journal is kept either), except one whose DELE the server
 * refused: remembered by its content, not delivered again, its DELE
 * sent again (pop3_nodele_load). A message whose answer is far
 * larger than LIST said is remembered by its number and size: passed over
 * by the next session, asked for first and alone by the one after
 * (pop3_nouidl_suspect_load), so the cut it makes costs one more delivery
 * of the others, not one on every run, and a number that came to name
 * another message never makes it passed over for good. */
#include "pop3.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/evp.h>

#include "conn.h"
#include "fault.h"
#include "fetch.h"
#include "hook.h"
#include "log.h"
#include "maildir.h"
#include "mda.h"
#include "msgids.h"
#include "pop3_parse.h"
#include "sasl.h"
#include "secret.h"
#include "xmalloc.h"

/* Messages per checkpoint (directory fsync + state save + DELEs): trades
 * fsyncs for redo work after a failure, and for memory: until its
 * checkpoint each staged message holds about 400 bytes (its Maildir
 * delivery, names, journal entry), 100 KB a batch. */
#define POP3_BATCH_MSGS		250
#define POP3_BATCH_BYTES	(64 * 1024 * 1024)
/* RETR/DELE commands in flight with PIPELINING: with 8 the server sat idle
 * between answers; 32 kept its output queue full (bench/README.md). The
 * window is refilled half at a time (pop3_pump), so 64 keeps at least
 * those 32 in flight, also while we fsync. */
#define POP3_WINDOW		64
/* Input handed to the body decoder at once: TLS records are 16 KB, so a
 * larger scratch buffer would only cost memory. */
#define POP3_CHUNK_MAX		(16 * 1024)
/* A no-UIDL liar's record matches a LIST size up to twice the other one
 * plus this (pop3_nouidl_size_near). */
#define POP3_NOUIDL_SIZE_SLACK	64
/* RFC 2449: a command line is at most 255 octets, CRLF included. */
#define POP3_CMD_MAX		255
/* The state record holding the owed DELEs (POP3 has one mailbox). */
#define POP3_STATE_RECORD	"INBOX"
/* An owed or journaled entry, "UIDL<tab>SIZE<tab>cDIGEST", perhaps
 * "<tab>rN" after it (pop3_entry). */
#define POP3_ENTRY_MAX		(POP3_UIDL_MAX + 1 + 10 + 1 + 1 + 16 + 2 + \
				    3 + 1)
/* DELEs of one message the server may refuse (not for the moment:
 * [SYS/TEMP], [IN-USE]) before it is given up: each refusal costs the
 * next session a RETR of the whole message, to check it before the DELE
 * is sent again (review r24 06: downloaded again at every poll, for
 * ever, with a DELE refused for good). */
#define POP3_DELE_REFUSALS_MAX	3
/* A refusal for the moment ([SYS/TEMP], [IN-USE]) weighs 1, one for good
 * POP3_DELE_WEIGHT: given up after POP3_DELE_REFUSALS_MAX of these, or 4
 * times as many of those (each costs a full download of the message, and
 * a server may say [SYS/TEMP] of a locked message for ever: review r27
 * 09). */
#define POP3_DELE_WEIGHT	4
#define POP3_DELE_GIVEUP	(POP3_DELE_REFUSALS_MAX * POP3_DELE_WEIGHT)
/* The size of an older version's journal entry that has none, once its
 * digest is known from the delivered file: the digest alone checks it. */
/* Without UIDLs, a record of a refused DELE (pop3_nodele_kept) is dropped
 * after this many sessions in a row that read every message listed and
 * did not meet it; and no more are kept than the server lists messages
 * and this many (an empty listing is not the last word either). */
#define POP3_NODELE_MISSES	2
#define POP3_NODELE_SPARE	16
#define POP3_SIZE_ANY		(-2)
/* What a RETR checking an owed DELE reads past the size LIST gives
 * (pop3_check_limit): some servers count LF line ends, add a last line
 * end or a header of their own; more is not the message delivered. */
#define POP3_CHECK_SLACK	(64 * 1024)
/* RETRs of new messages refused with [SYS/TEMP] in a row after which
 * the server is taken to fail for every message for now: no more RETR
 * in the session (the rest waits for the next poll), rather than one
 * refused RETR for each message of the maildrop. */
#define POP3_TEMP_RUN_MAX	5
/* A login refused with [LOGIN-DELAY] by a server that named no delay
 * (no LOGIN-DELAY in the CAPA before login): wait this many seconds
 * before the next login. RFC 2449 (8.1.1) lets the server reset its
 * timer on each early attempt, so a retry within a minute could keep
 * the account out for good; 15 min is a common server's delay. */
#define POP3_LOGIN_DELAY_DEFAULT	(15 * 60)

enum pop3_state {
	POP3_S_CONNECTING,
	POP3_S_GREETING,
	POP3_S_CAPA,
	POP3_S_STLS,
	POP3_S_TLS,
	POP3_S_AUTH,
	POP3_S_USER,
	POP3_S_PASS,
	POP3_S_APOP,
	POP3_S_AUTH_CAPA,
	POP3_S_UIDL,
	POP3_S_LIST,
	POP3_S_RETR,
	POP3_S_DELE,
	POP3_S_CHECK,
	POP3_S_QUIT,
	POP3_S_DONE,
	POP3_S_MAX,
};

static const char *pop3_state_names[POP3_S_MAX] = {
	"CONNECTING", "GREETING", "CAPA", "STLS", "TLS", "AUTH", "USER",
	"PASS", "APOP", "AUTH_CAPA", "UIDL", "LIST", "RETR", "DELE", "CHECK",
	"QUIT", "DONE",
};

/* The highest message number taken: 28 bits, the rest is flags. */
#define POP3_MSGNO_MAX		((1U << 28) - 1)

/* Without UIDLs, what a remembered liar's record asks of the session
 * (pop3_nouidl_suspect_load). */
enum pop3_susp_how {
	POP3_SUSP_ASK,		/* "#": asked for first, alone */
	POP3_SUSP_PASS,		/* "!" loaded: passed over this once,
				 * stored "#" */
	POP3_SUSP_FRESH,	/* stored "!": a lie ended this session
				 * before anything was committed */
};

/* Without UIDLs, a message delivered whose DELE the server refused
 * (pop3_nodele_load): known by its content alone. */
struct pop3_nodele {
	uint64_t	 digest;	/* as pop3_entry's */
	uint32_t	 size;		/* LIST's, when refused */
	int		 content;	/* as pop3_msg's: "s", else "m" */
	unsigned int	 misses;	/* sessions that read every message
					 * listed and met it not (":N") */
	int		 how;		/* pop3_nodele_how */
};

enum pop3_nodele_how {
	POP3_NODELE_LOADED,	/* from the state, not met yet */
	POP3_NODELE_MET,	/* met: not delivered, DELE sent again */
	POP3_NODELE_REFUSED,	/* refused in this session: stored */
};

/* One message of the maildrop the session may act on, 12 bytes: those
 * already delivered get none, unless a DELE may be owed for them. The
 * UIDL is the state's copy (its listing id), never a second one. */
struct pop3_msg {
	uint32_t	 msgno:28;
	uint32_t	 owed:1;	/* DELE owed: durable and recorded */
	uint32_t	 held:1;	/* DELE owed, its check refused for
					 * now ([SYS/TEMP]): kept owed in the
					 * state, not sent this session */
	uint32_t	 todo:1;	/* to fetch in this session */
	uint32_t	 content:1;	/* its digest is of the whole
					 * message, which had none of the
					 * header fields a server adds: a
					 * copy with only such fields added
					 * may match too ("s" entry,
					 * pop3_same_copy); else only the
					 * whole message matches ("m") */
	uint32_t	 size;		/* from LIST, CRLF counted; saturated */
	uint32_t	 uidl;		/* state_uidl_list id; STATE_UIDL_NONE:
					 * the server has no UIDL */
};

/* What an owed or journaled entry (pop3_entry) says of its message. */
struct pop3_ident {
	int64_t		 size;		/* -1 unknown; POP3_SIZE_ANY */
	uint64_t	 digest;	/* 0 unknown */
	int		 whole;		/* of the whole message, else of
					 * its header section */
	int		 content;	/* "s": the whole message, which
					 * had none of the fields a server
					 * adds (pop3_same_copy) */
	int		 old_content;	/* "c" (the version before): of
					 * the message without those
					 * fields, whatever they said:
					 * proves nothing */
	unsigned int	 refused;	/* DELEs refused so far ("rN") */
};

struct pop3_session {
	struct event_base	*base;
	struct evdns_base	*dns;
	const struct account_conf *ac;
	struct state		*st;
	pop3_done_cb		 done;
	void			*done_arg;

	struct conn		*conn;
	enum pop3_state		 state;
	struct log_ctx		 ctx;
	struct secret_job	*sjob;		/* getting the secret */
	char			*secret;	/* got, until the login */
	struct pop3_result	 result;
	int			 status;	/* worst outcome so far */
	int			 closing;	/* failed or QUIT: no more work */
	int			 failed;	/* QUIT sent after a failure */

	struct pop3_capa	 capa;
	int			 capa_known;	/* CAPA answered +OK */
	int			 multi;		/* in a multi-line listing */
	char			 timestamp[POP3_TIMESTAMP_MAX + 1];
	int			 has_timestamp;
	char			*sasl_resp;	/* sent at the "+" (a secret) */
	int			 sasl_sent;
	char			*pass;		/* for PASS after USER (secret) */
	int			 authed;
	int			 no_uidl;
	char			 line[POP3_LINE_MAX + 1];

	/* The maildrop. */
	struct pop3_msg		*msgs;		/* in msgno order */
	size_t			 nmsgs;
	size_t			 amsgs;
	size_t			 nlisted;	/* messages on the server */
	uint32_t		 last_msgno;	/* of the listing */
	size_t			 dups;		/* UIDLs listed twice */
	size_t			 ntodo;		/* msgs[].todo set */
	size_t			 next_todo;	/* msgs index */
	size_t			 next_owed;	/* msgs index */
	size_t			 next_check;	/* msgs index */
	uint32_t		*susp;		/* msgs indices of the suspects
						 * (pop3_suspect_load) */
	unsigned char		*susp_how;	/* per susp[]: pop3_susp_how
						 * (without UIDLs) */
	size_t			 nsusp;
	size_t			 next_susp;	/* susp index */
	uint64_t		 ask_cap;	/* the suspect asked for now:
						 * its answer is a lie past
						 * this (decoded), 0 none
						 * (pop3_suspect_fits) */
	uint32_t		*then;		/* per msgs[]: the size
						 * recorded with its digest */
	uint64_t		*digests;	/* per msgs[]: the digest
						 * (pop3_entry), 0 unknown */
	unsigned char		*refusals;	/* per msgs[]: its DELEs
						 * refused (pop3_dele_refused) */
	int			 quit_ok;	/* QUIT's +OK: the DELEs
						 * sent are committed */
	int			 owed_dirty;	/* a count of refusals
						 * changed: stored at QUIT */
	struct pop3_nodele	*nodele;	/* without UIDLs: DELEs
						 * refused (pop3_nodele_load) */
	size_t			 nnodele;
	size_t			 anodele;
	size_t			 nread;		/* without UIDLs: messages
						 * RETR gave whole */
	uint32_t		*again;		/* of this batch: msgs
						 * indices met in nodele, to
						 * DELE again */
	size_t			 nagain;
	int			 owed_left;	/* owed DELEs not yet sent */
	size_t			 dele_acked;	/* DELEs answered +OK: QUIT
						 * commits them, a cut rolls
						 * them back */
	unsigned int		 temp_run;	/* RETRs refused [SYS/TEMP]
						 * in a row */
	int			 state_dirty;
	fetch_budget_cb		 budget_cb;	/* NULL: no daily budget */
	void			*budget_arg;

	/* The current phase: RETR or DELE of q[], pipelined; the staged
	 * arrays hold one batch at most, q two: the batch, then the next
	 * one's RETRs asked for ahead (pop3_ahead). */
	uint32_t		*q;
	size_t			 nq;
	size_t			 nq_next;	/* at q[nq..]: pop3_ahead */
	size_t			 q_sent;
	size_t			 q_recv;
	uint32_t		*staged;	/* of this batch */
	char			**staged_name;	/* their final file names */
	struct hook		*hook;		/* hook_owe's; NULL: none */
	struct hook_files	 newfiles;	/* durable, for the new-mail
						 * hook (pop3_session_files) */
	size_t			 nstaged;

	/* deliver = mda (pop3_mda_batch): the agent running, the next
	 * staged message for it, how many it took (their msgs indices in
	 * q[], for DELE). */
	struct mda_job		*mda;
	size_t			 mda_next;
	size_t			 mda_taken;

	/* The message being received. */
	struct maildir		*md;
	struct pop3_body	*body;
	int			 in_body;
	uint64_t		 body_bytes;	/* decoded so far */
	uint64_t		 body_cap;	/* wire bytes the answer may
						 * still take (pop3_body_cap) */
	int			 body_whole;	/* body_cap is the whole
						 * daily_limit */
	struct msgids_digest	*dig_md;	/* its digest (pop3_entry) */
	struct mda_content	*dig_content;	/* the same, without the
						 * fields a server adds */
	uint64_t		 dig_cont;	/* dig_content's, at the end */
	struct mda_seen		 dig_seen;	/* the fields it left out */
	uint64_t		 dig_left;	/* bytes the whole may have */
	int			 dig_over;	/* it had more */
	struct maildir_delivery	*dlv;
	int			 dlv_failed;	/* local error */
	int			 dlv_toobig;	/* bigger than announced max */
	char			*dlv_cause;
	char			*scratch;

	struct timespec		 start;
};

static void	pop3_enter(struct pop3_session *, enum pop3_state);
static int	pop3_suspect_fits(struct pop3_session *, uint64_t);
static void	pop3_next_batch(struct pop3_session *);
static int	pop3_window_admits(struct pop3_session *);
static size_t	pop3_todo_batch(struct pop3_session *, uint32_t *, uint64_t);
static uint64_t	pop3_budget_left(const struct pop3_session *);
static void	pop3_digest_begin(struct pop3_session *, uint64_t);
static void	pop3_digest_feed(struct pop3_session *, const char *, size_t);
static uint64_t	pop3_digest_end(struct pop3_session *);
static int	pop3_same_copy(const struct pop3_session *, uint64_t, int,
		    uint64_t, uint32_t, uint32_t);

/* Records an outcome; the session's status is the worst one. */
static void
pop3_status(struct pop3_session *s, int status)
{
	if (s->status == EXIT_NOTHING_NEW || s->status == EXIT_NEW_MAIL)
		s->status = status;
}

/* The context of one message, for logs. */
static struct log_ctx
pop3_msg_ctx(struct pop3_session *s, size_t i)
{
	struct log_ctx	ctx = s->ctx;

	ctx.uid = s->msgs[i].msgno;
	return (ctx);
}

/* Ends the session after a failure: logs and records the status. When the
 * dialogue is in step (no command in flight, no body arriving) QUIT goes
 * out so that deletions already acknowledged are committed; otherwise the
 * connection is dropped and the server rolls them back (they stay owed in
 * the state and are sent again next time). */
static void printflike(3, 4)
pop3_fail(struct pop3_session *s, int status, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	log_msg(LOG_LVL_ERROR, &s->ctx, "%s", msg != NULL ? msg : "failure");
	free(msg);
	pop3_status(s, status);
	if (s->closing) {
		pop3_enter(s, POP3_S_DONE);
		return;
	}
	s->closing = 1;
	if (s->state != POP3_S_CONNECTING && s->state != POP3_S_GREETING &&
	    s->state != POP3_S_TLS && s->state != POP3_S_QUIT &&
	    s->state != POP3_S_DONE && !s->in_body && !s->multi &&
	    s->q_sent == s->q_recv) {
		s->failed = 1;
		pop3_enter(s, POP3_S_QUIT);
		return;
	}
	pop3_enter(s, POP3_S_DONE);
}

/* Sends one command line (printf-style, CRLF added). Secrets are never
 * logged: the commands that carry one are logged by name. */
static int printflike(2, 3)
pop3_send(struct pop3_session *s, const char *fmt, ...)
{
	va_list	 ap;
	char	*cmd;
	int	 rc;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) == -1)
		cmd = NULL;
	va_end(ap);
	if (cmd == NULL)
		fatalx("out of memory");
	if (strncmp(cmd, "PASS ", 5) == 0 || strncmp(cmd, "AUTH ", 5) == 0 ||
	    strncmp(cmd, "APOP ", 5) == 0)
		log_msg(LOG_LVL_DEBUG, &s->ctx, "> %.*s ...",
		    (int)strcspn(cmd + 5, " ") + 5, cmd);
	else
		log_msg(LOG_LVL_DEBUG, &s->ctx, "> %s", cmd);
	rc = conn_printf(s->conn, "%s\r\n", cmd);
	xfree_secret(cmd);
	if (rc != 0) {
		s->closing = 1;	/* the connection is gone: no QUIT */
		pop3_fail(s, EXIT_NETWORK, "cannot send a command: %s",
		    conn_error(s->conn) != NULL ? conn_error(s->conn) :
		    "output buffer full");
		return (-1);
	}
	return (0);
}

/* The server's text of a reply, code included, made safe for logs;
 * caller frees. */
static char *
pop3_server_text(const struct pop3_reply *r)
{
	char	*clean, *out;

	clean = log_sanitize(r->text, r->text_len, 300);
	if (r->code_str != NULL)
		xasprintf(&out, "[%.*s] %s", (int)r->code_len, r->code_str,
		    clean);
	else
		out = xstrdup(clean);
	free(clean);
	return (out);
}

/* Case-insensitive search in a reply's text (which may hold NULs). */
static int
pop3_text_has(const struct pop3_reply *r, const char *needle)
{
	size_t	n = strlen(needle), i;

	for (i = 0; i + n <= r->text_len; i++) {
		if (strncasecmp(r->text + i, needle, n) == 0)
			return (1);
	}
	return (0);
}

/* A hint for a refused login from the code and the texts well-known
 * providers send; NULL when there is nothing useful to add. */
static const char *
pop3_auth_hint(const struct pop3_session *s, const struct pop3_reply *r)
{
	static char	buf[160];

	if (pop3_text_has(r, "application-specific password") ||
	    pop3_text_has(r, "app password"))
		return ("the provider requires an app password or OAuth2");
	if (pop3_text_has(r, "POP3 disabled") ||
	    pop3_text_has(r, "POP3 is disabled") ||
	    pop3_text_has(r, "POP access") ||
	    pop3_text_has(r, "POP3 access") ||
	    pop3_text_has(r, "not enabled for POP") ||
	    pop3_text_has(r, "enable POP"))
		return ("POP3 access may be disabled in the account's web "
		    "settings: enable it there (the same text can also mean a "
		    "wrong password)");
	if (pop3_text_has(r, "web login required") ||
	    pop3_text_has(r, "web browser"))
		return ("the provider wants a login through its web page first, "
		    "or an app password; check also that POP3 is enabled in "
		    "the web settings");
	switch (r->code) {
	case POP3_CODE_IN_USE:
		return ("another client holds the maildrop; mailfetchd backs "
		    "off and tries again later");
	case POP3_CODE_LOGIN_DELAY:
		if (s->capa.flags & POP3_CAPA_LOGIN_DELAY) {
			snprintf(buf, sizeof buf, "the server allows one login "
			    "every %u s; poll less often",
			    (unsigned int)s->capa.login_delay);
			return (buf);
		}
		return ("logged in too recently; poll less often");
	case POP3_CODE_SYS_TEMP:
		return ("a temporary problem on the server; try later");
	case POP3_CODE_SYS_PERM:
		return ("the server reports a permanent problem with the "
		    "account");
	case POP3_CODE_AUTH:
		return ("wrong user name or password");
	default:
		return (NULL);
	}
}

/* The exit status for an -ERR: at login, everything but the temporary
 * conditions is an authentication failure. */
static int
pop3_err_status(const struct pop3_reply *r, int at_login)
{
	switch (r->code) {
	case POP3_CODE_IN_USE:
		return (EXIT_LOCKED);
	case POP3_CODE_LOGIN_DELAY:
	case POP3_CODE_SYS_TEMP:
		return (EXIT_NETWORK);
	default:
		return (at_login ? EXIT_AUTH : EXIT_PROTOCOL);
	}
}

/* The login was refused. [LOGIN-DELAY] (RFC 2449 8.1.1, RFC 3206) names
 * the least wait before the next login: the CAPA's delay, or a default;
 * the scheduler then waits that long, and a fetch now too. */
static void
pop3_auth_refused(struct pop3_session *s, const struct pop3_reply *r)
{
	const char	*hint = pop3_auth_hint(s, r);
	char		*text = pop3_server_text(r);

	if (r->code == POP3_CODE_LOGIN_DELAY)
		s->result.login_delay = (s->capa.flags &
		    POP3_CAPA_LOGIN_DELAY) && s->capa.login_delay > 0 ?
		    s->capa.login_delay : POP3_LOGIN_DELAY_DEFAULT;
	pop3_fail(s, pop3_err_status(r, 1), "login as %s refused: %s%s%s",
	    s->ac->user, text, hint != NULL ? " -- " : "",
	    hint != NULL ? hint : "");
	free(text);
}

/* A command other than a login was refused. */
static void
pop3_refused(struct pop3_session *s, const struct pop3_reply *r,
    const char *what)
{
	char	*text = pop3_server_text(r);

	pop3_fail(s, pop3_err_status(r, 0), "%s failed: %s", what, text);
	free(text);
}

/*
 * Authentication.
 */

/* Refuses secrets and names that would break the command line. */
static int
pop3_line_safe(const char *s)
{
	return (strpbrk(s, "\r\n") == NULL && *s != '\0');
}

/* APOP: "APOP user md5hex(timestamp secret)". */
static void
pop3_apop(struct pop3_session *s, const char *secret)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	char		 hex[2 * EVP_MAX_MD_SIZE + 1];
	char		*data;

	xasprintf(&data, "%s%s", s->timestamp, secret);
	if (EVP_Digest(data, strlen(data), md, &mdlen, EVP_md5(),
	    NULL) != 1) {
		xfree_secret(data);
		pop3_fail(s, EXIT_AUTH, "APOP: MD5 is not available in this "
		    "OpenSSL configuration");
		return;
	}
	xfree_secret(data);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	pop3_enter(s, POP3_S_APOP);
	pop3_send(s, "APOP %s %s", s->ac->user, hex);
}

/* Sends AUTH mech, with the initial response when the line stays within
 * the RFC 2449 limit (RFC 5034 section 4), else at the "+". Takes b64. */
static void
pop3_sasl(struct pop3_session *s, const char *mech, char *b64)
{
	pop3_enter(s, POP3_S_AUTH);
	/* Microsoft's POP3 takes XOAUTH2 only in two steps: AUTH, then
	 * the response after "+". */
	if (strcmp(mech, "XOAUTH2") != 0 && strlen("AUTH ") + strlen(mech) +
	    1 + strlen(b64) + 2 <= POP3_CMD_MAX) {
		s->sasl_sent = 1;
		pop3_send(s, "AUTH %s %s", mech, b64);
		xfree_secret(b64);
		return;
	}
	s->sasl_sent = 0;
	s->sasl_resp = b64;
	pop3_send(s, "AUTH %s", mech);
}

/* No secret (status and cause from secret_get_status or its job; frees
 * cause). EXIT_AUTH there means the OAuth2 provider refused the grant:
 * no retry can fix it, only the user ("re-authorisation needed"). */
static void
pop3_secret_failed(struct pop3_session *s, int status, char *cause)
{
	s->result.reauth = status == EXIT_AUTH;
	pop3_fail(s, status, "%s", cause);
	free(cause);
}

/* Picks the mechanism and sends the first authentication command. */
static void
pop3_auth_start(struct pop3_session *s)
{
	const struct account_conf	*ac = s->ac;
	unsigned int			 want = ac->auth_mechs;
	unsigned int			 sasl = s->capa_known ? s->capa.sasl : 0;
	char				*secret, *cause;
	int				 user_ok, status;

	if (!conn_is_tls(s->conn) && ac->tls != TLS_NONE) {
		pop3_fail(s, EXIT_NETWORK, "refusing to log in without TLS");
		return;
	}
	if (s->secret != NULL) {
		secret = s->secret;
		s->secret = NULL;
	} else if ((secret = secret_get_status(ac, &status, &cause)) ==
	    NULL) {
		pop3_secret_failed(s, status, cause);
		return;
	}
	if (!pop3_line_safe(secret) || !pop3_line_safe(ac->user)) {
		xfree_secret(secret);
		pop3_fail(s, EXIT_CONFIG, "the user name or the secret is empty "
		    "or holds a line break");
		return;
	}
	user_ok = !s->capa_known || (s->capa.flags & POP3_CAPA_USER);
	if (ac->token_command != NULL || ac->oauth2 != NULL) {
		if ((want == 0 || (want & AUTH_XOAUTH2)) &&
		    (sasl & POP3_SASL_XOAUTH2))
			pop3_sasl(s, "XOAUTH2", sasl_xoauth2(ac->user, secret));
		else if ((want == 0 || (want & AUTH_OAUTHBEARER)) &&
		    (sasl & POP3_SASL_OAUTHBEARER))
			pop3_sasl(s, "OAUTHBEARER", sasl_oauthbearer(ac->user,
			    ac->host, ac->port, secret));
		else
			pop3_fail(s, EXIT_AUTH, "the server offers no OAuth2 "
			    "SASL mechanism (XOAUTH2, OAUTHBEARER) in CAPA");
	} else if ((want == 0 || (want & AUTH_PLAIN)) &&
	    (sasl & POP3_SASL_PLAIN))
		pop3_sasl(s, "PLAIN", sasl_plain(ac->user, secret));
	else if ((want & AUTH_APOP) && s->has_timestamp)
		pop3_apop(s, secret);
	else if ((want == 0 || (want & AUTH_LOGIN)) && user_ok) {
		s->pass = xstrdup(secret);
		pop3_enter(s, POP3_S_USER);
		pop3_send(s, "USER %s", ac->user);
	} else
		pop3_fail(s, EXIT_AUTH, "no usable authentication mechanism: "
		    "the server offers none of those allowed%s",
		    (want & AUTH_APOP) && !s->has_timestamp ? " (no APOP "
		    "timestamp in the greeting)" : "");
	xfree_secret(secret);
}

/* Logged in: ask the capabilities again (RFC 2449: they may change). */
static void
pop3_authenticated(struct pop3_session *s)
{
	s->authed = 1;
	log_msg(LOG_LVL_DEBUG, &s->ctx, "logged in as %s", s->ac->user);
	xfree_secret(s->pass);
	s->pass = NULL;
	xfree_secret(s->sasl_resp);
	s->sasl_resp = NULL;
	pop3_enter(s, POP3_S_AUTH_CAPA);
}

/* After the greeting, a CAPA or the TLS handshake: TLS first, then login. */
static void
pop3_proceed(struct pop3_session *s)
{
	if (s->ac->tls == TLS_STARTTLS && !conn_is_tls(s->conn)) {
		if (!s->capa_known || !(s->capa.flags & POP3_CAPA_STLS)) {
			pop3_fail(s, EXIT_NETWORK, "the server does not offer "
			    "STLS; refusing to log in without TLS "
			    "(tls = starttls)");
			return;
		}
		pop3_enter(s, POP3_S_STLS);
		return;
	}
	pop3_auth_start(s);
}

/*
 * The maildrop.
 */

/* The message with this number (msgs are in msgno order); NULL if none. */
static struct pop3_msg *
pop3_msg_find(struct pop3_session *s, unsigned int msgno)
{
	size_t	lo = 0, hi = s->nmsgs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->msgs[mid].msgno == msgno)
			return (&s->msgs[mid]);
		if (s->msgs[mid].msgno < msgno)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (NULL);
}

/* Whether a listing goes on in increasing msgno order, within what a
 * record holds (RFC 1939 numbers messages from 1 up). */
static int
pop3_msgno_ok(struct pop3_session *s, unsigned int msgno)
{
	if (msgno <= s->last_msgno || msgno > POP3_MSGNO_MAX)
		return (0);
	s->last_msgno = msgno;
	s->nlisted++;
	return (1);
}

/* Appends a message record (msgno checked by the caller). Grown by half:
 * on a large maildrop the unused tail is the waste. */
static struct pop3_msg *
pop3_msg_add(struct pop3_session *s, unsigned int msgno, uint32_t uidl)
{
	struct pop3_msg	*m;

	if (s->nmsgs == s->amsgs) {
		s->amsgs = s->amsgs < 64 ? 64 : s->amsgs + s->amsgs / 2;
		s->msgs = xreallocarray(s->msgs, s->amsgs, sizeof *s->msgs);
	}
	m = &s->msgs[s->nmsgs++];
	memset(m, 0, sizeof *m);
	m->msgno = msgno;
	m->uidl = uidl;
	return (m);
}

/* The UIDL of a record, NULL when the server has none. */
static const char *
pop3_msg_uidl(struct pop3_session *s, const struct pop3_msg *m)
{
	if (m->uidl == STATE_UIDL_NONE)
		return (NULL);
	return (state_uidl_text(s->st, m->uidl));
}

/* A message's UIDL is delivered (or passed over for good): recorded with
 * the size LIST gave (pop3_uidl_reused). */
static void
pop3_uidl_done(struct pop3_session *s, const struct pop3_msg *m)
{
	state_uidl_deliver(s->st, m->uidl);
	state_uidl_set_size(s->st, m->uidl, m->size);
}

/* The UIDL listing starts: the state's previous listing is forgotten. */
static void
pop3_uidl_begin(struct pop3_session *s)
{
	state_uidl_list_begin(s->st);
}

/* One line of the UIDL listing: the UIDL goes into the state's listing,
 * and the session keeps a record of the message. */
static void
pop3_uidl_line(struct pop3_session *s, const char *line, size_t len)
{
	char		 uidl[POP3_UIDL_MAX + 1], *cause;
	unsigned int	 msgno;
	uint32_t	 id;
	int		 again;

	if (pop3_parse_uidl(line, len, &msgno, uidl, &cause) != 0) {
		pop3_fail(s, EXIT_PROTOCOL, "bad UIDL listing: %s", cause);
		free(cause);
		return;
	}
	if (!pop3_msgno_ok(s, msgno)) {
		pop3_fail(s, EXIT_PROTOCOL, "bad UIDL listing: message %u out "
		    "of order", msgno);
		return;
	}
	if ((id = state_uidl_list(s->st, uidl, &again)) == STATE_UIDL_NONE) {
		if ((cause = state_uidl_failure(s->st)) != NULL) {
			pop3_fail(s, EXIT_LOCAL, "%s", cause);
			free(cause);
		} else
			pop3_fail(s, EXIT_PROTOCOL, "bad UIDL listing: message "
			    "%u has a UIDL that cannot be recorded", msgno);
		return;
	}
	if (again && s->dups++ < 5) {
		log_msg(LOG_LVL_WARNING, &s->ctx, "duplicate UIDL \"%s\": the "
		    "server gives it to more than one message, so these "
		    "messages may be skipped or fetched again", uidl);
	}
	/* Delivered ones too: LIST may show another message under the
	 * UIDL (pop3_uidl_reused). */
	pop3_msg_add(s, msgno, id);
}

/* pop3_uidl_reused for a UIDL whose recorded size is over
 * max_message_size: its message was skipped as too big, never fetched
 * (the UIDL remembered so that it is not tried on every poll), so the
 * one listed now under it is not a fetch again for a size change, and
 * gets no "resized" mark: of another size than the limit allows too,
 * only its size is recorded; otherwise it is fetched as the first
 * message of that UIDL, and the once for a size change is still to
 * come (mailfetchd.conf(5), keep: it was spent here, and the next
 * message under the UIDL never fetched; long chaos run, seed
 * 664240303). A message delivered before the limit was lowered is taken
 * the same way: at worst its UIDL's once comes one message later. 1 when
 * done here. */
static int
pop3_uidl_skipped_reused(struct pop3_session *s, struct pop3_msg *m,
    uint32_t was)
{
	struct log_ctx	mctx;
	uint64_t	max = s->ac->max_message_size;

	if (max == 0 || was <= max)
		return (0);
	if (m->size > max) {
		state_uidl_set_size(s->st, m->uidl, m->size);
		return (1);
	}
	mctx = pop3_msg_ctx(s, (size_t)(m - s->msgs));
	log_msg(LOG_LVL_WARNING, &mctx, "the UIDL of a message skipped as "
	    "larger than max_message_size (%u bytes) now names one of %u "
	    "bytes: the server gave the UIDL of a deleted message to a new "
	    "one; fetching it", was, m->size);
	state_uidl_undeliver(s->st, m->uidl);
	return (1);
}

/* The listed size of a delivered UIDL's message against the size
 * recorded when it was delivered: another size is another message, the
 * UIDL freed by a deletion and given to it (RFC 1939 section 7 allows
 * that), to be fetched; the same size is taken as the same message (what
 * is under the UIDL cannot be compared otherwise without downloading it).
 * A size not recorded (an older version's entry) is recorded now. A UIDL
 * fetched again once for a size change is not fetched for another: a
 * server whose sizes flap would double its messages on every run. Not for
 * a message whose DELE is owed: pop3_owed_same checks it, digest too. */
static void
pop3_uidl_reused(struct pop3_session *s, struct pop3_msg *m)
{
	struct log_ctx	mctx;
	uint32_t	was;

	/* Size 0: LIST did not name the message (it tells nothing). */
	if (m->uidl == STATE_UIDL_NONE || m->size == 0 ||
	    !state_uidl_delivered(s->st, m->uidl) ||
	    state_uidl_shared(s->st, m->uidl))
		return;
	was = state_uidl_size(s->st, m->uidl);
	if (was == m->size)
		return;
	if (state_uidl_resized(s->st, m->uidl)) {
		mctx = pop3_msg_ctx(s, (size_t)(m - s->msgs));
		log_msg(LOG_LVL_DEBUG, &mctx, "listed with %u bytes, recorded "
		    "with %u: taken as the message delivered (its UIDL was "
		    "fetched again once already for a size change)", m->size,
		    was);
		return;
	}
	s->state_dirty = 1;
	if (was == 0) {
		state_uidl_set_size(s->st, m->uidl, m->size);
		return;
	}
	if (pop3_uidl_skipped_reused(s, m, was))
		return;
	mctx = pop3_msg_ctx(s, (size_t)(m - s->msgs));
	log_msg(LOG_LVL_WARNING, &mctx, "the UIDL of a message delivered "
	    "before (%u bytes) now names one of %u bytes: the server gave "
	    "the UIDL of a deleted message to a new one; fetching it (once: "
	    "a later size change of this UIDL is not taken for a reuse)", was,
	    m->size);
	state_uidl_set_resized(s->st, m->uidl);
	state_uidl_undeliver(s->st, m->uidl);
}

/* One line of the LIST listing. */
static void
pop3_list_line(struct pop3_session *s, const char *line, size_t len)
{
	struct pop3_msg	*m;
	char		*cause;
	unsigned int	 msgno;
	uint64_t	 size;

	if (pop3_parse_list(line, len, &msgno, &size, &cause) != 0) {
		pop3_fail(s, EXIT_PROTOCOL, "bad LIST listing: %s", cause);
		free(cause);
		return;
	}
	if (s->no_uidl && pop3_msgno_ok(s, msgno))
		m = pop3_msg_add(s, msgno, STATE_UIDL_NONE);
	else if (s->no_uidl || (m = pop3_msg_find(s, msgno)) == NULL) {
		/* Delivered already (no record kept), or not in the UIDL
		 * listing, or out of order. */
		if (s->no_uidl || msgno > s->last_msgno)
			log_msg(LOG_LVL_DEBUG, &s->ctx, "LIST names message "
			    "%u that UIDL did not; ignored", msgno);
		return;
	}
	m->size = size > UINT32_MAX ? UINT32_MAX : size;
}

/* The entry of a message with a UIDL, as the owed set and the journal
 * keep it: "UIDL<tab>SIZE<tab>sDIGEST", SIZE being the octet count LIST
 * gave (the saturated m->size), DIGEST the first 64 bits of the SHA-256
 * of the whole message as RETR decoded it, 16 hex digits after the "s"
 * when it had none of the header fields a mailbox server adds as it
 * serves it (mda_content: "Status: RO" after a RETR), then the same
 * message with such fields added matches too, else after an "m": only
 * the whole message matches (pop3_same_copy). The previous version's
 * "c" digest left those fields out whatever they said: never proof. RFC 1939 lets a server give a freed UIDL to a new
 * message once the old one is gone, so the UIDL alone cannot tell a later
 * session that the message it lists under it is the one delivered, the
 * size alone cannot either (a new message of the same size), nor can the
 * header section (a local program's alerts have no Date or Message-ID,
 * the same header and size: only the body differs); the whole message
 * can: pop3_owed_same, pop3_check_end. UIDLs are 0x21-0x7E
 * (pop3_parse_uidl): the tab is never part of one. Entries written by
 * older versions are the "m" form, the bare UIDL, "UIDL<tab>SIZE", or
 * "UIDL<tab>SIZE<tab>HDRDIGEST" (16 hex digits without the "m": the
 * digest of the header section alone, which proves nothing: its message
 * is fetched again, pop3_owed_same). NULL when the server
 * has no UIDL. */
static const char *
pop3_entry(struct pop3_session *s, const struct pop3_msg *m,
    char buf[POP3_ENTRY_MAX])
{
	const char	*u;
	uint64_t	 d;
	unsigned long	 size = m->size;
	unsigned int	 n;

	if ((u = pop3_msg_uidl(s, m)) == NULL)
		return (NULL);
	/* LIST left it out (0): the size recorded at its delivery stays
	 * (pop3_check_limit reads up to it). */
	if (size == 0 && state_uidl_delivered(s->st, m->uidl))
		size = state_uidl_size(s->st, m->uidl);
	d = s->digests != NULL ? s->digests[m - s->msgs] : 0;
	n = s->refusals != NULL ? s->refusals[m - s->msgs] : 0;
	if (d == 0)
		(void)snprintf(buf, POP3_ENTRY_MAX, "%s\t%lu", u, size);
	else if (n == 0)
		(void)snprintf(buf, POP3_ENTRY_MAX, "%s\t%lu\t%s%016llx", u,
		    size, m->content ? "s" : "m", (unsigned long long)d);
	else
		(void)snprintf(buf, POP3_ENTRY_MAX, "%s\t%lu\t%s%016llx\tw%u",
		    u, size, m->content ? "s" : "m", (unsigned long long)d, n);
	return (buf);
}

/* The digest after the size of an entry ("<tab>", perhaps "m" or "c",
 * and 16 hex digits, perhaps "<tab>rN" after them: the DELEs refused)
 * into id; none (0) when there is none or a bad one. */
static void
pop3_entry_digest(const char *p, struct pop3_ident *id)
{
	unsigned long long	 d;
	unsigned long		 n;
	char			 hex[17], *end;

	if (*p++ != '\t')
		return;
	id->content = *p == 's';
	id->old_content = *p == 'c';
	id->whole = *p == 'm' || id->content;
	p += id->whole || id->old_content;
	if (strspn(p, "0123456789abcdef") != 16 ||
	    (p[16] != '\0' && strncmp(p + 16, "\tr", 2) != 0 &&
	    strncmp(p + 16, "\tw", 2) != 0))
		return;
	memcpy(hex, p, 16);
	hex[16] = '\0';
	errno = 0;
	d = strtoull(hex, &end, 16);
	if (errno != 0 || *end != '\0')
		return;
	id->digest = (uint64_t)d;
	if (p[16] == '\0' || p[18] < '0' || p[18] > '9')
		return;
	n = strtoul(p + 18, &end, 10);
	/* "rN" (the version before): N refusals for good. */
	if (p[17] == 'r' && n < UCHAR_MAX)
		n *= POP3_DELE_WEIGHT;
	if (*end == '\0')
		id->refused = n > UCHAR_MAX ? UCHAR_MAX : (unsigned int)n;
}

/* Splits an entry: its UIDL into uidl ("" when bad), the rest into id
 * (the size -1 when the entry has none or a bad one, the digest 0). */
static void
pop3_entry_parse(const char *entry, char uidl[POP3_UIDL_MAX + 1],
    struct pop3_ident *id)
{
	const char		*tab;
	char			*end;
	unsigned long long	 n;
	size_t			 len;

	tab = strchr(entry, '\t');
	len = tab != NULL ? (size_t)(tab - entry) : strlen(entry);
	if (len > POP3_UIDL_MAX)
		len = 0;
	memcpy(uidl, entry, len);
	uidl[len] = '\0';
	id->size = -1;
	id->digest = 0;
	id->whole = 0;
	id->content = 0;
	id->old_content = 0;
	id->refused = 0;
	if (tab == NULL || tab[1] < '0' || tab[1] > '9')
		return;
	errno = 0;
	n = strtoull(tab + 1, &end, 10);
	if (errno != 0 || n > UINT32_MAX || (*end != '\0' && *end != '\t'))
		return;
	id->size = (int64_t)n;
	pop3_entry_digest(end, id);
}

/* The entries of the owed set whose UIDL this listing left out but the
 * state keeps, marked absent (pop3_owed_spare): still owed, carried over
 * as they are; NULL when none. */
static char *
pop3_owed_absent(struct pop3_session *s)
{
	struct state_folder	*sf;
	struct pop3_ident	 ident;
	char			*copy, *p, *w, *out = NULL;
	char			 uidl[POP3_UIDL_MAX + 1];
	size_t			 len = 0, n;
	uint32_t		 id;

	sf = state_folder_get(s->st, POP3_STATE_RECORD, 0);
	if (sf == NULL || sf->pending == NULL)
		return (NULL);
	copy = xstrdup(sf->pending);
	for (p = copy; (w = strsep(&p, " ")) != NULL;) {
		pop3_entry_parse(w, uidl, &ident);
		if (*uidl == '\0' ||
		    (id = state_uidl_find(s->st, uidl)) == STATE_UIDL_NONE ||
		    !state_uidl_absent(s->st, id))
			continue;
		n = strlen(w);
		out = xreallocarray(out, len + n + 2, 1);
		if (len > 0)
			out[len++] = ' ';
		memcpy(out + len, w, n + 1);
		len += n;
	}
	free(copy);
	return (out);
}

/* keep = no: a listing that leaves out a message whose DELE is owed
 * keeps its UIDL (marked absent) and its owed DELE for one more listing,
 * as for keep = yes: forgotten, the message would be fetched again when
 * listed next. Called before the prune. */
static void
pop3_owed_spare(struct pop3_session *s)
{
	struct state_folder	*sf;
	struct pop3_ident	 ident;
	char			*copy, *p, *w;
	char			 uidl[POP3_UIDL_MAX + 1];

	sf = state_folder_get(s->st, POP3_STATE_RECORD, 0);
	if (sf == NULL || sf->pending == NULL)
		return;
	copy = xstrdup(sf->pending);
	for (p = copy; (w = strsep(&p, " ")) != NULL;) {
		pop3_entry_parse(w, uidl, &ident);
		if (*uidl != '\0')
			(void)state_uidl_spare(s->st, uidl);
	}
	free(copy);
}

/* Writes the owed DELEs into the state record, in one pass. */
static void
pop3_store_owed(struct pop3_session *s)
{
	struct state_folder	*sf;
	const char		*u;
	char			*text = NULL, *p, buf[POP3_ENTRY_MAX], *absent;
	size_t			 i, len = 0, n;

	absent = pop3_owed_absent(s);
	if (absent != NULL)
		len += strlen(absent) + 1;
	for (i = 0; i < s->nmsgs; i++) {
		if ((s->msgs[i].owed || s->msgs[i].held) &&
		    (u = pop3_entry(s, &s->msgs[i], buf)))
			len += strlen(u) + 1;
	}
	if (len > 0) {
		p = text = xmalloc(len);
		if (absent != NULL)
			p = stpcpy(p, absent);
		for (i = 0; i < s->nmsgs; i++) {
			if (!(s->msgs[i].owed || s->msgs[i].held) ||
			    (u = pop3_entry(s, &s->msgs[i], buf)) == NULL)
				continue;
			if (p != text)
				*p++ = ' ';
			n = strlen(u);
			memcpy(p, u, n);
			p += n;
		}
		*p = '\0';
	}
	sf = state_folder_get(s->st, POP3_STATE_RECORD, text != NULL);
	if (sf != NULL)
		state_folder_set_pending(sf, text);
	if (sf != NULL && text == NULL && sf->suspect == NULL)
		state_folder_remove(s->st, POP3_STATE_RECORD);
	free(text);
	free(absent);
	s->state_dirty = 1;
}

/* Orders record indices (into msgs) by their UIDL id. */
static int
pop3_uidl_cmp(const void *a, const void *b, void *msgs)
{
	const struct pop3_msg	*m = msgs;
	uint32_t		 x = m[*(const uint32_t *)a].uidl;
	uint32_t		 y = m[*(const uint32_t *)b].uidl;

	return (x < y ? -1 : x > y);
}

/* The record indices sorted by UIDL id; caller frees. */
static uint32_t *
pop3_uidl_order(struct pop3_session *s)
{
	uint32_t	*order;
	size_t		 i;

	order = xreallocarray(NULL, s->nmsgs + 1, sizeof *order);
	for (i = 0; i < s->nmsgs; i++)
		order[i] = i;
	qsort_r(order, s->nmsgs, sizeof *order, pop3_uidl_cmp, s->msgs);
	return (order);
}

/* Whether the message listed under the UIDL of an owed DELE may be the
 * one delivered: the entry has the whole message's digest, which RETR
 * checks before the DELE (pop3_check_end), whatever size LIST gives now:
 * a server whose LIST sizes flap (LF and CRLF counts) lists the message
 * delivered with another size, and fetching it as new would double it
 * (review r14, finding 10); a new message under the freed UIDL fails
 * the check and is fetched then. Without the digest, if the size differs,
 * it is a different message (the server gave the freed UIDL to a new
 * one) and a DELE would lose it; without a recorded size and digest (an
 * entry of an older version) it may be; with the digest of the header
 * section alone (the previous version's entry) it may be too: a message
 * with the same header section and size (a local program's alerts) under
 * the freed UIDL would pass TOP n 0 (review r9, finding 05b), and RETR
 * cannot check it against a header digest. Either way it is not deleted
 * but fetched, as new: a duplicate at worst, never a loss; delivered, it
 * is recorded with the whole message's digest. */
static int
pop3_owed_same(struct pop3_session *s, struct pop3_msg *m, const char *uidl,
    const struct pop3_ident *id)
{
	int	same = id->size == (int64_t)m->size ||
	    id->size == POP3_SIZE_ANY;

	/* An older version's journal entry has no size, but a digest
	 * taken from the delivered file (pop3_file_digest). */
	if (id->digest != 0 && id->whole) {
		if (!same)
			log_msg(LOG_LVL_INFO, &s->ctx, "the message listed "
			    "under UIDL \"%s\" has %lu bytes, recorded with "
			    "%lld: its DELE waits for the check of its "
			    "content", uidl, (unsigned long)m->size,
			    (long long)id->size);
		s->digests[m - s->msgs] = id->digest;
		s->then[m - s->msgs] = id->size < 0 ? 0 : (uint32_t)id->size;
		s->refusals[m - s->msgs] = (unsigned char)id->refused;
		m->content = id->content;
		return (1);
	}
	if (id->old_content && id->digest != 0)
		log_msg(LOG_LVL_WARNING, &s->ctx, "the DELE owed for UIDL "
		    "\"%s\" was recorded with a digest that left out the "
		    "Status, X-Keywords and like header fields (by the "
		    "previous mailfetchd), which cannot tell it from another "
		    "message that differs only in them: not deleted; fetched "
		    "again (perhaps a duplicate)", uidl);
	else if (same && id->digest != 0)
		log_msg(LOG_LVL_WARNING, &s->ctx, "the DELE owed for UIDL "
		    "\"%s\" was recorded with the digest of the message's "
		    "header section only (by an older mailfetchd), which "
		    "cannot tell it from another message with the same header "
		    "and size that the server may have given the UIDL to: "
		    "not deleted; fetched again (perhaps a duplicate)", uidl);
	else if (id->size < 0 || same)
		log_msg(LOG_LVL_WARNING, &s->ctx, "the DELE owed for UIDL "
		    "\"%s\" was recorded without the message's "
		    "digest (by an older mailfetchd), so the message now "
		    "listed under it may not be the one delivered: not "
		    "deleted; fetched again (perhaps a duplicate)", uidl);
	else
		log_msg(LOG_LVL_WARNING, &s->ctx, "the message now listed "
		    "under UIDL \"%s\" is not the one delivered (size %lu, "
		    "was %lld): not deleted; fetched as a new message", uidl,
		    (unsigned long)m->size, (long long)id->size);
	state_uidl_undeliver(s->st, m->uidl);
	s->state_dirty = 1;
	return (0);
}

static int	pop3_mark_owed_as(struct pop3_session *, const uint32_t *,
		    const char *, const struct pop3_ident *);

/* Marks as owed the record of this entry (pop3_entry), which a previous
 * run durably recorded as delivered; 1 if marked. A UIDL the server gives
 * to more than one message is ambiguous: the record does not say which of
 * them was delivered, and a DELE could remove one that never was, so none
 * of them is deleted (they stay on the server, with a warning). One whose
 * size differs is another message (pop3_owed_same). */
static int
pop3_mark_owed(struct pop3_session *s, const uint32_t *order,
    const char *entry)
{
	char			uidl[POP3_UIDL_MAX + 1];
	struct pop3_ident	id;

	pop3_entry_parse(entry, uidl, &id);
	return (pop3_mark_owed_as(s, order, uidl, &id));
}

/* pop3_mark_owed with the entry's parts. */
static int
pop3_mark_owed_as(struct pop3_session *s, const uint32_t *order,
    const char *uidl, const struct pop3_ident *ident)
{
	size_t		lo = 0, hi = s->nmsgs, mid;
	uint32_t	id;

	if ((id = state_uidl_find(s->st, uidl)) == STATE_UIDL_NONE)
		return (0);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->msgs[order[mid]].uidl < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->nmsgs || s->msgs[order[lo]].uidl != id)
		return (0);
	if (lo + 1 < s->nmsgs && s->msgs[order[lo + 1]].uidl == id) {
		log_msg(LOG_LVL_WARNING, &s->ctx, "duplicate UIDL \"%s\": "
		    "cannot tell which of the messages sharing it was "
		    "delivered, so none of them is deleted (keep = no); "
		    "remove them on the server by hand", uidl);
		return (0);
	}
	/* Not delivered: found another message before (this is the
	 * second pass over the set) or never was. */
	if (s->msgs[order[lo]].owed || !state_uidl_delivered(s->st, id))
		return (0);
	if (!pop3_owed_same(s, &s->msgs[order[lo]], uidl, ident))
		return (0);
	s->msgs[order[lo]].owed = 1;
	return (1);
}

/* Marks the listed messages whose DELE a previous run still owes. */
static size_t
pop3_load_owed(struct pop3_session *s)
{
	struct state_folder	*sf;
	char			*copy, *p, *w;
	uint32_t		*order;
	size_t			 n = 0;

	sf = state_folder_get(s->st, POP3_STATE_RECORD, 0);
	if (sf == NULL || sf->pending == NULL)
		return (0);
	order = pop3_uidl_order(s);
	copy = xstrdup(sf->pending);
	for (p = copy; (w = strsep(&p, " ")) != NULL;) {
		if (*w != '\0')
			n += pop3_mark_owed(s, order, w);
	}
	free(copy);
	free(order);
	return (n);
}

/* Forgets the batch's staged messages (the Maildir has synced or dropped
 * them). */
static void
pop3_staged_clear(struct pop3_session *s)
{
	size_t	i;

	for (i = 0; i < s->nstaged; i++) {
		free(s->staged_name[i]);
		s->staged_name[i] = NULL;
	}
	s->nstaged = 0;
}

/* Saves the state of a session that failed already: a failure is
 * logged, nothing more. */
static void
pop3_save_failed(struct pop3_session *s)
{
	char	*cause;

	if (state_save(s->st, &cause) != 0) {
		log_msg(LOG_LVL_ERROR, &s->ctx, "%s", cause);
		free(cause);
	} else
		s->state_dirty = 0;
}

/* Saves the state; a failure is a local error for the whole account. */
static int
pop3_save_state(struct pop3_session *s)
{
	char	*cause;
	int	 rc;

	rc = state_save(s->st, &cause);
	conn_local_work_done(s->conn);
	if (rc == 0) {
		s->state_dirty = 0;
		return (0);
	}
	pop3_fail(s, EXIT_LOCAL, "%s", cause);
	free(cause);
	return (-1);
}

/* An owed DELE that cannot be sent: the message now under the UIDL may
 * not be the one delivered, so it is not deleted but fetched again (a
 * new message, or a duplicate at worst; deleted once delivered). */
static void
pop3_owed_refetch(struct pop3_session *s, size_t k)
{
	struct pop3_msg	*m = &s->msgs[k];

	m->owed = 0;
	m->content = 0;
	s->digests[k] = 0;
	s->refusals[k] = 0;
	state_uidl_undeliver(s->st, m->uidl);
	s->state_dirty = 1;
}

/* Starts a pipelined phase (RETR, DELE or CHECK) over q[0..n-1]. */
static void
pop3_phase(struct pop3_session *s, enum pop3_state st, size_t n)
{
	s->nq = n;
	s->nq_next = 0;
	s->q_sent = s->q_recv = 0;
	pop3_enter(s, st);
}

/* The batch-end gap (bench/README.md, "System calls and memory"): with
 * every RETR of the batch sent, the next batch's go out behind them, so
 * that the server goes on sending while the batch is made durable. Its
 * checkpoint still comes first: it runs when the batch's last answer is
 * in, before any answer of the next one is read, and the next one's
 * RETRs change nothing on the server. Only where a checkpoint is
 * followed by nothing but RETRs: keep = yes (no DELE between), the
 * Maildir (the agents' batches keep the server waiting), UIDLs, no daily
 * budget (pop3_window_admits fits each RETR to it), no suspect asked for
 * alone; one batch ahead at most. 1 when there is one. */
static int
pop3_ahead(struct pop3_session *s)
{
	if (s->state != POP3_S_RETR || s->nq_next > 0 || !s->ac->keep ||
	    s->ac->deliver != DELIVER_MAILDIR || s->no_uidl ||
	    s->ask_cap != 0 || s->owed_left ||
	    pop3_budget_left(s) != UINT64_MAX)
		return (0);
	s->nq_next = pop3_todo_batch(s, s->q + s->nq, UINT64_MAX);
	return (s->nq_next > 0);
}

/* Keeps the window of RETR/DELE commands full (CHECK sends RETR). */
static void
pop3_pump(struct pop3_session *s)
{
	size_t		window = (s->capa.flags & POP3_CAPA_PIPELINING) ?
	    POP3_WINDOW : 1;
	unsigned int	msgno;
	int		rc;

	/* Refilled half a window at a time: every write into an empty
	 * output buffer costs the TLS bufferevent two epoll_ctl calls (its
	 * write event armed, then disarmed once drained) and a loop round,
	 * which one command per answer paid for nearly every message. Half
	 * a window still in flight keeps the server busy. */
	if (s->q_sent - s->q_recv > window / 2)
		return;
	while (!s->closing && s->q_sent - s->q_recv < window) {
		if (s->q_sent == s->nq + s->nq_next && !pop3_ahead(s))
			return;
		if (s->state != POP3_S_DELE && !pop3_window_admits(s))
			return;
		msgno = s->msgs[s->q[s->q_sent]].msgno;
		rc = pop3_send(s, "%s %u", s->state == POP3_S_DELE ?
		    "DELE" : "RETR", msgno);
		if (rc != 0)
			return;
		s->q_sent++;
	}
}

/* The next batch of owed messages into q, from *next on. How many. Each
 * has the whole message's digest: an entry with another (or none) is
 * never owed (pop3_owed_same). */
static size_t
pop3_owed_batch(struct pop3_session *s, size_t *next)
{
	size_t	n = 0;

	while (*next < s->nmsgs && n < POP3_BATCH_MSGS) {
		if (s->msgs[*next].owed)
			s->q[n++] = *next;
		(*next)++;
	}
	return (n);
}

/* Sends DELE for the next batch of the messages an interrupted run still
 * owes, or goes on. Before any of them, each is checked to be the message
 * delivered (pop3_check_end): all of them were recorded by an earlier
 * session, so the UIDL may have passed to another message. RETR n checks
 * it against the whole message's digest (CHECK: the message is read once
 * more, not stored). */
static void
pop3_dele_owed(struct pop3_session *s)
{
	size_t	n;

	if ((n = pop3_owed_batch(s, &s->next_check)) > 0) {
		pop3_phase(s, POP3_S_CHECK, n);
		return;
	}
	n = pop3_owed_batch(s, &s->next_owed);
	if (s->next_owed == s->nmsgs)
		s->owed_left = 0;
	if (n == 0) {
		pop3_next_batch(s);
		return;
	}
	pop3_phase(s, POP3_S_DELE, n);
}

/* The journal's entries of the maildrop and where recovery found their
 * files (maildir_recover). -1 when the session failed. */
static int
pop3_journal_find(struct pop3_session *s, const struct state_inflight ***e,
    struct maildir_found **found, size_t *n)
{
	const struct state_inflight	*ie;
	const char			**finals;
	char				*cause;
	size_t				 i;

	*e = NULL;
	*n = 0;
	for (i = 0; (ie = state_inflight_at(s->st, i)) != NULL; i++) {
		if (strcmp(ie->folder, POP3_STATE_RECORD) != 0)
			continue;
		*e = xreallocarray(*e, *n + 1, sizeof **e);
		(*e)[(*n)++] = ie;
	}
	finals = xreallocarray(NULL, *n + 1, sizeof *finals);
	for (i = 0; i < *n; i++)
		finals[i] = (*e)[i]->file;
	*found = xreallocarray(NULL, *n + 1, sizeof **found);
	if (maildir_recover(s->md, finals, *n, *found, &cause) != 0) {
		pop3_fail(s, EXIT_LOCAL, "%s", cause);
		free(cause);
		free(finals);
		free(*found);
		free(*e);
		return (-1);
	}
	free(finals);
	return (0);
}

/* One warning for the recovered messages found nowhere in the Maildir,
 * naming (a bounded number of) their UIDLs. */
static void
pop3_journal_gone(struct pop3_session *s, const struct state_inflight **e,
    const struct maildir_found *found, size_t n, size_t ngone)
{
	char			*list = xstrdup(""), *more;
	char			 uidl[POP3_UIDL_MAX + 1];
	size_t			 i, shown = 0;
	struct pop3_ident	 id;

	for (i = 0; i < n && shown < 10; i++) {
		if (found[i].where != MAILDIR_GONE)
			continue;
		pop3_entry_parse(e[i]->id, uidl, &id);
		xasprintf(&more, "%s%s\"%s\"", list, shown > 0 ? " " : "",
		    uidl);
		free(list);
		list = more;
		shown++;
	}
	log_msg(LOG_LVL_WARNING, &s->ctx, "%zu message(s) not found in the "
	    "Maildir after an interrupted run (UIDLs %s%s): a mail reader "
	    "deleted or refiled them, or their tmp/ file was removed; counted "
	    "as delivered (not fetched again) and left on the server (no "
	    "DELE)", ngone, list, ngone > shown ? " ..." : "");
	free(list);
}

/* A recovered message found nowhere in the Maildir stays on the server,
 * delivered but not owed, so no content check ever looks at it: its UIDL
 * gets the "resized" mark, so that a size LIST gives later (one that
 * flaps, a Status header added at RETR) is not taken for a reuse, which
 * would fetch again the message the user deleted or refiled (review r19,
 * finding 12). The cost: a new message of another size taking that UIDL
 * later is not fetched, as for a UIDL fetched again once already. */
static void
pop3_journal_gone_mark(struct pop3_session *s, const char *uidl)
{
	uint32_t	id = state_uidl_find(s->st, uidl);

	if (id != STATE_UIDL_NONE)
		state_uidl_set_resized(s->st, id);
}

/* The digest of a recovered message's whole content, taken from its file
 * (which holds the bytes RETR decoded and digested, pop3_digest_feed),
 * for a journal entry that has none (an older version's) or only the
 * header section's (the previous version's): RETR then checks the
 * message listed under its UIDL before the DELE, as for a new entry,
 * instead of fetching it again (a duplicate), or of TOP, which cannot
 * tell apart messages that differ only in their body. A file a mail
 * reader changed meanwhile no longer matches: that message is fetched
 * again. 0 when unreadable. */
static uint64_t
pop3_file_digest(struct pop3_session *s, const struct maildir_found *f,
    int *clean)
{
	char		buf[8192];
	ssize_t		n = 0;
	uint64_t	d;
	int		fd;

	if ((fd = maildir_open_found(s->md, f)) == -1)
		return (0);
	pop3_digest_begin(s, UINT64_MAX);
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		pop3_digest_feed(s, buf, (size_t)n);
	}
	(void)close(fd);
	conn_local_work_done(s->conn);
	if (n == -1)
		return (0);
	d = pop3_digest_end(s);
	*clean = !s->dig_seen.had;
	return (d);
}

/* The identity of a recovered message, found in the Maildir, to check
 * before its DELE: the journal entry's whole-message digest, or else the
 * one its file gives (pop3_file_digest); failing that, the entry's
 * header digest, if any, which pop3_owed_same refuses. */
static void
pop3_journal_ident(struct pop3_session *s, const struct maildir_found *f,
    struct pop3_ident *id)
{
	uint64_t	d;
	int		clean = 0;

	if ((id->whole && id->digest != 0) ||
	    (d = pop3_file_digest(s, f, &clean)) == 0)
		return;
	id->digest = d;
	id->whole = 1;
	id->content = clean;
	id->old_content = 0;
	if (id->size < 0)
		id->size = POP3_SIZE_ANY;
}

/* A run killed between journaling a batch and recording it left journal
 * entries: finish each before anything is fetched, so that every message
 * counts once (its UIDL recorded: never fetched again, for a message the
 * user deleted must not come back). Only a file recovery finds in the
 * Maildir is owed its DELE (keep = no): one found nowhere stays on the
 * server. Returns -1 when the session failed. */
static int
pop3_journal_recover(struct pop3_session *s)
{
	const struct state_inflight	**e;
	struct maildir_found		*found;
	char				 uidl[POP3_UIDL_MAX + 1];
	uint32_t			*order = NULL;
	size_t				 i, n, ngone = 0;
	struct pop3_ident		 id;
	uint64_t			 bytes;
	int				 owe = !s->ac->keep && !s->no_uidl;

	if (owe)
		pop3_load_owed(s);	/* kept when the owed set is saved */
	if (pop3_journal_find(s, &e, &found, &n) != 0)
		return (-1);
	for (i = 0; i < n; i++) {
		pop3_entry_parse(e[i]->id, uidl, &id);
		if (state_uidl_add(s->st, uidl) != 0)
			log_msg(LOG_LVL_WARNING, &s->ctx, "%s: bad UIDL in the "
			    "journal; ignored", state_path(s->st));
		else if (id.size > 0 && id.size <= UINT32_MAX)
			state_uidl_set_size(s->st, state_uidl_find(s->st, uidl),
			    (uint32_t)id.size);
		if (found[i].where == MAILDIR_GONE) {
			pop3_journal_gone_mark(s, uidl);
			ngone++;
			continue;
		}
		if (!owe)
			continue;
		if (order == NULL)
			order = pop3_uidl_order(s);
		pop3_journal_ident(s, &found[i], &id);
		(void)pop3_mark_owed_as(s, order, uidl, &id);
	}
	free(order);
	if (n > 0) {
		log_msg(LOG_LVL_NOTICE, &s->ctx, "recovered an interrupted "
		    "run: %zu message(s) delivered", n - ngone);
		if (ngone > 0)
			pop3_journal_gone(s, e, found, n, ngone);
	}
	bytes = maildir_found_bytes(found, n);
	hook_files_found(&s->newfiles, "INBOX", s->md, found, n);
	hook_owe(s->hook, s->ac, &s->newfiles);
	maildir_found_clear(found, n);
	free(found);
	free(e);
	if (n == 0)
		return (0);
	/* They became visible with this run (or the run that put them there
	 * never said so): they count as this run's new mail. */
	s->result.messages += n - ngone;
	s->result.bytes += bytes;
	if (n > ngone && s->status == EXIT_NOTHING_NEW)
		s->status = EXIT_NEW_MAIL;
	state_inflight_clear(s->st, POP3_STATE_RECORD);
	if (owe)
		pop3_store_owed(s);
	return (pop3_save_state(s));
}

/* Whether msgs[k] is a suspect. */
static int
pop3_suspect_is(const struct pop3_session *s, size_t k)
{
	size_t	i;

	for (i = 0; i < s->nsusp; i++)
		if (s->susp[i] == k)
			return (1);
	return (0);
}

/* Adds msgs[k] to the suspects (asked for alone: last with UIDLs,
 * first without, pop3_nouidl_ask_next), with what is asked of it. */
static void
pop3_suspect_add(struct pop3_session *s, size_t k, enum pop3_susp_how how)
{
	s->susp = xreallocarray(s->susp, s->nsusp + 1, sizeof *s->susp);
	s->susp_how = xreallocarray(s->susp_how, s->nsusp + 1,
	    sizeof *s->susp_how);
	s->susp_how[s->nsusp] = how;
	s->susp[s->nsusp++] = k;
}

/* Removes msgs[k] from the suspects, if it is one. */
static void
pop3_suspect_drop(struct pop3_session *s, size_t k)
{
	size_t	i;

	for (i = 0; i < s->nsusp && s->susp[i] != k; i++)
		;
	if (i == s->nsusp)
		return;
	memmove(&s->susp[i], &s->susp[i + 1], (s->nsusp - i - 1) *
	    sizeof *s->susp);
	memmove(&s->susp_how[i], &s->susp_how[i + 1], s->nsusp - i - 1);
	s->nsusp--;
	if (s->next_susp > i)
		s->next_susp--;
}

/* Writes the suspects not delivered (nor remembered as too big or passed
 * over) into the state's record, UIDLs (0x21-0x7E) with spaces between,
 * or without UIDLs "#MSGNO:SIZE" or "!MSGNO:SIZE" (pop3_nouidl_suspect);
 * the state is saved with the next save. */
static void
pop3_suspect_store(struct pop3_session *s)
{
	struct state_folder	*sf;
	struct pop3_msg		*m;
	char			*text = NULL, *more;
	size_t			 i;

	for (i = 0; i < s->nsusp; i++) {
		m = &s->msgs[s->susp[i]];
		if (s->no_uidl)
			xasprintf(&more, "%s%s%c%u:%lu", text != NULL ? text :
			    "", text != NULL ? " " : "", s->susp_how[i] ==
			    POP3_SUSP_FRESH ? '!' : '#', (unsigned int)m->msgno,
			    (unsigned long)m->size);
		else if (state_uidl_delivered(s->st, m->uidl))
			continue;
		else
			xasprintf(&more, "%s%s%s", text != NULL ? text : "",
			    text != NULL ? " " : "", pop3_msg_uidl(s, m));
		free(text);
		text = more;
	}
	sf = state_folder_get(s->st, POP3_STATE_RECORD, text != NULL);
	if (sf != NULL)
		state_folder_set_suspect(sf, text);
	if (sf != NULL && text == NULL && sf->pending == NULL)
		state_folder_remove(s->st, POP3_STATE_RECORD);
	free(text);
	s->state_dirty = 1;
}

/*
 * A server without UIDLs: a message whose RETR answer goes on far past
 * LIST's size ends the session (pop3_body_bound) before QUIT, so the
 * DELEs of the batches delivered before it are rolled back, and nothing
 * tells the next session that they were delivered: fetched again, and
 * the same message would cut the session again, every run (review r9,
 * finding 13). Such a message is remembered by what is left to know it
 * by: its message number and LIST size, in the suspect text.
 *
 * A number names a message only while nobody changes the maildrop: a
 * QUIT whose +OK is lost may have committed the DELEs before it or not,
 * and another client may delete the liar, so that a new message of the
 * same size takes its number (review r16, findings 01 and 02). So a
 * record is trusted for one session only, never for good:
 *   "!MSGNO:SIZE": the lie ended the session before anything was
 *     committed (no QUIT), so the number still names the liar: the next
 *     session passes that message over, once, and stores the record as
 *     "#" (saved before anything else is done);
 *   "#MSGNO:SIZE": the message listed there with that size is asked for
 *     first, alone (pop3_nouidl_ask_next), before any other RETR or
 *     DELE of the session: a message that is not the liar is delivered
 *     as any other and the record dropped; the liar lying again ends the
 *     session with nothing to roll back, the record "!" again.
 * A pass-over needs a lie seen at that number in a session that
 * committed nothing since, so a message is never passed over twice
 * without being asked for in between: a stale record delays a message by
 * one session at most, never loses it. The cost: the liar's answer, up
 * to its lie bound (pop3_suspect_cost), is downloaded again every other
 * session; the others are delivered once more at most, by the session
 * after the cut that rolled back their DELEs. QUIT's +OK moves each
 * number down by the messages deleted before it
 * (pop3_nouidl_renumber). A message passed over is never deleted.
 */

/* Whether msgs[k] is passed over in this session (a "!" record). */
static int
pop3_nouidl_passed(const struct pop3_session *s, size_t k)
{
	size_t	i;

	for (i = 0; i < s->nsusp; i++)
		if (s->susp[i] == k)
			return (s->susp_how[i] != POP3_SUSP_ASK);
	return (0);
}

/* Whether LIST's size now may be the recorded one of the same message:
 * a server's count may flap between sessions from CRLF to LF line ends
 * (at most half), a header (Status) may be added at RETR. A record that
 * took another message for the liar delays it by one session at most,
 * where one not matching a liar whose size moved had it cut every
 * session, nothing ever delivered (review r19, finding 15). */
static int
pop3_nouidl_size_near(uint64_t listed, uint64_t recorded)
{
	uint64_t	lo = listed < recorded ? listed : recorded;
	uint64_t	hi = listed < recorded ? recorded : listed;

	return (hi <= 2 * lo + POP3_NOUIDL_SIZE_SLACK);
}

/* One record of the state's text, "#MSGNO:SIZE" or "!MSGNO:SIZE", that
 * the server lists at the same number, with that size or one near it
 * (pop3_nouidl_size_near): asked for first, or passed over this once. */
static void
pop3_nouidl_record(struct pop3_session *s, char *w)
{
	enum pop3_susp_how	 how;
	unsigned long		 msgno, size;
	struct pop3_msg		*m;
	char			*end;

	if (*w != '#' && *w != '!')
		return;		/* a UIDL: the server had UIDLs once */
	how = *w++ == '!' ? POP3_SUSP_PASS : POP3_SUSP_ASK;
	errno = 0;
	msgno = strtoul(w, &end, 10);
	if (errno != 0 || *end != ':' || msgno > POP3_MSGNO_MAX)
		return;
	size = strtoul(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' ||
	    (m = pop3_msg_find(s, (unsigned int)msgno)) == NULL ||
	    !pop3_nouidl_size_near(m->size, size) ||
	    pop3_suspect_is(s, m - s->msgs))
		return;
	pop3_suspect_add(s, m - s->msgs, how);
	if (how == POP3_SUSP_PASS)
		log_msg(LOG_LVL_WARNING, &s->ctx, "message %lu (%lu bytes) is "
		    "passed over this time: in the last session the server "
		    "sent far more of the message listed there than LIST "
		    "said; without UIDLs it is known by its number and size "
		    "alone, so it is asked for again next time, first and "
		    "alone; it stays on the server", msgno, size);
	else
		log_msg(LOG_LVL_NOTICE, &s->ctx, "message %lu (%lu bytes): "
		    "the server once sent far more of a message listed there "
		    "than LIST said; asked for first, alone: if it is still "
		    "that message the session ends there, with nothing "
		    "deleted yet", msgno, size);
}

/* The records of the state's text (pop3_nouidl_record); saved at once
 * when a "!" was taken: a pass-over is good for one session, even one
 * that dies before it saves anything else. -1 when the save failed the
 * session. */
static int
pop3_nouidl_suspect_load(struct pop3_session *s, const char *text)
{
	char	*copy, *p, *w;
	size_t	 i;

	copy = xstrdup(text);
	for (p = copy; (w = strsep(&p, " ")) != NULL;)
		pop3_nouidl_record(s, w);
	free(copy);
	s->next_susp = 0;	/* pop3_nouidl_ask_next */
	for (i = 0; i < s->nsusp; i++)
		if (s->susp_how[i] == POP3_SUSP_PASS)
			break;
	if (i == s->nsusp)
		return (0);
	pop3_suspect_store(s);
	return (pop3_save_state(s));
}

/* A lie ended this session (pop3_retr_lie): nothing it did is committed,
 * so the numbers of the liar and of the messages it passed over still
 * name them: "!" for the next session. */
static void
pop3_nouidl_lied(struct pop3_session *s, size_t k)
{
	size_t	i;

	if (!pop3_suspect_is(s, k))
		pop3_suspect_add(s, k, POP3_SUSP_FRESH);
	for (i = 0; i < s->nsusp; i++)
		if (s->susp[i] == k || s->susp_how[i] == POP3_SUSP_PASS)
			s->susp_how[i] = POP3_SUSP_FRESH;
	pop3_suspect_store(s);
}

/* The next "#" record's message, to be asked for first, alone: whether
 * there is one (s->susp[s->next_susp]) the daily budget allows. */
static int
pop3_nouidl_ask_next(struct pop3_session *s, uint64_t left)
{
	while (s->next_susp < s->nsusp &&
	    s->susp_how[s->next_susp] != POP3_SUSP_ASK)
		s->next_susp++;
	return (s->next_susp < s->nsusp && pop3_suspect_fits(s, left));
}

/*
 * Without UIDLs, a DELE the server refuses: the message was delivered,
 * but nothing told the next session so, and it was fetched as new at
 * every poll, one more copy each time, for ever (review r24 13). Its
 * digest (as pop3_entry's, "s" or "m") and the size LIST gave are kept
 * in the state's "INBOX" record, as "=SIZE:sDIGEST" words of its pending
 * text (the previous version's "=SIZE:DIGEST", which left the fields a
 * server adds out whatever they said, are dropped; the owed set of a
 * server with UIDLs). The next session reads every
 * message anyway (nothing else tells them apart); one with that digest
 * is that message: not delivered again, and its DELE is sent again
 * (pop3_nodele_met). A record that no message of POP3_NODELE_MISSES
 * sessions in a row which read them all matched is dropped (the message
 * is gone: pop3_nodele_misses), and only as many as the server lists
 * messages and POP3_NODELE_SPARE are kept, the newest. An identical copy
 * that arrives later matches as well: its content is in the Maildir
 * already, as with UIDLs the server computes from the content.
 */
static struct pop3_nodele *
pop3_nodele_push(struct pop3_session *s, uint64_t digest, uint32_t size,
    int content, int how)
{
	if (s->nnodele == s->anodele) {
		s->anodele = s->anodele == 0 ? 8 : 2 * s->anodele;
		s->nodele = xreallocarray(s->nodele, s->anodele,
		    sizeof *s->nodele);
	}
	s->nodele[s->nnodele].digest = digest;
	s->nodele[s->nnodele].size = size;
	s->nodele[s->nnodele].content = content;
	s->nodele[s->nnodele].misses = 0;
	s->nodele[s->nnodele].how = how;
	return (&s->nodele[s->nnodele++]);
}

/* The records of the DELEs refused before, from the state. */
static void
pop3_nodele_load(struct pop3_session *s)
{
	struct state_folder	*sf;
	unsigned long long	 d;
	unsigned int		 size, misses;
	char			*copy, *p, *w, c, kind;
	int			 n;

	sf = state_folder_get(s->st, POP3_STATE_RECORD, 0);
	if (sf == NULL || sf->pending == NULL)
		return;
	copy = xstrdup(sf->pending);
	for (p = copy; (w = strsep(&p, " ")) != NULL;) {
		/* "=SIZE:DIGEST" without "s" or "m" (the previous
		 * version's) left out the Status, X-Keywords... fields,
		 * whatever they said: it cannot tell its message from
		 * another that differs only in them, so it is dropped
		 * (the message fetched again: a duplicate at worst). */
		misses = 0;
		n = sscanf(w, "=%u:%c%16llx:%u%c", &size, &kind, &d, &misses,
		    &c);
		if ((n == 3 || n == 4) && d != 0 &&
		    (kind == 's' || kind == 'm'))
			pop3_nodele_push(s, (uint64_t)d, size, kind == 's',
			    POP3_NODELE_LOADED)->misses = misses;
	}
	free(copy);
	if (s->nnodele > 0)
		log_msg(LOG_LVL_INFO, &s->ctx, "%zu message(s) delivered "
		    "before whose DELE the server refused: each known by its "
		    "content, not delivered again", s->nnodele);
}

/* Whether message k, just read whole, is one delivered before whose DELE
 * the server refused: then not delivered again, and its DELE is sent
 * again with the batch's (pop3_checkpoint). */
static int
pop3_nodele_met(struct pop3_session *s, size_t k)
{
	struct log_ctx	mctx = pop3_msg_ctx(s, k);
	size_t		i;

	s->nread++;
	for (i = 0; i < s->nnodele; i++) {
		if (s->nodele[i].how == POP3_NODELE_LOADED &&
		    pop3_same_copy(s, s->digests[k], s->nodele[i].content,
		    s->nodele[i].digest, s->nodele[i].size, s->msgs[k].size))
			break;
	}
	if (i == s->nnodele)
		return (0);
	s->nodele[i].how = POP3_NODELE_MET;
	maildir_deliver_abort(s->dlv);
	s->dlv = NULL;
	s->msgs[k].owed = 1;
	s->again[s->nagain++] = k;
	log_msg(LOG_LVL_NOTICE, &mctx, "delivered before, when the server "
	    "refused its DELE (without UIDLs, known by its content): not "
	    "delivered again; its DELE is sent again");
	return (1);
}

/* Message k's DELE refused: not deleted at QUIT, and recorded (the
 * record it was met by, if any, refused again). */
static void
pop3_nodele_add(struct pop3_session *s, size_t k)
{
	size_t	i;

	s->msgs[k].owed = 0;
	for (i = 0; i < s->nnodele; i++) {
		if (s->nodele[i].how == POP3_NODELE_MET &&
		    s->nodele[i].digest == s->digests[k]) {
			s->nodele[i].how = POP3_NODELE_REFUSED;
			return;
		}
	}
	pop3_nodele_push(s, s->digests[k], s->msgs[k].size,
	    s->msgs[k].content, POP3_NODELE_REFUSED);
}

/* The sessions in a row that read every message listed and did not meet
 * record i, this one included. One listing may leave a message out (a
 * backend out of sync, an empty glimpse of the maildrop): a record is not
 * dropped on its word alone (review r27 05), as the owed set of a server
 * with UIDLs is not (pop3_owed_spare). */
static unsigned int
pop3_nodele_misses(const struct pop3_session *s, size_t i)
{
	return (s->nodele[i].misses + (s->nread >= s->nlisted));
}

/* Whether record i goes into the state: refused in this session; met,
 * until QUIT's +OK commits its DELE sent again (a cut before it keeps
 * the message on the server: review r27 01); from the state and not
 * met, unless the session read every message listed. */
static int
pop3_nodele_kept(const struct pop3_session *s, size_t i)
{
	return (s->nodele[i].how == POP3_NODELE_REFUSED ||
	    (s->nodele[i].how == POP3_NODELE_MET && !s->quit_ok) ||
	    (s->nodele[i].how == POP3_NODELE_LOADED &&
	    pop3_nodele_misses(s, i) < POP3_NODELE_MISSES));
}

/* Writes the records kept (pop3_nodele_kept), the newest as many as the
 * server lists messages, into the state's record; saved with the next
 * save. */
static void
pop3_nodele_store(struct pop3_session *s)
{
	struct state_folder	*sf;
	char			*text = NULL, *p;
	size_t			 i, n = 0, skip;

	for (i = 0; i < s->nnodele; i++)
		n += pop3_nodele_kept(s, i);
	skip = n > s->nlisted + POP3_NODELE_SPARE ?
	    n - s->nlisted - POP3_NODELE_SPARE : 0;
	if (n > skip)
		p = text = xmalloc((n - skip) * 42 + 1);
	for (i = 0; i < s->nnodele && text != NULL; i++) {
		if (!pop3_nodele_kept(s, i) || (skip > 0 && skip-- > 0))
			continue;
		p += sprintf(p, "%s=%lu:%s%016llx", p != text ? " " : "",
		    (unsigned long)s->nodele[i].size,
		    s->nodele[i].content ? "s" : "m",
		    (unsigned long long)s->nodele[i].digest);
		if (s->nodele[i].how == POP3_NODELE_LOADED &&
		    pop3_nodele_misses(s, i) > 0)
			p += sprintf(p, ":%u", pop3_nodele_misses(s, i));
	}
	sf = state_folder_get(s->st, POP3_STATE_RECORD, text != NULL);
	if (sf != NULL && (sf->pending == NULL || text == NULL ?
	    sf->pending != text : strcmp(sf->pending, text) != 0)) {
		state_folder_set_pending(sf, text);
		s->state_dirty = 1;
	}
	if (sf != NULL && text == NULL && sf->suspect == NULL)
		state_folder_remove(s->st, POP3_STATE_RECORD);
	free(text);
}

/* The batch delivered these messages: a record naming one of them named
 * a message that is not the liar. */
static void
pop3_nouidl_delivered(struct pop3_session *s)
{
	size_t	i;

	for (i = 0; i < s->nstaged; i++)
		pop3_suspect_drop(s, s->staged[i]);
}

/* QUIT committed the DELEs: each suspect's number in the next session,
 * which the messages deleted before it move down; saved (-1 when that
 * failed the session). The session ends: its numbers are not used
 * again. */
static int
pop3_nouidl_renumber(struct pop3_session *s)
{
	size_t		i, k;
	uint32_t	gone;

	if (s->nsusp == 0)
		return (0);
	for (i = 0; i < s->nsusp; i++) {
		gone = 0;
		for (k = 0; k < s->susp[i]; k++)
			gone += s->msgs[k].owed;
		s->msgs[s->susp[i]].msgno -= gone;
	}
	pop3_suspect_store(s);
	return (pop3_save_state(s));
}

/* The suspects of earlier sessions that the server still lists and that
 * are not delivered: asked for alone, after the others
 * (pop3_next_batch). -1 when a failed save ended the session. */
static int
pop3_suspect_load(struct pop3_session *s)
{
	struct state_folder	*sf;
	char			*copy, *p, *w;
	uint32_t		 id;
	size_t			 i;

	sf = state_folder_get(s->st, POP3_STATE_RECORD, 0);
	if (sf == NULL || sf->suspect == NULL)
		return (0);
	if (s->no_uidl)
		return (pop3_nouidl_suspect_load(s, sf->suspect));
	copy = xstrdup(sf->suspect);
	for (p = copy; (w = strsep(&p, " ")) != NULL;) {
		if (*w == '\0' || (id = state_uidl_find(s->st, w)) ==
		    STATE_UIDL_NONE || state_uidl_delivered(s->st, id))
			continue;
		for (i = 0; i < s->nmsgs; i++)
			if (s->msgs[i].uidl == id && !pop3_suspect_is(s, i))
				pop3_suspect_add(s, i, POP3_SUSP_ASK);
	}
	free(copy);
	if (s->nsusp > 0)
		log_msg(LOG_LVL_NOTICE, &s->ctx, "%zu message(s) the server "
		    "once sent far larger than LIST said: each asked for "
		    "again, alone, after the others", s->nsusp);
	return (0);
}

/* The most the RETR answer of a message of LIST size may take on the
 * wire, which the budget counts (pop3_body_feed): LIST counts CRLF line
 * ends (RFC 1939), but a line beginning with "." comes dot-stuffed (one
 * octet more, on a line of 3 octets or more), and ".\r\n" ends it. Its
 * LIST size alone let the budget be passed at its edge (review r14 03). */
static uint64_t
pop3_wire_bound(uint64_t size)
{
	return (size + (size + 2) / 3 + 3);
}

/* Whether message k is larger than the whole daily budget: it can never
 * be fetched within it, so it is passed over (neither fetched nor
 * recorded: it stays on the server, and is looked at again at every
 * poll, fetched once the daily_limit is raised), with a warning, rather
 * than stop the poll before it on every poll, the others behind it
 * never fetched (review r14, finding 11). */
static int
pop3_budget_never(struct pop3_session *s, size_t k)
{
	uint64_t	limit = s->ac->daily_limit;
	struct log_ctx	mctx;

	/* As a batch counts it (pop3_wire_bound): one whose bound passes
	 * the limit would never fit either. */
	if (s->budget_cb == NULL || limit == 0 ||
	    pop3_wire_bound(s->msgs[k].size) <= limit)
		return (0);
	/* The bound, not the size, is what passes the limit: say so, or a
	 * message below daily_limit looks misjudged (review r19 07). */
	mctx = pop3_msg_ctx(s, k);
	log_msg(LOG_LVL_WARNING, &mctx, "message of %lu bytes, up to %llu as "
	    "sent (dot-stuffed lines, the final \".\"), is larger than the "
	    "whole daily_limit (%llu): it can never be fetched within it; "
	    "passed over (left on the server; raise daily_limit to fetch it)",
	    (unsigned long)s->msgs[k].size,
	    (unsigned long long)pop3_wire_bound(s->msgs[k].size),
	    (unsigned long long)limit);
	s->result.skipped++;
	return (1);
}

/* Whether the server lists no message while the state holds delivered
 * UIDLs that tell of messages still there: with keep = yes every one,
 * with keep = no those whose DELE is owed (the others are mostly of the
 * messages the last QUIT deleted: an empty maildrop is the rule there,
 * and they are forgotten as before). They are then kept, and so is the
 * owed set, rather than pruned to the listing: an empty listing may be a
 * passing fault (a failover to a backend not yet in sync, a mailbox
 * being repaired and shown empty instead of [IN-USE]), and forgetting
 * them on it had the next session deliver the whole maildrop again, or
 * every message whose DELE was owed (review r19, finding 20). Kept, they
 * cost nothing: the set does not grow, and the next listing that names
 * a message prunes it. */
static int
pop3_listing_empty(struct pop3_session *s)
{
	struct state_folder	*sf;
	size_t			 held;
	int			 owed;

	if (s->nmsgs > 0 || (held = state_uidl_count(s->st)) == 0)
		return (0);
	sf = state_folder_get(s->st, POP3_STATE_RECORD, 0);
	owed = sf != NULL && sf->pending != NULL && *sf->pending != '\0';
	if (!owed && !s->ac->keep)
		return (0);
	log_msg(owed ? LOG_LVL_WARNING : LOG_LVL_NOTICE, &s->ctx, "the server "
	    "lists no message: the %zu UIDL(s) of delivered messages%s are "
	    "kept, not forgotten (if the listing is a passing server fault, "
	    "forgetting them would have those messages delivered again)",
	    held, owed ? ", some of them owed their DELE," : "");
	return (1);
}

/* Says why the owed DELEs of the session's start are owed: a DELE the
 * server refused (review r24 06: that was "an interrupted run" too), or
 * a run cut before its QUIT. */
static void
pop3_owed_notice(struct pop3_session *s, size_t owed)
{
	size_t	i, refused = 0;

	for (i = 0; i < s->nmsgs; i++)
		refused += s->msgs[i].owed && s->refusals[i] > 0;
	if (refused > 0)
		log_msg(LOG_LVL_NOTICE, &s->ctx, "deleting %zu delivered "
		    "message(s) whose DELE the server refused before (given "
		    "up after %d refusals), each read again first to check "
		    "that it is the one delivered", refused,
		    POP3_DELE_REFUSALS_MAX);
	if (owed > refused)
		log_msg(LOG_LVL_NOTICE, &s->ctx, "deleting %zu delivered "
		    "message(s) left on the server by an interrupted run, "
		    "each read again first to check that it is the one "
		    "delivered", owed - refused);
}

/* Message m's key among the refused messages held back (mda_hold_note):
 * "UIDL<tab>SIZE", the size LIST gives, so that a freed UIDL given to a
 * message of another size is not held. */
static void
pop3_hold_key(struct pop3_session *s, const struct pop3_msg *m, char *buf,
    size_t len)
{
	(void)snprintf(buf, len, "%s\t%lu", pop3_msg_uidl(s, m),
	    (unsigned long)m->size);
}

/* state_refused_keep's question: whether the held message key names is
 * listed now, not delivered, with its size. */
static int
pop3_hold_listed(void *arg, const char *key)
{
	struct pop3_session	*s = arg;
	char			 uidl[POP3_UIDL_MAX + 1];
	const char		*tab = strchr(key, '\t');
	unsigned long		 size;
	uint32_t		 id;
	size_t			 i;

	if (tab == NULL || (size_t)(tab - key) > POP3_UIDL_MAX)
		return (0);
	memcpy(uidl, key, tab - key);
	uidl[tab - key] = '\0';
	size = strtoul(tab + 1, NULL, 10);
	if ((id = state_uidl_find(s->st, uidl)) == STATE_UIDL_NONE ||
	    state_uidl_delivered(s->st, id))
		return (0);
	for (i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].uidl == id && s->msgs[i].size == size)
			return (1);
	}
	return (0);
}

/* The refused messages held back that the server no longer lists (or
 * lists delivered, or with another size) are forgotten. */
static void
pop3_hold_prune(struct pop3_session *s)
{
	if (state_refused_count(s->st) > 0 &&
	    state_refused_keep(s->st, POP3_STATE_RECORD, pop3_hold_listed,
	    s) > 0)
		s->state_dirty = 1;
}

/* Whether message k is one the agent refused, held back until its retry
 * time (counted for the log and --status). */
static int
pop3_hold_is(struct pop3_session *s, size_t k, long long now)
{
	char	key[POP3_UIDL_MAX + 32];

	/* Without records, no UIDL text read from the scratch file. */
	if (s->no_uidl || s->ac->deliver == DELIVER_MAILDIR ||
	    state_refused_count(s->st) == 0)
		return (0);
	pop3_hold_key(s, &s->msgs[k], key, sizeof key);
	return (mda_hold_is(s->st, POP3_STATE_RECORD, key, now,
	    &s->result.mda_held_until, &s->result.mda_held));
}

/* How the agent ended for message m, for its retry backoff; its retry
 * time, 0 for none. */
static long long
pop3_hold_note(struct pop3_session *s, const struct pop3_msg *m,
    enum mda_result res)
{
	char	key[POP3_UIDL_MAX + 32];

	if (s->no_uidl)
		return (0);
	pop3_hold_key(s, m, key, sizeof key);
	s->state_dirty = 1;
	return (mda_hold_count(&s->result.mda_held, &s->result.mda_held_until,
	    mda_hold_note(s->st, s->ac, POP3_STATE_RECORD, key, res)));
}

/* Both listings are in: finish an interrupted run, prune the state, decide
 * what to fetch, and start with the deletions an interrupted run still
 * owes. */
static void
pop3_plan(struct pop3_session *s)
{
	const struct account_conf	*ac = s->ac;
	struct pop3_msg			*m;
	struct log_ctx			 mctx;
	size_t				 i, dropped, owed, batch;
	uint64_t			 max = ac->max_message_size;
	long long			 now = (long long)time(NULL);

	batch = s->nmsgs < POP3_BATCH_MSGS ? s->nmsgs : POP3_BATCH_MSGS;
	s->q = xreallocarray(NULL, 2 * batch + 1, sizeof *s->q);
	s->staged = xreallocarray(NULL, batch + 1, sizeof *s->staged);
	s->staged_name = xcalloc(batch + 1, sizeof *s->staged_name);
	s->digests = xcalloc(s->nmsgs + 1, sizeof *s->digests);
	s->then = xcalloc(s->nmsgs + 1, sizeof *s->then);
	if (!s->no_uidl)
		s->refusals = xcalloc(s->nmsgs + 1, sizeof *s->refusals);
	else
		pop3_nodele_load(s);
	s->again = xreallocarray(NULL, batch + 1, sizeof *s->again);
	if (s->dups > 5)
		log_msg(LOG_LVL_WARNING, &s->ctx, "%zu more duplicate UIDLs",
		    s->dups - 5);
	/* The journal first: its files belong in the Maildir whatever the
	 * server lists now. */
	if (pop3_journal_recover(s) != 0)
		return;
	owed = 0;
	if (!s->no_uidl && pop3_listing_empty(s))
		;	/* nothing to prune, owe, plan or fetch */
	else if (!s->no_uidl) {
		/* keep = yes: one listing leaving a message out must not
		 * have it fetched again (the top of this file). */
		if (!ac->keep)
			pop3_owed_spare(s);
		dropped = state_uidl_list_prune(s->st, ac->keep);
		if (dropped > 0) {
			log_msg(LOG_LVL_DEBUG, &s->ctx, "forgot %zu UIDL(s) "
			    "the server no longer lists", dropped);
			s->state_dirty = 1;
		}
		pop3_load_owed(s);
		for (i = 0; i < s->nmsgs; i++)
			owed += s->msgs[i].owed;
		if (owed > 0 && ac->keep) {
			log_msg(LOG_LVL_NOTICE, &s->ctx, "keep = yes: not "
			    "deleting the %zu message(s) a previous run with "
			    "keep = no left on the server", owed);
			for (i = 0; i < s->nmsgs; i++)
				s->msgs[i].owed = 0;
			owed = 0;
		}
		/* Drops owed UIDLs the server no longer lists. */
		pop3_store_owed(s);
		pop3_hold_prune(s);
	}
	if (pop3_suspect_load(s) != 0)
		return;
	for (i = 0; i < s->nmsgs; i++) {
		m = &s->msgs[i];
		if (!m->owed)
			pop3_uidl_reused(s, m);
		if (m->uidl != STATE_UIDL_NONE &&
		    state_uidl_delivered(s->st, m->uidl))
			continue;
		if (max != 0 && m->size > max) {
			mctx = pop3_msg_ctx(s, i);
			log_msg(LOG_LVL_WARNING, &mctx, "message of %llu bytes "
			    "is larger than max_message_size (%llu); skipped%s",
			    (unsigned long long)m->size,
			    (unsigned long long)max, s->no_uidl ? "" :
			    " (remembered: not tried again)");
			if (m->uidl != STATE_UIDL_NONE) {
				pop3_uidl_done(s, m);
				s->state_dirty = 1;
			}
			s->result.skipped++;
			continue;
		}
		if (s->no_uidl && pop3_nouidl_passed(s, i)) {
			s->result.skipped++;	/* pop3_nouidl_suspect_load */
			continue;
		}
		if (pop3_budget_never(s, i))
			continue;
		if (pop3_hold_is(s, i, now))
			continue;	/* not undelivered for good */
		if (!pop3_suspect_is(s, i))
			m->todo = 1;
		s->ntodo++;
	}
	mda_hold_log(&s->ctx, s->result.mda_held, s->result.mda_held_until);
	/* Drops those the server no longer lists, or that are too big. */
	pop3_suspect_store(s);
	if (s->ntodo > 0)
		log_msg(LOG_LVL_INFO, &s->ctx, "%zu new message(s) of %zu on "
		    "the server", s->ntodo, s->nlisted);
	if (owed > 0) {
		pop3_owed_notice(s, owed);
		if (pop3_save_state(s) != 0)
			return;
		s->owed_left = 1;
		pop3_dele_owed(s);
		return;
	}
	pop3_next_batch(s);
}

/* What the daily budget still allows this session to download now
 * (fetch_budget_cb; the owner counts the session's downloads when it
 * ends). */
static uint64_t
pop3_budget_left(const struct pop3_session *s)
{
	if (s->budget_cb == NULL)
		return (UINT64_MAX);
	return (s->budget_cb(s->budget_arg, s->result.downloaded));
}

/* The daily budget does not allow message k: no more RETR this session.
 * The messages left are neither recorded nor deleted: a later session
 * fetches them. */
static void
pop3_budget_reached(struct pop3_session *s, size_t k, uint64_t left)
{
	size_t		i, n = 0;
	uint64_t	rest = 0;

	for (i = k; i < s->nmsgs; i++) {
		if (!s->msgs[i].todo)
			continue;
		n++;
		rest += s->msgs[i].size;
	}
	log_msg(LOG_LVL_NOTICE, &s->ctx, "daily budget reached (%llu bytes "
	    "left; the next message has %llu, up to %llu as sent): %zu "
	    "message(s) of %llu bytes wait on the server for later",
	    (unsigned long long)left, (unsigned long long)s->msgs[k].size,
	    (unsigned long long)pop3_wire_bound(s->msgs[k].size), n,
	    (unsigned long long)rest);
	s->next_todo = s->nmsgs;
}

/* The most a suspect's RETR may download before pop3_body_bound cuts it:
 * the lie bound (or max_message_size) of decoded body, one chunk past it,
 * and each decoded byte may have come as two (CRLF, dot-stuffing). */
static uint64_t
pop3_suspect_cost(const struct pop3_session *s, size_t k)
{
	uint64_t	bound, max = s->ac->max_message_size;

	bound = FETCH_LIE_FACTOR * s->msgs[k].size + FETCH_LIE_SLACK;
	if (max != 0 && max < bound)
		bound = max;
	return (2 * (bound + POP3_CHUNK_MAX) + 5);
}

/* The most decoded body a suspect's RETR may read within LEFT bytes of
 * download (the inverse of pop3_suspect_cost), or 0 when that would not
 * cover an honest message of its LIST size: LIST counts CRLF, so the
 * decoded message is no larger; the slack is for a header a server adds
 * at RETR (Status) and a size that flaps between sessions. */
static uint64_t
pop3_suspect_cap(const struct pop3_session *s, size_t k, uint64_t left)
{
	uint64_t	size = s->msgs[k].size, cap;

	if (left < 2 * POP3_CHUNK_MAX + 5)
		return (0);
	cap = (left - 5) / 2 - POP3_CHUNK_MAX;
	return (cap >= size + size / 8 + 1024 ? cap : 0);
}

/* Whether the daily budget left allows the next suspect: the server sent
 * it far larger than LIST said, and may again, so it counts as the most
 * its RETR may download (review r14 12). Without UIDLs, when that cost
 * does not fit but an answer of its LIST size does, it is asked for with
 * its answer cut as a lie at what the budget allows (s->ask_cap): the
 * record is only a number, which may name another message by now, and
 * with a daily_limit below the cost that message would be passed over
 * for good (review r19, finding 02). With UIDLs the suspect is the
 * liar's UIDL, and one that does not fit (or without UIDLs, not even
 * so) stays a suspect: asked for alone in a later session with budget
 * enough. */
static int
pop3_suspect_fits(struct pop3_session *s, uint64_t left)
{
	size_t		k = s->susp[s->next_susp];
	uint64_t	cost = pop3_suspect_cost(s, k);

	s->ask_cap = 0;
	if (cost <= left)
		return (1);
	if (s->no_uidl && (s->ask_cap = pop3_suspect_cap(s, k, left)) != 0) {
		log_msg(LOG_LVL_NOTICE, &s->ctx, "daily budget: message %u, "
		    "which the server once sent far larger than LIST said, is "
		    "asked for with its answer cut at %llu bytes, what the "
		    "%llu bytes left allow (up to %llu otherwise)",
		    s->msgs[k].msgno, (unsigned long long)s->ask_cap,
		    (unsigned long long)left, (unsigned long long)cost);
		return (1);
	}
	log_msg(LOG_LVL_NOTICE, &s->ctx, "daily budget: message %u, which "
	    "the server once sent far larger than LIST said, waits on the "
	    "server: asking for it again may download up to %llu bytes, and "
	    "%llu are left", s->msgs[k].msgno, (unsigned long long)cost,
	    (unsigned long long)left);
	s->next_susp = s->nsusp;
	return (0);
}

/* Whether message k is one LIST gives no size (0: it tells nothing) in
 * a session with a daily budget: its answer has no lie bound but
 * max_message_size (fetch_size_lie), so the budget left is its read cap
 * (pop3_body_cap; review r19 13). */
static int
pop3_body_unsized(struct pop3_session *s, size_t k)
{
	return (s->msgs[k].size == 0 && s->budget_cb != NULL &&
	    pop3_budget_left(s) != UINT64_MAX);
}

/* Whether message k, one LIST gives no size for, waits for the next
 * session: its answer may be cut at the budget left (pop3_body_cut),
 * which closes the connection without QUIT and so rolls back the DELEs
 * this session sent. The next session then checked and deleted the same
 * messages again, spent the budget on them and was cut at the same
 * message, every day (review r22, finding 09). So a session with DELEs
 * to commit ends with QUIT before such a RETR; the next one asks for the
 * message first, with nothing to roll back. */
static int
pop3_unsized_waits(struct pop3_session *s, size_t k)
{
	if (s->dele_acked == 0 || !pop3_body_unsized(s, k))
		return (0);
	log_msg(LOG_LVL_NOTICE, &s->ctx, "message %u: LIST gives no size "
	    "for it, and a cut of its answer at the daily budget would roll "
	    "back the %zu deletion(s) of this session: ending this session "
	    "with QUIT first; it is fetched by the next", s->msgs[k].msgno,
	    s->dele_acked);
	s->next_todo = s->nmsgs;
	return (1);
}

/* The next batch of new messages into q, from next_todo on, fitted to
 * left, the daily budget left (pop3_budget_left), each message counted
 * as pop3_wire_bound says. How many. */
static size_t
pop3_todo_batch(struct pop3_session *s, uint32_t *q, uint64_t left)
{
	uint64_t	bytes = 0, cost = 0, c;
	size_t		n = 0;

	while (s->next_todo < s->nmsgs && n < POP3_BATCH_MSGS) {
		if (!s->msgs[s->next_todo].todo) {
			s->next_todo++;
			continue;
		}
		if (n > 0 && bytes + s->msgs[s->next_todo].size >
		    POP3_BATCH_BYTES)
			break;
		c = pop3_wire_bound(s->msgs[s->next_todo].size);
		if (c > left - cost) {
			if (n == 0)
				pop3_budget_reached(s, s->next_todo, left);
			break;
		}
		/* A message LIST gives no size comes in a batch of its
		 * own, read no further than the budget left allows
		 * (pop3_body_cap): a cut there ends the session with
		 * nothing else of the batch lost. */
		if (pop3_body_unsized(s, s->next_todo) && n > 0)
			break;
		if (n == 0 && pop3_unsized_waits(s, s->next_todo))
			break;
		q[n++] = s->next_todo;
		bytes += s->msgs[s->next_todo].size;
		cost += c;
		if (pop3_body_unsized(s, s->next_todo++))
			break;
	}
	return (n);
}

/* Requests the next batch of bodies, or ends the session with QUIT. A
 * batch holds no more than the daily budget allows. */
static void
pop3_next_batch(struct pop3_session *s)
{
	uint64_t	left;
	size_t		n = 0;

	pop3_staged_clear(s);
	s->ask_cap = 0;
	if (s->owed_left) {
		pop3_dele_owed(s);
		return;
	}
	left = pop3_budget_left(s);
	/* Without UIDLs, the records to check come first, each alone:
	 * before any DELE, a lie rolls nothing back. */
	if (s->no_uidl && pop3_nouidl_ask_next(s, left)) {
		s->q[n++] = s->susp[s->next_susp++];
		pop3_phase(s, POP3_S_RETR, n);
		return;
	}
	n = pop3_todo_batch(s, s->q, left);
	/* The others done with, each suspect alone: a server lying about it
	 * again ends the session with nothing else left undone. */
	if (n == 0 && s->next_susp < s->nsusp && pop3_suspect_fits(s, left))
		s->q[n++] = s->susp[s->next_susp++];
	if (n == 0) {
		if (s->no_uidl)
			pop3_nodele_store(s);
		if (s->state_dirty && pop3_save_state(s) != 0)
			return;
		pop3_enter(s, POP3_S_QUIT);
		return;
	}
	pop3_phase(s, POP3_S_RETR, n);
}

/* The batch could not be made durable: the Maildir dropped it, and so
 * goes its journal. */
static void
pop3_batch_lost(struct pop3_session *s, char *cause)
{
	pop3_staged_clear(s);
	pop3_fail(s, EXIT_LOCAL, "%s; this batch will be fetched again next "
	    "time", cause);
	free(cause);
	/* pop3_fail may still QUIT, committing the DELEs sent: the
	 * records of those refused go with them (review r27 14). */
	if (s->no_uidl)
		pop3_nodele_store(s);
	if (state_inflight_count(s->st) == 0 && !s->state_dirty)
		return;
	state_inflight_clear(s->st, POP3_STATE_RECORD);
	pop3_save_failed(s);
}

/* Steps 2 and 3 of the durability order: the batch durable in tmp/, then
 * journaled. Without UIDLs there is nothing to journal by. */
static int
pop3_journal(struct pop3_session *s)
{
	char	*cause, buf[POP3_ENTRY_MAX];
	size_t	 i;
	int	 rc;

	/* Without a journal, maildir_sync does it all and a failure
	 * discards the batch; once prepared, the files are the journal's. */
	if (s->no_uidl)
		return (0);
	/* Our own fsyncs may take long on a busy disk: not the server's
	 * time (conn_local_work_done). */
	rc = maildir_sync_prepare(s->md, &cause);
	conn_local_work_done(s->conn);
	if (rc != 0) {
		pop3_batch_lost(s, cause);
		return (-1);
	}
	for (i = 0; i < s->nstaged; i++) {
		state_inflight_add(s->st, POP3_STATE_RECORD,
		    pop3_entry(s, &s->msgs[s->staged[i]], buf),
		    s->staged_name[i]);
	}
	if (pop3_save_state(s) != 0)
		return (-1);
	fault_point("pop3-journaled");
	return (0);
}

/* Steps 2 to 5 of the durability order for what the batch staged:
 * durable in tmp/, journaled, moved into new/ or cur/, the UIDLs
 * recorded (with keep = no the DELEs owed), saved. -1 when the session
 * failed. */
static int
pop3_batch_durable(struct pop3_session *s)
{
	struct pop3_msg	*m;
	char		*cause;
	size_t		 i;
	int		 rc;

	if (pop3_journal(s) != 0)
		return (-1);
	rc = maildir_sync(s->md, &cause);
	conn_local_work_done(s->conn);
	if (rc != 0) {
		if (s->no_uidl) {
			pop3_batch_lost(s, cause);
			return (-1);
		}
		/* Left as a crash leaves it (maildir.h): the journal stays
		 * and the next session finishes the move. */
		pop3_staged_clear(s);
		pop3_fail(s, EXIT_LOCAL, "%s; the batch is finished by the "
		    "next session", cause);
		free(cause);
		return (-1);
	}
	fault_point("pop3-synced");
	for (i = 0; i < s->nstaged; i++) {
		hook_files_add(&s->newfiles, "INBOX",
		    maildir_final_path(s->md, s->staged_name[i]));
		m = &s->msgs[s->staged[i]];
		if (m->uidl != STATE_UIDL_NONE)
			pop3_uidl_done(s, m);
		if (!s->ac->keep)
			m->owed = 1;
	}
	hook_owe(s->hook, s->ac, &s->newfiles);
	if (s->no_uidl)
		pop3_nouidl_delivered(s);
	if (s->nsusp > 0)
		pop3_suspect_store(s);	/* delivered: no suspect */
	s->result.messages += s->nstaged;
	if (s->status == EXIT_NOTHING_NEW)
		s->status = EXIT_NEW_MAIL;
	state_inflight_clear(s->st, POP3_STATE_RECORD);
	if (!s->no_uidl && !s->ac->keep)
		pop3_store_owed(s);
	s->state_dirty = 1;
	if (!s->no_uidl && pop3_save_state(s) != 0)
		return (-1);
	fault_point("pop3-saved");
	return (0);
}

/*
 * deliver = mda (mda.h): in place of steps 2 to 5 of the durability order,
 * each staged message of the batch is handed to the agent in turn, and
 * only one it took (exit 0) is recorded (its UIDL, with keep = no its
 * owed DELE) and the state saved, before the next message goes: a crash
 * between an agent's exit and that save (point pop3-mda-taken) hands
 * that one message over twice at worst, never loses it. No intent
 * journal names these files: one killed in tmp/ is fetched again. A
 * message the agent did not take stays on the server, owes nothing, and
 * is fetched again by the next session; the others of the batch go on.
 * The connection idles meanwhile: the agents' time is not the server's.
 */

static void	pop3_mda_next(struct pop3_session *);
static void	pop3_finish_schedule(struct pop3_session *);

/* The batch is done with: the server told of what the agent took. */
static void
pop3_mda_batch_end(struct pop3_session *s)
{
	maildir_staged_drop(s->md);
	pop3_staged_clear(s);
	conn_set_timeout(s->conn, s->ac->timeout != 0 ? s->ac->timeout :
	    CONN_DEFAULT_TIMEOUT);
	conn_local_work_done(s->conn);
	/* The refusals' retry times (pop3_hold_note), before the next
	 * batch downloads more. */
	if (s->state_dirty && pop3_save_state(s) != 0)
		return;
	if (s->ac->keep || s->mda_taken == 0) {
		pop3_next_batch(s);
		return;
	}
	pop3_phase(s, POP3_S_DELE, s->mda_taken);
}

/* The agent took message m: recorded and saved before anything else.
 * -1 when the session failed. */
static int
pop3_mda_taken(struct pop3_session *s, struct pop3_msg *m)
{
	fault_point("pop3-mda-taken");
	pop3_uidl_done(s, m);
	if (!s->ac->keep) {
		m->owed = 1;
		pop3_store_owed(s);
	}
	if (s->nsusp > 0)
		pop3_suspect_store(s);	/* delivered: no suspect */
	s->result.messages++;
	if (s->status == EXIT_NOTHING_NEW)
		s->status = EXIT_NEW_MAIL;
	s->q[s->mda_taken++] = (uint32_t)(m - s->msgs);
	/* new_mail_command counts it (no file to list), owed before the
	 * save as a Maildir's files are. */
	hook_files_count(&s->newfiles, "INBOX");
	hook_owe(s->hook, s->ac, &s->newfiles);
	s->state_dirty = 1;
	return (pop3_save_state(s));
}

static void
pop3_mda_done(enum mda_result res, const char *text, void *arg)
{
	struct pop3_session	*s = arg;
	struct pop3_msg		*m = &s->msgs[s->staged[s->mda_next]];
	struct log_ctx		 ctx = pop3_msg_ctx(s, s->staged[s->mda_next]);

	s->mda = NULL;
	s->mda_next++;
	mda_log(&ctx, res, text, pop3_hold_note(s, m, res));
	if (res == MDA_FAILED || res == MDA_BROKEN)
		s->result.mda_refused++;	/* not the account's failure */
	else if (res == MDA_TEMPFAIL)
		s->result.mda_tempfail++;
	if (s->state == POP3_S_MAX) {
		/* The session ended meanwhile (pop3_finish): the outcome
		 * recorded, the rest of the batch left on the server. */
		if (res == MDA_DELIVERED)
			(void)pop3_mda_taken(s, m);
		maildir_staged_drop(s->md);
		pop3_staged_clear(s);
		pop3_finish_schedule(s);
		return;
	}
	if (res == MDA_DELIVERED && pop3_mda_taken(s, m) != 0)
		return;
	pop3_mda_next(s);
}

/* The key of the staged message i's X-Mailfetchd-Id (mda_id): its UIDL
 * and the digest of its content as RETR decoded it but for the header
 * fields a server adds as it serves a message (mda_content_digest), so
 * that a UIDL the server gave to a new message (RFC 1939) names another
 * id (review r21 13), while the same message handed over again (a crash
 * before its record, or fetched again for a size change) gets the same,
 * though the server added "Status: RO" since (qpopper, UW ipop3d:
 * review r23 01; the whole message's digest changed with it). Only when
 * those fields hold what a server writes: a sender's "Status: FIRING"
 * and "Status: RESOLVED" are two messages, and the agent's duplicate
 * test must not drop the second (review r27 11); such a message's key
 * has the whole message's digest (mda_content_digest gives it). The size
 * LIST gave when the staged file cannot be read (the agent then cannot
 * start either). */
static void
pop3_mda_key(struct pop3_session *s, size_t i, char *buf, size_t len)
{
	const struct pop3_msg	*m = &s->msgs[s->staged[i]];
	char			 hex[MDA_CONTENT_HEX + 1];
	struct mda_seen		 seen;
	int			 fd, rc = -1;

	if ((fd = maildir_staged_open(s->md, s->staged_name[i])) != -1) {
		rc = mda_content_digest(fd, hex, sizeof hex, &seen);
		(void)close(fd);
	}
	if (rc == 0)
		(void)snprintf(buf, len, "%s\t%s%s", pop3_msg_uidl(s, m),
		    seen.odd ? "m" : "c", hex);
	else
		(void)snprintf(buf, len, "%s\t%lu", pop3_msg_uidl(s, m),
		    (unsigned long)m->size);
}

/* Starts the agent for the staged message i: 0, or -1 (logged). */
static int
pop3_mda_start(struct pop3_session *s, size_t i)
{
	struct log_ctx	 ctx = pop3_msg_ctx(s, s->staged[i]);
	char		*cause = NULL;
	/* "UIDL<tab>c" and the digest, or "UIDL<tab>SIZE". */
	char		 key[POP3_UIDL_MAX + 2 + MDA_CONTENT_HEX + 1];

	pop3_mda_key(s, i, key, sizeof key);
	s->mda = mda_start_staged(s->base, s->ac, s->ac->deliver, s->md,
	    s->staged_name[i], "INBOX", key, pop3_mda_done, s, &cause);
	if (s->mda != NULL)
		return (0);
	mda_log(&ctx, MDA_FAILED, cause, 0);
	free(cause);
	pop3_status(s, EXIT_LOCAL);
	return (-1);
}

/* The next staged message to the agent, or the batch's end. */
static void
pop3_mda_next(struct pop3_session *s)
{
	while (s->mda_next < s->nstaged) {
		if (pop3_mda_start(s, s->mda_next) == 0)
			return;
		s->mda_next++;
	}
	pop3_mda_batch_end(s);
}

/* The batch's messages to the agent, one at a time. Without UIDLs a
 * message taken could not be told from one fetched again: refused. */
static void
pop3_mda_batch(struct pop3_session *s)
{
	if (s->no_uidl) {
		maildir_staged_drop(s->md);
		pop3_staged_clear(s);
		pop3_fail(s, EXIT_UNSUPPORTED, "the server has no UIDL "
		    "command, which deliver = mda or lmtp needs to know what "
		    "was delivered; use deliver = maildir for this account");
		return;
	}
	s->mda_next = s->mda_taken = 0;
	/* The server waits, silent, while the agents run. */
	conn_set_timeout(s->conn, 0);
	pop3_mda_next(s);
}

/* With keep = yes, after a batch: the one asked for ahead becomes the
 * batch (its answers come next), or the next one is asked for. */
static void
pop3_batch_after(struct pop3_session *s)
{
	size_t	done = s->nq;

	if (s->nq_next == 0) {
		pop3_next_batch(s);
		return;
	}
	pop3_staged_clear(s);
	memmove(s->q, s->q + done, s->nq_next * sizeof *s->q);
	s->nq = s->nq_next;
	s->nq_next = 0;
	s->q_sent -= done;
	s->q_recv -= done;
	pop3_pump(s);
}

/* The batch's RETRs are all answered: make it durable, record it, then
 * delete on the server. */
static void
pop3_checkpoint(struct pop3_session *s)
{
	size_t	n;

	if (s->nstaged == 0 && s->nagain == 0) {
		pop3_batch_after(s);
		return;
	}
	if (s->ac->deliver != DELIVER_MAILDIR) {
		pop3_mda_batch(s);
		return;
	}
	if (s->nstaged > 0 && pop3_batch_durable(s) != 0)
		return;
	if (s->ac->keep) {
		pop3_batch_after(s);
		return;
	}
	/* Without UIDLs, those delivered before whose DELE the server
	 * refused then (pop3_nodele_met) are sent theirs again. */
	memcpy(s->q, s->staged, s->nstaged * sizeof *s->q);
	memcpy(s->q + s->nstaged, s->again, s->nagain * sizeof *s->q);
	n = s->nstaged + s->nagain;
	s->nagain = 0;
	pop3_phase(s, POP3_S_DELE, n);
}

/*
 * Message bodies.
 */

/* The identity of a message kept with its owed DELE: the first 64 bits
 * of the SHA-256 of the whole message as decoded (dot-unstuffed, CRLF as
 * LF), as RETR gave it and the Maildir file holds it, without the header
 * fields a mailbox server adds (content set: mda_content; else the whole
 * message, for an entry of the previous version, "m"). A later session
 * reads the message listed under the UIDL with RETR again (not stored)
 * and compares: the header alone would not do, as messages that differ
 * only in their body exist (a local program's alerts: no Date, no
 * Message-ID). The previous version digested the header section alone;
 * its entries are never checked (pop3_owed_same): such a message is
 * fetched again. At most limit bytes are digested: past that the message
 * is not the one delivered (pop3_digest_end gives 0). */
static void
pop3_digest_begin(struct pop3_session *s, uint64_t limit)
{
	/* A message cut short left a digest half fed. */
	msgids_digest_reset(s->dig_md);
	mda_content_reset(s->dig_content);
	s->dig_left = limit;
	s->dig_over = 0;
}

/* Digests decoded bytes. */
static void
pop3_digest_feed(struct pop3_session *s, const char *p, size_t len)
{
	if (s->dig_over || len > s->dig_left) {
		s->dig_over = 1;
		return;
	}
	s->dig_left -= len;
	mda_content_update(s->dig_content, p, len);
	msgids_digest_update(s->dig_md, p, len);
}

/* The first 64 bits of a SHA-256 as a digest: never 0 (unknown). */
static uint64_t
pop3_digest_word(const unsigned char *md)
{
	unsigned int	i;
	uint64_t	d = 0;

	for (i = 0; i < 8; i++)
		d = d << 8 | md[i];
	return (d != 0 ? d : 1);
}

/* The whole message's digest; 0 when the message had more than the
 * limit. Its content digest (without the fields a server adds) into
 * dig_cont, what those fields were into dig_seen. */
static uint64_t
pop3_digest_end(struct pop3_session *s)
{
	unsigned char	md[MSGIDS_DIGEST_LEN];

	mda_content_final(s->dig_content, md, sizeof md, &s->dig_seen);
	s->dig_cont = pop3_digest_word(md);
	msgids_digest_final(s->dig_md, md);
	if (s->dig_over)
		return (s->dig_cont = 0);
	return (pop3_digest_word(md));
}

/* Whether the message just read (its whole digest whole, its size now
 * LIST's) is the one recorded with digest d and size then: the same
 * whole message; or, when the delivered copy had none of the fields a
 * server adds (content, an "s" entry), a copy to which only such fields
 * were added (what qpopper and UW ipop3d do after a RETR: "Status: RO"),
 * each with a value a server writes, that explain its growth (the size
 * LIST gives counts a CR with each LF). Anything else is another message:
 * fetched, a duplicate at worst, never deleted unseen (review r27 04,
 * 11: "Status: FIRING" then "Status: RESOLVED"). */
static int
pop3_same_copy(const struct pop3_session *s, uint64_t whole, int content,
    uint64_t d, uint32_t then, uint32_t now)
{
	if (d == 0 || whole == d)
		return (d != 0);
	if (!content || s->dig_cont != d || s->dig_seen.odd || then == 0)
		return (0);
	return (now <= then ||
	    now - then <= s->dig_seen.bytes + s->dig_seen.lines);
}

/* The bytes a message RETR reads to check an owed DELE may have: no more
 * than LIST announces now or did when it was delivered (its UIDL's
 * recorded size; the CRLFs LIST counts are LFs once decoded), with
 * POP3_CHECK_SLACK, nor than max_message_size past that recorded size
 * (a message delivered had no more). The recorded size counts even when
 * LIST now gives less: a LIST that leaves the message out says 0, and its
 * check was cut at 64 KiB, the message fetched again (review r19, finding
 * 14); and max_message_size may have been lowered since the delivery:
 * every check was cut, the session failed, and the message, said "not the
 * one delivered", was never deleted (review r19, finding 23). */
static uint64_t
pop3_check_limit(struct pop3_session *s, size_t k)
{
	const struct pop3_msg	*m = &s->msgs[k];
	uint64_t		 max = s->ac->max_message_size;
	uint64_t		 rec = 0, lim, floor;

	if (m->uidl != STATE_UIDL_NONE)
		rec = state_uidl_size(s->st, m->uidl);
	lim = (m->size > rec ? m->size : rec) + POP3_CHECK_SLACK;
	floor = rec != 0 ? rec + POP3_CHECK_SLACK : 0;
	if (max != 0 && max < lim)
		lim = max > floor ? max : floor;
	return (lim);
}

/* A RETR checking an owed DELE gives more than the message delivered can
 * have (pop3_check_limit): it is another message, not deleted but
 * fetched as new by a later session, where RETR's own bounds apply. The
 * rest of the answer, which may never end, is not read: the session
 * ends (no DELE was sent in it yet, the checks come first). */
static void
pop3_check_cut(struct pop3_session *s)
{
	size_t		 k = s->q[s->q_recv];
	unsigned int	 msgno = s->msgs[k].msgno;
	uint64_t	 limit = pop3_check_limit(s, k);

	log_msg(LOG_LVL_WARNING, &s->ctx, "the message now listed under UIDL "
	    "\"%s\" is not the one delivered (RETR %u gives more than %llu "
	    "bytes, LIST said %lu): not deleted; fetched as a new message "
	    "next time", pop3_msg_uidl(s, &s->msgs[k]), msgno,
	    (unsigned long long)limit, (unsigned long)s->msgs[k].size);
	pop3_owed_refetch(s, k);
	pop3_store_owed(s);
	if (pop3_save_state(s) != 0)
		return;
	pop3_fail(s, EXIT_PROTOCOL, "RETR %u: the answer goes on past %llu "
	    "bytes; not read further", msgno, (unsigned long long)limit);
}

/* What the answer to the RETR of q[q_recv] may take on the wire: no
 * bound but the others (pop3_body_bound), unless LIST gave no size: then
 * the budget left (it comes alone: pop3_next_batch). */
static void
pop3_body_cap(struct pop3_session *s)
{
	uint64_t	left = pop3_budget_left(s);

	s->body_cap = UINT64_MAX;
	s->body_whole = 0;
	if (s->state != POP3_S_RETR || !pop3_body_unsized(s, s->q[s->q_recv]))
		return;
	s->body_cap = left;
	s->body_whole = left >= s->ac->daily_limit;
}

/* The answer to the RETR of a message LIST gave no size reached what the
 * budget left (pop3_body_cap): the connection is closed rather than
 * daily_limit passed (review r19 13); the batch held nothing else, and
 * the session had no DELE to commit (pop3_unsized_waits). One
 * the whole daily_limit could not hold never fits: passed over for good,
 * its UIDL remembered as for one too big (it stays on the server); any
 * other waits for a later session. */
static void
pop3_body_cut(struct pop3_session *s)
{
	struct pop3_msg	*m = &s->msgs[s->q[s->q_recv]];
	const char	*outcome = "; fetched once the budget allows";

	if (s->body_whole && m->uidl != STATE_UIDL_NONE) {
		pop3_uidl_done(s, m);
		s->state_dirty = 1;
		if (pop3_save_state(s) != 0)
			return;
		s->result.skipped++;
		outcome = "; it can never be fetched within the whole "
		    "daily_limit: passed over for good (UIDL remembered; "
		    "left on the server)";
	}
	s->ctx.uid = m->msgno;
	pop3_fail(s, EXIT_PROTOCOL, "LIST gave no size for this message, and "
	    "its answer goes on past what the daily budget had left "
	    "(daily_limit %llu; %llu bytes of the message read): closing the "
	    "connection rather than pass it%s",
	    (unsigned long long)s->ac->daily_limit,
	    (unsigned long long)s->body_bytes, outcome);
	s->ctx.uid = 0;
}

/* RETR's +OK: open a delivery (RETR, not CHECK's) and start decoding. */
static void
pop3_body_begin(struct pop3_session *s)
{
	char	*cause;

	if (s->state == POP3_S_CHECK)
		pop3_digest_begin(s, pop3_check_limit(s, s->q[s->q_recv]));
	else
		pop3_digest_begin(s, UINT64_MAX);
	maildir_deliver_abort(s->dlv);
	s->dlv = NULL;
	s->dlv_failed = s->dlv_toobig = 0;
	free(s->dlv_cause);
	s->dlv_cause = NULL;
	pop3_parse_body_reset(s->body);
	s->in_body = 1;
	s->body_bytes = 0;
	pop3_body_cap(s);
	if (s->state != POP3_S_RETR)
		return;
	if ((s->dlv = maildir_deliver_begin(s->md, &cause)) == NULL) {
		s->dlv_failed = 1;
		s->dlv_cause = cause;
	}
}

/* Writes decoded bytes, unless the delivery failed or grew too big. */
static void
pop3_body_write(struct pop3_session *s, const char *p, size_t len)
{
	uint64_t	max = s->ac->max_message_size;
	char		*cause;

	if (s->dlv == NULL || s->dlv_failed || s->dlv_toobig || len == 0)
		return;
	if (max != 0 && maildir_delivery_size(s->dlv) + len > max) {
		/* LIST announced less: the server is not to be trusted. */
		s->dlv_toobig = 1;
		maildir_deliver_abort(s->dlv);
		s->dlv = NULL;
		return;
	}
	if (maildir_deliver_write(s->dlv, p, len, &cause) != 0) {
		s->dlv_failed = 1;
		s->dlv_cause = cause;
	}
}

/* An owed DELE whose check the server refused for now: not sent in this
 * session (the message was not read), but still owed (the state keeps
 * it, pop3_store_owed), checked again next time; the others go on. */
static void
pop3_owed_hold(struct pop3_session *s, size_t k)
{
	s->msgs[k].owed = 0;
	s->msgs[k].held = 1;
}

/* A RETR of a new message refused for now ([SYS/TEMP]): the message is
 * tried again next time, the others go on, unless POP3_TEMP_RUN_MAX in a
 * row were refused: then the server fails for all of them, and no more
 * RETR is sent in this session (those in flight are answered; what was
 * fetched is kept). Not for the checks of owed DELEs: a check not made
 * would leave its DELE to be sent unchecked. */
static void
pop3_temp_run(struct pop3_session *s)
{
	if (++s->temp_run != POP3_TEMP_RUN_MAX)
		return;
	log_msg(LOG_LVL_WARNING, &s->ctx, "the server refused %u RETRs in a "
	    "row for the moment ([SYS/TEMP]): no more this session; the "
	    "messages left are tried again at the next poll", s->temp_run);
	/* What went ahead of the next batch is answered as its own. */
	if (s->q_sent > s->nq)
		s->nq_next = s->q_sent - s->nq;
	else {
		s->nq = s->q_sent;
		s->nq_next = 0;
	}
	s->next_todo = s->nmsgs;
	s->next_susp = s->nsusp;
}

/* pop3_owed_refetch after the plan: fetched in this session. */
static void
pop3_owed_todo(struct pop3_session *s, size_t k)
{
	pop3_owed_refetch(s, k);
	if (!s->msgs[k].todo) {
		s->msgs[k].todo = 1;
		s->ntodo++;
	}
}

/* The end of the check of a batch of owed DELEs (CHECK): the
 * owed set is stored without the messages found to be others, then the
 * DELEs. */
static void
pop3_check_done(struct pop3_session *s)
{
	pop3_store_owed(s);
	if (pop3_save_state(s) != 0)
		return;
	pop3_next_batch(s);
}

/* a + b, UINT64_MAX (no bound) when that would wrap. */
static uint64_t
pop3_add_sat(uint64_t a, uint64_t b)
{
	return (a > UINT64_MAX - b ? UINT64_MAX : a + b);
}

/* The most the answer to the RETR of message k may take on the wire
 * before it is cut: a check's past pop3_check_limit (pop3_check_cut), a
 * new message's at its lie bound (pop3_body_bound, pop3_suspect_cost);
 * each decoded byte may have come as two. */
static uint64_t
pop3_window_worst(struct pop3_session *s, size_t k)
{
	if (s->state == POP3_S_CHECK)
		return (2 * (pop3_check_limit(s, k) + POP3_CHUNK_MAX) + 5);
	return (pop3_suspect_cost(s, k));
}

/* The checks of owed DELEs the budget left does not allow (review r19
 * 01): not made, so not deleted: each DELE stays owed (pop3_owed_hold),
 * checked and sent by a later poll with budget enough. */
static void
pop3_window_hold(struct pop3_session *s)
{
	size_t	i;

	for (i = s->q_sent; i < s->nq; i++)
		pop3_owed_hold(s, s->q[i]);
	log_msg(LOG_LVL_NOTICE, &s->ctx, "daily budget reached (%llu bytes "
	    "left): %zu message(s) whose DELE is owed not read again to "
	    "check them; not deleted, their DELEs wait for a later poll",
	    (unsigned long long)pop3_budget_left(s), s->nq - s->q_sent);
	s->nq = s->q_sent;
	pop3_check_done(s);
}

/* The budget left does not cover the next RETR of the batch, and no
 * answer is in flight: the batch ends there; the messages not asked for
 * wait on the server for a later session (pop3_next_batch names them,
 * pop3_budget_reached; a check's: pop3_window_hold). */
static void
pop3_window_stop(struct pop3_session *s)
{
	size_t	k = s->q[s->q_sent];

	if (s->state == POP3_S_CHECK) {
		pop3_window_hold(s);
		return;
	}
	s->nq = s->q_sent;
	if (s->msgs[k].todo)
		s->next_todo = k;
	pop3_checkpoint(s);
}

/*
 * Whether the RETR of q[q_sent] may go out now (review r19 04; a check's
 * RETR too, r19 01, as pop3_dele_owed starts them unfitted). The batch
 * was fitted to the budget by LIST sizes (pop3_next_batch), but each
 * answer may take more, up to its lie bound, and a batch holds up to
 * POP3_BATCH_MSGS: a server listing every message far too small took a
 * whole batch past daily_limit. Behind answers still to come, a RETR
 * goes out only if the most each of them and it may take fits what is
 * left (else it waits for the window to drain); alone, if its wire bound
 * fits what is left after what the answers really took (else the batch
 * ends: pop3_window_stop). So a server's low sizes cost the budget one
 * message's lie at most; with the budget far from its end the window
 * stays full.
 */
static int
pop3_window_admits(struct pop3_session *s)
{
	uint64_t	left = pop3_budget_left(s), held = 0;
	size_t		i;

	if (left == UINT64_MAX)
		return (1);
	if (s->q_sent == s->q_recv) {
		if (pop3_wire_bound(s->msgs[s->q[s->q_sent]].size) <= left)
			return (1);
		pop3_window_stop(s);
		return (0);
	}
	for (i = s->q_recv; i <= s->q_sent && held <= left; i++)
		held = pop3_add_sat(held, pop3_window_worst(s, s->q[i]));
	return (held <= left);
}

/* The end of RETR (CHECK) for an owed DELE: the message now listed under
 * the UIDL is the one delivered if it has the recorded digest. If not,
 * the server gave the UIDL to a new message (RFC 1939 section 7): no
 * DELE, and it is fetched as new. An identical copy under the same UIDL (RFC 1939 allows UIDLs
 * computed as a hash of the message) matches: its content is delivered
 * already. */
static void
pop3_check_end(struct pop3_session *s)
{
	size_t		 k = s->q[s->q_recv];
	struct pop3_msg	*m = &s->msgs[k];

	s->in_body = 0;
	s->q_recv++;
	if (!pop3_same_copy(s, pop3_digest_end(s), m->content, s->digests[k],
	    s->then[k], m->size)) {
		log_msg(LOG_LVL_WARNING, &s->ctx, "the message now listed "
		    "under UIDL \"%s\" is not the one delivered (its "
		    "content differs): not deleted; fetched as a new message",
		    pop3_msg_uidl(s, m));
		pop3_owed_todo(s, k);
	}
	if (s->q_recv == s->nq)
		pop3_check_done(s);
	else
		pop3_pump(s);
}

/* The terminating "." arrived: stage the message. */
static void
pop3_body_end(struct pop3_session *s)
{
	size_t		 k = s->q[s->q_recv];
	struct log_ctx	 mctx = pop3_msg_ctx(s, k);
	const char	*flags;
	char		*cause;
	unsigned int	 anomalies;
	int		 rc;

	if (s->state != POP3_S_RETR) {
		pop3_check_end(s);
		return;
	}
	s->in_body = 0;
	s->q_recv++;
	if (s->digests != NULL) {
		s->digests[k] = pop3_digest_end(s);
		s->then[k] = s->msgs[k].size;
		s->msgs[k].content = !s->dig_seen.had;
	}
	if (s->no_uidl && !s->dlv_failed && !s->dlv_toobig &&
	    pop3_nodele_met(s, k))
		goto next;
	if (s->dlv_failed) {
		maildir_deliver_abort(s->dlv);
		s->dlv = NULL;
		log_msg(LOG_LVL_ERROR, &mctx, "%s", s->dlv_cause);
		pop3_fail(s, EXIT_LOCAL, "delivery failed; this batch will "
		    "be fetched again next time");
		return;
	}
	if (s->dlv_toobig) {
		log_msg(LOG_LVL_WARNING, &mctx, "message is larger than "
		    "max_message_size although LIST said %llu bytes; skipped",
		    (unsigned long long)s->msgs[k].size);
		s->result.skipped++;
		if (s->msgs[k].uidl != STATE_UIDL_NONE) {
			pop3_uidl_done(s, &s->msgs[k]);
			s->state_dirty = 1;
		}
		goto next;
	}
	anomalies = pop3_parse_body_anomalies(s->body);
	if (anomalies > 0)
		log_msg(LOG_LVL_DEBUG, &mctx, "%u line(s) began with a dot the "
		    "server did not double; the dot was removed", anomalies);
	s->result.bytes += maildir_delivery_size(s->dlv);
	flags = s->ac->local_flags == LOCAL_FLAGS_SEEN ? "S" : NULL;
	/* Every 64th stage fsyncs the batch so far: our time, not the
	 * server's (conn_local_work_done). */
	rc = maildir_deliver_stage(s->dlv, flags, &s->staged_name[s->nstaged],
	    &cause);
	conn_local_work_done(s->conn);
	if (rc != 0) {
		s->dlv = NULL;
		log_msg(LOG_LVL_ERROR, &mctx, "%s", cause);
		free(cause);
		pop3_staged_clear(s);	/* the Maildir rolled it back */
		pop3_fail(s, EXIT_LOCAL, "delivery failed; this batch will "
		    "be fetched again next time");
		return;
	}
	s->dlv = NULL;
	s->staged[s->nstaged++] = k;
	log_msg(LOG_LVL_DEBUG, &mctx, "staged");
next:
	if (s->q_recv == s->nq)
		pop3_checkpoint(s);
	else
		pop3_pump(s);
}

/* A RETR body still coming past the limit or far past LIST's size
 * (pop3_body_bound): the message becomes a suspect, asked for alone,
 * last, next time; a suspect is passed over for good, its UIDL
 * remembered as for one too big (never deleted). Saved before the
 * session ends. */
static void
pop3_retr_lie(struct pop3_session *s, size_t k)
{
	struct pop3_msg	*m = &s->msgs[k];
	const char	*outcome = "";
	char		 why[64];
	size_t		 kept = 0;

	/* What the batch received before it came whole: delivered, not
	 * fetched again (with keep = no its DELEs are owed to the next
	 * session, which checks each message first). Without UIDLs nothing
	 * would tell the next session it was: fetched again. */
	if (s->nstaged > 0 && !s->no_uidl) {
		maildir_deliver_abort(s->dlv);
		s->dlv = NULL;
		if (pop3_batch_durable(s) != 0)
			return;
		kept = s->nstaged;
	}
	if (m->uidl != STATE_UIDL_NONE) {
		if (pop3_suspect_is(s, k)) {
			pop3_uidl_done(s, m);
			s->state_dirty = 1;
			outcome = " for good (UIDL remembered): the server sent "
			    "too much again when it was asked for alone";
		} else {
			pop3_suspect_add(s, k, POP3_SUSP_ASK);
			outcome = " for now; it will be asked for once more, "
			    "alone, after the others; if the server sends too "
			    "much again it is skipped for good";
		}
		pop3_suspect_store(s);
		if (pop3_save_state(s) != 0)
			return;
	} else if (s->no_uidl) {
		pop3_nouidl_lied(s, k);
		if (pop3_save_state(s) != 0)
			return;
		outcome = ": without UIDLs it is known by its number and size "
		    "alone: passed over by the next session, asked for again, "
		    "first and alone, by the one after; it stays on the server";
	}
	if (m->uidl == STATE_UIDL_NONE || state_uidl_delivered(s->st, m->uidl))
		s->result.skipped++;
	if (s->dlv_toobig)
		snprintf(why, sizeof why, "over max_message_size, %llu",
		    (unsigned long long)s->ac->max_message_size);
	else if (s->ask_cap != 0)
		snprintf(why, sizeof why, "past what the daily budget left "
		    "allows, %llu", (unsigned long long)s->ask_cap);
	else
		snprintf(why, sizeof why, "more than twice that plus 1 MiB");
	pop3_fail(s, EXIT_PROTOCOL, "the server sent more than %llu bytes "
	    "of this message, and it goes on, although LIST said %llu (%s): "
	    "a server error; closing the connection rather than reading the "
	    "rest at the server's pace; skipped%s",
	    (unsigned long long)s->body_bytes, (unsigned long long)m->size,
	    why, outcome);
	if (kept > 0)
		log_msg(LOG_LVL_NOTICE, &s->ctx, "the %zu message(s) received "
		    "before it are delivered", kept);
}

/*
 * A body is read at the server's pace and its end is only known when the
 * "." comes: a server may say 80 bytes in LIST, then drip lines after
 * RETR's +OK just above the pacing floor and never end, holding the
 * account. A body still coming past max_message_size (it is skipped
 * anyway) or far past LIST's size (fetch_size_lie, as IMAP's literals)
 * can only be cut by closing the connection: the session ends (exit 5),
 * the message is passed over for good, and the next run fetches the
 * others. The log names the message.
 */
static void
pop3_body_bound(struct pop3_session *s)
{
	size_t		 k = s->q[s->q_recv];
	struct pop3_msg	*m = &s->msgs[k];

	if (s->state == POP3_S_CHECK)
		return;		/* bounded tighter (pop3_check_cut) */
	if (!fetch_size_lie(s->body_bytes, m->size, s->ac->max_message_size) &&
	    !s->dlv_toobig && (s->ask_cap == 0 || s->body_bytes <= s->ask_cap))
		return;
	s->ctx.uid = m->msgno;
	pop3_retr_lie(s, k);
	s->ctx.uid = 0;
}

/* Tells the connection how far the answer has come: a message body, a
 * multi-line listing or a started line must keep coming (conn.h), the
 * silence between answers is the inactivity timeout's business. A SASL
 * exchange is one answer, "+" challenges and all: each challenge we
 * answer would otherwise restart the inactivity timer, and a server
 * that challenges forever would hold the session. */
static void
pop3_pace(struct pop3_session *s, size_t consumed)
{
	conn_progress(s->conn, consumed, s->in_body || s->multi ||
	    s->state == POP3_S_AUTH ||
	    evbuffer_get_length(conn_input(s->conn)) > 0);
}

/* Feeds one chunk of input to the body decoder; 0 when there is none. */
static int
pop3_body_feed(struct pop3_session *s)
{
	struct evbuffer		*in = conn_input(s->conn);
	struct evbuffer_iovec	 v;
	size_t			 n, used, out;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return (0);
	n = v.iov_len < POP3_CHUNK_MAX ? v.iov_len : POP3_CHUNK_MAX;
	if (n > s->body_cap) {
		if (s->body_cap == 0) {
			pop3_body_cut(s);
			return (1);
		}
		n = s->body_cap;	/* the decoder takes a byte at least */
	}
	used = pop3_parse_body_feed(s->body, v.iov_base, n, s->scratch,
	    POP3_BODY_OUTSIZE(POP3_CHUNK_MAX), &out);
	pop3_digest_feed(s, s->scratch, out);
	if (s->dig_over && s->state == POP3_S_CHECK) {
		pop3_check_cut(s);
		return (1);
	}
	pop3_body_write(s, s->scratch, out);
	/* The budget counts the answer as it came (CRLF, dot-stuffed),
	 * stored or not: a CHECK's RETR downloads the message too. */
	s->result.downloaded += used;
	if (s->body_cap != UINT64_MAX)
		s->body_cap -= used;
	evbuffer_drain(in, used);
	pop3_pace(s, used);
	s->body_bytes += out;
	if (pop3_parse_body_done(s->body))
		pop3_body_end(s);
	else
		pop3_body_bound(s);
	return (1);
}

/* UIDL answered -ERR. Fetching without UIDL (keep = no: every message,
 * deleted) is only for a server that has none: one refusing for the
 * moment ([SYS/TEMP], [IN-USE]), one whose CAPA lists UIDL, or one whose
 * UIDLs the state holds (delivered, some perhaps owed their DELE) would
 * have every message still on the server delivered again (review r19,
 * finding 24). Such a refusal ends the session, tried again at the next
 * poll: 1 then. */
static int
pop3_uidl_refused(struct pop3_session *s, const struct pop3_reply *r)
{
	size_t	 held = state_uidl_count(s->st);
	char	*text;
	int	 temp = r->code == POP3_CODE_SYS_TEMP ||
		    r->code == POP3_CODE_IN_USE;
	int	 capa = s->capa_known && (s->capa.flags & POP3_CAPA_UIDL);

	if (!temp && !capa && held == 0)
		return (0);
	text = pop3_server_text(r);
	pop3_fail(s, temp ? pop3_err_status(r, 0) : EXIT_PROTOCOL, "UIDL "
	    "refused (%s) by a server that %s: not fetching without UIDLs, "
	    "which would deliver again every message delivered and still "
	    "on the server; tried again at the next poll%s%s", text, temp ?
	    "says it is for the moment" : capa ? "lists UIDL in its CAPA" :
	    "gave UIDLs before", !temp && !capa ? " (if it has dropped UIDL "
	    "for good, the account's state file holds the delivered UIDLs: "
	    "removing it lets keep = no fetch and delete every message, "
	    "those delivered again): " : "", !temp && !capa ?
	    state_path(s->st) : "");
	free(text);
	return (1);
}

/*
 * The state machine.
 */

/* Sends what a state needs and logs the transition. */
static void
pop3_enter(struct pop3_session *s, enum pop3_state next)
{
	log_msg(LOG_LVL_DEBUG, &s->ctx, "%s -> %s", pop3_state_names[s->state],
	    pop3_state_names[next]);
	s->state = next;
	switch (next) {
	case POP3_S_CAPA:
	case POP3_S_AUTH_CAPA:
		pop3_send(s, "CAPA");
		break;
	case POP3_S_STLS:
		pop3_send(s, "STLS");
		break;
	case POP3_S_UIDL:
		pop3_send(s, "UIDL");
		break;
	case POP3_S_LIST:
		pop3_send(s, "LIST");
		break;
	case POP3_S_RETR:
	case POP3_S_DELE:
	case POP3_S_CHECK:
		pop3_pump(s);
		break;
	case POP3_S_QUIT:
		s->closing = 1;
		pop3_send(s, "QUIT");
		/* The server may close once it has answered, with or without
		 * TLS close_notify; an EOF before the +OK is still a failure
		 * (pop3_conn_event: the deletions are not known to be done). */
		conn_expect_eof(s->conn);
		break;
	case POP3_S_DONE:
		s->closing = 1;
		break;
	default:
		break;
	}
}

/* The end of a multi-line listing. */
static void
pop3_multi_done(struct pop3_session *s)
{
	s->multi = 0;
	switch (s->state) {
	case POP3_S_CAPA:
		s->capa_known = 1;
		pop3_proceed(s);
		break;
	case POP3_S_AUTH_CAPA:
		if (s->capa.flags & POP3_CAPA_LOGIN_DELAY) {
			s->result.login_delay = s->capa.login_delay;
			if (s->capa.login_delay > s->ac->poll_interval)
				log_msg(LOG_LVL_NOTICE, &s->ctx, "the server "
				    "allows one login every %u s (LOGIN-DELAY), "
				    "more than poll_interval; polling no more "
				    "often than that",
				    (unsigned int)s->capa.login_delay);
		}
		pop3_enter(s, POP3_S_UIDL);
		break;
	case POP3_S_UIDL:
		pop3_enter(s, POP3_S_LIST);
		break;
	case POP3_S_LIST:
		pop3_plan(s);
		break;
	default:
		break;
	}
}

/* One line of a multi-line listing (already unstuffed). */
static void
pop3_multi_line(struct pop3_session *s, const char *line, size_t len)
{
	char	*cause;

	switch (s->state) {
	case POP3_S_CAPA:
	case POP3_S_AUTH_CAPA:
		if (pop3_parse_capa_line(&s->capa, line, len, &cause) != 0) {
			log_msg(LOG_LVL_DEBUG, &s->ctx, "CAPA: %s", cause);
			free(cause);
		}
		break;
	case POP3_S_UIDL:
		pop3_uidl_line(s, line, len);
		break;
	case POP3_S_LIST:
		pop3_list_line(s, line, len);
		break;
	default:
		break;
	}
}

/* What a refused RETR, DELE or CHECK does to the message: the end
 * of its warning. */
static const char *
pop3_check_refused_text(const struct pop3_session *s, int check,
    enum pop3_code code)
{
	if (s->state == POP3_S_DELE)
		return ("; not deleted: without UIDLs it is remembered by its "
		    "content, read again at every poll but not delivered "
		    "again, and its DELE sent again");
	if (!check)
		return ("");
	if (code == POP3_CODE_SYS_TEMP)
		return ("; cannot check that the message is the one delivered "
		    "now: not deleted, its DELE stays owed (checked again "
		    "next time); the others go on");
	return ("; cannot check that the message is the one delivered: "
	    "not deleted; fetched again (perhaps a duplicate)");
}

/* A DELE the server refused, with UIDLs: not counted deleted at QUIT,
 * where it was dropped from the owed set and the message stayed on the
 * server for good (review r19, finding 03), but kept owed, checked and
 * sent again by the next session; unless the server refused it
 * POP3_DELE_REFUSALS_MAX times (not for the moment): each next session
 * downloaded the whole message again to check it, at every poll for
 * ever (review r24 06). Then it is given up, with an error: no longer
 * owed, its UIDL delivered (never fetched again), with the size LIST
 * gives now, as this session has read the message under it (delivered
 * or checked): a server that adds a Status header after a RETR makes
 * no size change of it. */
static void
pop3_dele_refused(struct pop3_session *s, size_t k, enum pop3_code code,
    const char *text)
{
	struct pop3_msg	*m = &s->msgs[k];
	struct log_ctx	 mctx = pop3_msg_ctx(s, k);

	int		 temp = code == POP3_CODE_SYS_TEMP ||
	    code == POP3_CODE_IN_USE;
	unsigned int	 w = temp ? 1 : POP3_DELE_WEIGHT;

	s->refusals[k] = s->refusals[k] + w > POP3_DELE_GIVEUP ?
	    POP3_DELE_GIVEUP : s->refusals[k] + w;
	s->owed_dirty = 1;
	if (s->refusals[k] < POP3_DELE_GIVEUP) {
		log_msg(LOG_LVL_WARNING, &mctx, "DELE refused%s: %s; not "
		    "deleted: its DELE stays owed (checked and sent again "
		    "next time; given up after %d refusals, or %d for the "
		    "moment: %u of %d counted so far, one for good counting "
		    "%d)", temp ? " for the moment" : "", text,
		    POP3_DELE_REFUSALS_MAX, POP3_DELE_GIVEUP, s->refusals[k],
		    POP3_DELE_GIVEUP, POP3_DELE_WEIGHT);
		pop3_owed_hold(s, k);
		return;
	}
	log_msg(LOG_LVL_ERROR, &mctx, "DELE refused: %s; the server refused "
	    "to delete the message under UIDL \"%s\" too often (%d times, "
	    "or %d for the moment): given up, it stays on the server "
	    "(delivered, not fetched again); delete it there by hand", text,
	    pop3_msg_uidl(s, m), POP3_DELE_REFUSALS_MAX, POP3_DELE_GIVEUP);
	m->owed = 0;
	s->refusals[k] = 0;
	if (m->size != 0)
		state_uidl_set_size(s->st, m->uidl, m->size);
	s->state_dirty = 1;
}

/* A RETR, DELE or CHECK answer. */
static void
pop3_queue_reply(struct pop3_session *s, const struct pop3_reply *r)
{
	size_t		 k = s->q[s->q_recv];
	struct log_ctx	 mctx = pop3_msg_ctx(s, k);
	int		 check = s->state == POP3_S_CHECK;
	const char	*cmd = s->state == POP3_S_CHECK ? "RETR" :
	    pop3_state_names[s->state];
	char		*text;

	if ((s->state == POP3_S_RETR || check) && r->status == POP3_OK) {
		s->temp_run = 0;
		pop3_body_begin(s);
		return;
	}
	s->q_recv++;
	if (r->status != POP3_OK) {
		text = pop3_server_text(r);
		/* The message stays on the server and is tried next time
		 * (not recorded; a DELE stays owed). Without the check's
		 * answer an owed DELE cannot be checked: not sent. A
		 * temporary refusal ([SYS/TEMP]) says nothing of the
		 * message: its DELE stays owed, checked at the next run
		 * (fetching it again would double it); any other refusal
		 * may be for good, so it is fetched again rather than
		 * left owed for ever. */
		if (s->state == POP3_S_DELE && !s->no_uidl)
			pop3_dele_refused(s, k, r->code, text);
		else
			log_msg(LOG_LVL_WARNING, &mctx, "%s refused: %s%s", cmd,
			    text, pop3_check_refused_text(s, check, r->code));
		free(text);
		if (check && r->code != POP3_CODE_SYS_TEMP)
			pop3_owed_todo(s, k);
		else if (check)
			pop3_owed_hold(s, k);
		else if (s->state == POP3_S_RETR &&
		    r->code == POP3_CODE_SYS_TEMP)
			pop3_temp_run(s);
		/* Without UIDLs nothing is owed to a later session: only
		 * what the server deletes at QUIT moves the numbers of the
		 * suspects (pop3_nouidl_renumber). */
		if (s->state == POP3_S_DELE && s->no_uidl)
			pop3_nodele_add(s, k);
		pop3_status(s, EXIT_PARTIAL);
		/* [SYS/TEMP] for one message (one the server cannot read
		 * for now, or ever) ends nothing: the others go on, and
		 * what was staged is delivered (review r14, finding 13). */
		if (r->code == POP3_CODE_SYS_PERM) {
			pop3_refused(s, r, cmd);
			return;
		}
	} else if (s->state == POP3_S_DELE)
		s->dele_acked++;
	if (s->q_recv < s->nq) {
		pop3_pump(s);
		return;
	}
	if (s->state == POP3_S_RETR)
		pop3_checkpoint(s);
	else if (check)
		pop3_check_done(s);
	else
		pop3_next_batch(s);
}

/* The QUIT answer: +OK means the deletions are committed. */
static void
pop3_quit_reply(struct pop3_session *s, const struct pop3_reply *r)
{
	size_t	i;

	conn_expect_eof(s->conn);
	if (s->failed) {
		/* The DELEs sent may be committed all the same: the count
		 * of those refused goes with them (review r27 14). */
		if (r->status == POP3_OK && !s->no_uidl && s->owed_dirty) {
			pop3_store_owed(s);
			pop3_save_failed(s);
		}
		pop3_enter(s, POP3_S_DONE);
		return;
	}
	if (r->status != POP3_OK) {
		pop3_refused(s, r, "QUIT (committing the deletions)");
		return;
	}
	if (s->no_uidl && pop3_nouidl_renumber(s) != 0)
		return;
	s->quit_ok = 1;
	if (s->no_uidl && s->nnodele > 0) {
		pop3_nodele_store(s);	/* those met deleted now */
		if (s->state_dirty && pop3_save_state(s) != 0)
			return;
	}
	for (i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].owed) {
			s->result.deleted++;
			s->msgs[i].owed = 0;
		}
	}
	if ((s->result.deleted > 0 || s->owed_dirty) && !s->no_uidl) {
		pop3_store_owed(s);
		/* A failure here only means DELEs are sent once more. */
		if (pop3_save_state(s) != 0)
			return;
	}
	pop3_enter(s, POP3_S_DONE);
}

/* One status line. */
static void
pop3_reply(struct pop3_session *s, const struct pop3_reply *r)
{
	int	ok = r->status == POP3_OK;

	if (r->status == POP3_CONT && s->state != POP3_S_AUTH) {
		pop3_fail(s, EXIT_PROTOCOL, "unexpected continuation in state "
		    "%s", pop3_state_names[s->state]);
		return;
	}
	switch (s->state) {
	case POP3_S_GREETING:
		if (!ok) {
			pop3_refused(s, r, "connecting");
			return;
		}
		s->has_timestamp = pop3_parse_timestamp(r->text, r->text_len,
		    s->timestamp);
		pop3_enter(s, POP3_S_CAPA);
		break;
	case POP3_S_CAPA:
	case POP3_S_AUTH_CAPA:
		if (ok) {
			pop3_parse_capa_init(&s->capa);
			s->multi = 1;
			return;
		}
		if (s->state == POP3_S_AUTH_CAPA)
			pop3_enter(s, POP3_S_UIDL);
		else
			pop3_proceed(s);	/* no CAPA: RFC 1939 only */
		break;
	case POP3_S_STLS:
		if (!ok) {
			/* A TLS failure like a missing STLS, not a refusal
			 * to back off from. */
			char *text = pop3_server_text(r);

			pop3_fail(s, EXIT_NETWORK, "STLS refused by the "
			    "server; refusing to log in without TLS "
			    "(tls = starttls): %s", text);
			free(text);
			return;
		}
		pop3_enter(s, POP3_S_TLS);
		/* Everything learnt in clear text is forgotten. */
		pop3_parse_capa_init(&s->capa);
		s->capa_known = 0;
		if (conn_starttls(s->conn) != 0) {
			s->closing = 1;
			pop3_fail(s, EXIT_NETWORK, "%s", conn_error(s->conn));
		}
		break;
	case POP3_S_AUTH:
		if (r->status == POP3_CONT) {
			/* The response, or an empty one to end a failed
			 * exchange (XOAUTH2 sends its error as a challenge). */
			if (conn_printf(s->conn, "%s\r\n", s->sasl_sent ? "" :
			    s->sasl_resp) != 0) {
				s->closing = 1;
				pop3_fail(s, EXIT_NETWORK, "%s",
				    conn_error(s->conn));
				return;
			}
			s->sasl_sent = 1;
			xfree_secret(s->sasl_resp);
			s->sasl_resp = NULL;
			return;
		}
		/* FALLTHROUGH */
	case POP3_S_PASS:
	case POP3_S_APOP:
		if (!ok) {
			pop3_auth_refused(s, r);
			return;
		}
		pop3_authenticated(s);
		break;
	case POP3_S_USER:
		if (!ok) {
			pop3_auth_refused(s, r);
			return;
		}
		pop3_enter(s, POP3_S_PASS);
		pop3_send(s, "PASS %s", s->pass);
		break;
	case POP3_S_UIDL:
		if (ok) {
			pop3_uidl_begin(s);
			s->multi = 1;
			return;
		}
		if (pop3_uidl_refused(s, r))
			return;
		s->no_uidl = 1;
		if (s->ac->keep) {
			char *text = pop3_server_text(r);

			pop3_fail(s, EXIT_PROTOCOL, "the server does not "
			    "support UIDL (%s), so delivered messages cannot "
			    "be told apart from new ones; refusing to fetch "
			    "with keep = yes (keep = no fetches and deletes "
			    "every message)", text);
			free(text);
			return;
		}
		log_msg(LOG_LVL_NOTICE, &s->ctx, "the server does not support "
		    "UIDL; keep = no: fetching and deleting every message");
		pop3_enter(s, POP3_S_LIST);
		break;
	case POP3_S_LIST:
		if (!ok) {
			pop3_refused(s, r, "LIST");
			return;
		}
		s->multi = 1;
		break;
	case POP3_S_RETR:
	case POP3_S_DELE:
	case POP3_S_CHECK:
		pop3_queue_reply(s, r);
		break;
	case POP3_S_QUIT:
		pop3_quit_reply(s, r);
		break;
	default:
		pop3_fail(s, EXIT_PROTOCOL, "unexpected reply in state %s",
		    pop3_state_names[s->state]);
		break;
	}
}

/* One complete line: a status line or a line of a listing. */
static void
pop3_line(struct pop3_session *s, const char *line, size_t len)
{
	struct pop3_reply	 r;
	char			*cause, *clean;

	if (s->multi) {
		if (pop3_parse_unstuff(&line, &len, &(unsigned int){ 0 }))
			pop3_multi_done(s);
		else
			pop3_multi_line(s, line, len);
		return;
	}
	if (pop3_parse_status(line, len, &r, &cause) != 0) {
		clean = log_sanitize(line, len, 100);
		pop3_fail(s, EXIT_PROTOCOL, "%s: %s%s", s->state ==
		    POP3_S_GREETING ? "not a POP3 server" : "bad reply", cause,
		    clean);
		free(clean);
		free(cause);
		return;
	}
	if (r.status != POP3_OK || s->state == POP3_S_GREETING) {
		clean = pop3_server_text(&r);
		log_msg(LOG_LVL_DEBUG, &s->ctx, "< %s %s", r.status ==
		    POP3_OK ? "+OK" : r.status == POP3_ERR ? "-ERR" : "+",
		    clean);
		free(clean);
	}
	pop3_reply(s, &r);
}

/* Handles everything buffered: lines, and body bytes after RETR's +OK. */
static void
pop3_read(struct pop3_session *s)
{
	struct evbuffer	*in = conn_input(s->conn);
	unsigned char	*p;
	size_t		 avail, n, len;
	ssize_t		 used;

	while (s->state != POP3_S_DONE && s->state != POP3_S_MAX) {
		if (s->in_body) {
			if (!pop3_body_feed(s))
				break;
			continue;
		}
		if ((avail = evbuffer_get_length(in)) == 0)
			break;
		n = avail < POP3_LINE_MAX ? avail : POP3_LINE_MAX;
		if ((p = evbuffer_pullup(in, n)) == NULL)
			fatalx("evbuffer_pullup failed");
		if ((used = pop3_parse_line(p, n, &len)) == 0)
			break;
		if (used < 0) {
			s->closing = 1;
			pop3_fail(s, EXIT_PROTOCOL, "a line from the server is "
			    "longer than %d bytes", POP3_LINE_MAX);
			return;
		}
		/* Copied and drained first: STLS needs an empty input. */
		memcpy(s->line, p, len);
		s->line[len] = '\0';
		evbuffer_drain(in, used);
		pop3_pace(s, used);
		pop3_line(s, s->line, len);
	}
	if (s->state != POP3_S_DONE && s->state != POP3_S_MAX)
		pop3_pace(s, 0);
}

/* The one summary line, then the owner's callback. */
static void
pop3_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session	*s = arg;
	struct timespec		 now;
	double			 secs;
	char			 extra[160];

	(void)fd;
	(void)what;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (now.tv_sec - s->start.tv_sec) +
	    (now.tv_nsec - s->start.tv_nsec) / 1e9;
	extra[0] = '\0';
	if (s->result.deleted > 0)
		snprintf(extra, sizeof extra, ", deleted %lu on the server",
		    s->result.deleted);
	if (s->result.skipped > 0)
		snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
		    ", passed over %lu (left on the server; the warnings "
		    "above say why)", s->result.skipped);
	if (s->authed)
		log_msg(s->result.messages > 0 ? LOG_LVL_INFO : LOG_LVL_DEBUG,
		    &s->ctx, "fetched %lu message(s), %llu bytes written "
		    "(%llu bytes downloaded) in %.2f s%s", s->result.messages,
		    (unsigned long long)s->result.bytes,
		    (unsigned long long)s->result.downloaded, secs, extra);
	s->result.status = s->status;
	s->done(s, s->done_arg);
}

static void
pop3_finish_schedule(struct pop3_session *s)
{
	struct timeval	zero = { 0, 0 };

	event_base_once(s->base, -1, EV_TIMEOUT, pop3_finish_cb, s, &zero);
}

/* The session ends. An agent still running is waited for (within its
 * mda_timeout; pop3_mda_done ends the session then): the hand-over does
 * not need the server, and an agent killed after it took the message
 * would hand it over again next time. */
static void
pop3_finish(struct pop3_session *s)
{
	struct log_ctx	ctx;

	if (s->state == POP3_S_MAX)
		return;		/* already finishing */
	s->state = POP3_S_MAX;
	if (s->mda == NULL) {
		pop3_finish_schedule(s);
		return;
	}
	ctx = pop3_msg_ctx(s, s->staged[s->mda_next]);
	log_msg(LOG_LVL_NOTICE, &ctx, "the session ended while the message "
	    "was being handed over: waiting for the delivery agent (at most "
	    "mda_timeout, %us) to record its outcome; the server is told "
	    "next time", s->ac->mda_timeout);
}

static void
pop3_conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct pop3_session	*s = arg;

	(void)c;
	if (s->state == POP3_S_MAX)
		return;
	switch (ev) {
	case CONN_EV_CONNECTED:
		log_msg(LOG_LVL_DEBUG, &s->ctx, "connected to %s%s%s",
		    conn_peer(s->conn), conn_is_tls(s->conn) ? ", " : "",
		    conn_is_tls(s->conn) ? conn_tls_info(s->conn) : "");
		pop3_enter(s, POP3_S_GREETING);
		break;
	case CONN_EV_TLS_READY:
		log_msg(LOG_LVL_DEBUG, &s->ctx, "TLS: %s",
		    conn_tls_info(s->conn));
		pop3_enter(s, POP3_S_CAPA);
		break;
	case CONN_EV_INPUT:
		pop3_read(s);
		break;
	case CONN_EV_CLOSED:
	case CONN_EV_ERROR:
	case CONN_EV_TIMEOUT:
		if (s->state == POP3_S_DONE)
			break;
		if (s->state == POP3_S_QUIT && ev == CONN_EV_CLOSED &&
		    s->failed)
			break;
		s->closing = 1;
		pop3_fail(s, EXIT_NETWORK, "%s%s%s%s",
		    ev == CONN_EV_TIMEOUT ? "timeout: " : "",
		    conn_error(s->conn) != NULL ? conn_error(s->conn) :
		    "no answer from the server",
		    s->in_body ? " in the middle of a message (it will be "
		    "fetched again next time)" : "",
		    s->state != POP3_S_QUIT ? "" : s->no_uidl ?
		    " before QUIT was answered (the server may or may not "
		    "have made the deletions: a message it kept is fetched "
		    "again next time)" : " before QUIT was answered (the "
		    "server may or may not have made the deletions: those it "
		    "did not make are retried next time)");
		break;
	}
	if (s->state == POP3_S_DONE || ev == CONN_EV_CLOSED ||
	    ev == CONN_EV_ERROR || ev == CONN_EV_TIMEOUT)
		pop3_finish(s);
}

struct pop3_session *
pop3_session_new(struct event_base *base, struct evdns_base *dns,
    const struct account_conf *ac, struct state *st, pop3_done_cb done,
    void *arg)
{
	struct pop3_session	*s;
	struct conn_params	 cp;

	s = xcalloc(1, sizeof *s);
	s->base = base;
	s->dns = dns;
	s->ac = ac;
	s->st = st;
	s->done = done;
	s->done_arg = arg;
	s->ctx.account = ac->name;
	s->status = EXIT_NOTHING_NEW;
	s->scratch = xmalloc(POP3_BODY_OUTSIZE(POP3_CHUNK_MAX));
	s->body = pop3_parse_body_new(POP3_BODY_CRLF_TO_LF);
	s->dig_md = msgids_digest_new();
	s->dig_content = mda_content_new();
	pop3_parse_capa_init(&s->capa);
	memset(&cp, 0, sizeof cp);
	cp.host = ac->host;
	cp.port = ac->port;
	cp.tls = ac->tls;
	cp.ca_file = ac->ca_file;
	cp.fingerprint = ac->fingerprint;
	cp.timeout_sec = ac->timeout;
	cp.name = ac->name;
	s->conn = conn_new(base, dns, NULL, &cp, pop3_conn_cb, s);
	return (s);
}

/* Connects; a failure ends the session. */
static void
pop3_connect(struct pop3_session *s)
{
	if (conn_connect(s->conn) != 0) {
		s->closing = 1;
		pop3_fail(s, EXIT_NETWORK, "%s", conn_error(s->conn));
		pop3_finish(s);
	}
}

/* The secret from the job: kept for the login, then connect. */
static void
pop3_secret_cb(char *secret, int status, char *cause, void *arg)
{
	struct pop3_session	*s = arg;

	secret_job_free(s->sjob);
	s->sjob = NULL;
	if (secret == NULL) {
		s->closing = 1;
		pop3_secret_failed(s, status, cause);
		pop3_finish(s);
		return;
	}
	s->secret = secret;
	pop3_connect(s);
}

void
pop3_session_start(struct pop3_session *s)
{
	char	*cause;

	clock_gettime(CLOCK_MONOTONIC, &s->start);
	s->state = POP3_S_CONNECTING;
	if ((s->md = maildir_open_owned(s->ac->maildir, NULL,
	    state_dir(s->st), s->ac->name, &cause)) == NULL) {
		s->closing = 1;
		pop3_fail(s, EXIT_LOCAL, "%s", cause);
		free(cause);
		pop3_finish(s);
		return;
	}
	/* A command or an OAuth2 refresh may take long: it runs beside the
	 * loop, before connecting (the server would not wait for it). */
	if (secret_needs_job(s->ac)) {
		s->sjob = secret_job_start(s->base, s->ac, pop3_secret_cb, s);
		return;
	}
	pop3_connect(s);
}

int
pop3_session_awaiting_secret(const struct pop3_session *s)
{
	return (s->sjob != NULL);
}

void
pop3_session_progress(const struct pop3_session *s, unsigned long *done,
    unsigned long *total, uint64_t *bytes)
{
	*done = s->result.messages + s->nstaged;
	*total = s->ntodo > *done ? s->ntodo : *done;
	*bytes = s->result.bytes;
}

void
pop3_session_budget(struct pop3_session *s, fetch_budget_cb cb, void *arg)
{
	s->budget_cb = cb;
	s->budget_arg = arg;
}

uint64_t
pop3_session_downloaded(const struct pop3_session *s)
{
	return (s->result.downloaded);
}

const struct pop3_result *
pop3_session_result(const struct pop3_session *s)
{
	return (&s->result);
}

struct hook_files *
pop3_session_files(struct pop3_session *s)
{
	return (&s->newfiles);
}

void
pop3_session_hook(struct pop3_session *s, struct hook *h)
{
	s->hook = h;
}

unsigned int
pop3_session_agent_wait(struct pop3_session *s)
{
	if (s->mda == NULL)
		return (0);
	s->closing = 1;
	pop3_finish(s);		/* it waits for the agent */
	return (mda_stop_wait(s->ac));
}

void
pop3_session_free(struct pop3_session *s)
{
	struct log_ctx	ctx;

	if (s == NULL)
		return;
	if (s->mda != NULL) {
		ctx = s->mda_next < s->nstaged ? pop3_msg_ctx(s,
		    s->staged[s->mda_next]) : s->ctx;
		mda_job_cancel(s->mda, &ctx);
	}
	maildir_deliver_abort(s->dlv);
	maildir_close(s->md);
	free(s->msgs);
	free(s->susp);
	free(s->susp_how);
	free(s->digests);
	free(s->then);
	free(s->refusals);
	free(s->nodele);
	free(s->again);
	msgids_digest_free(s->dig_md);
	mda_content_free(s->dig_content);
	free(s->q);
	pop3_staged_clear(s);
	free(s->staged_name);
	hook_files_clear(&s->newfiles);
	free(s->staged);
	free(s->dlv_cause);
	free(s->scratch);
	xfree_secret(s->pass);
	xfree_secret(s->sasl_resp);
	secret_job_free(s->sjob);
	xfree_secret(s->secret);
	pop3_parse_body_free(s->body);
	conn_free(s->conn);
	free(s);
}
