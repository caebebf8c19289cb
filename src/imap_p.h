/* imap_p.h: what the files of the IMAP session (imap*.c) share and
 * nothing else includes: its limits, the session's state enum and
 * structures, and the functions one file calls in another. The
 * session's design, its durability order and its rules for missing,
 * suspect and gone messages are told at the top of imap.c. */
#ifndef MAILFETCHD_IMAP_P_H
#define MAILFETCHD_IMAP_P_H

#include "imap.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "conn.h"
#include "crlf.h"
#include "fault.h"
#include "fetch.h"
#include "folder.h"
#include "hook.h"
#include "imap_flags.h"
#include "imap_parse.h"
#include "log.h"
#include "maildir.h"
#include "mda.h"
#include "msgids.h"
#include "provider.h"
#include "sasl.h"
#include "schedule.h"
#include "secret.h"
#include "uidset.h"
#include "xmalloc.h"

/* Messages per UID FETCH of bodies: each batch ends in one checkpoint
 * (directory fsync + state save), so this trades fsyncs for redo work. */
#define IMAP_BATCH_MSGS		250
#define IMAP_BATCH_BYTES	(64 * 1024 * 1024)
/* Distinct UIDs a sizes pass may list beyond the folder's EXISTS (and a
 * quarter of it): messages that arrive while it runs, expunged ones still
 * listed. Beyond, the server is broken (tests/fault/servers.sh). */
#define IMAP_MSGS_SLACK		1024
/* Ranges per UID STORE/MOVE/EXPUNGE command, to keep lines short. */
#define IMAP_SET_RANGES		400
/* Scratch for CRLF conversion of one chunk. */
#define IMAP_CHUNK_MAX		(16 * 1024)
/* The most distinct [ALERT] texts a session logs (each once): a server
 * streaming alerts must not flood the log (RFC 9051 says to show them,
 * not to show each a million times). */
#define IMAP_ALERT_MAX		10
/* Most of a BODY[HEADER.FIELDS (MESSAGE-ID)] literal kept: the parser's
 * old buffering cap, so every header read before is read the same. A
 * longer one (anyone who can send mail can make one) is streamed past and
 * its Message-ID counts as absent. */
#define IMAP_HDR_MAX		(64 * 1024)
/* The largest body accepted with max_message_size = 0 (no limit). */
#define IMAP_BODY_MAX		((uint64_t)1 << 40)
/* The largest body literal accepted with no size to judge it by (none
 * listed, none in its own FETCH answer), when max_message_size is larger:
 * a server could drip one up to the limit at its pace (imap_body_bound). */
#define IMAP_UNSIZED_MAX	((uint64_t)32 * 1024 * 1024)
/* The msgids log's folder for Gmail's X-GM-MSGIDs: a control character,
 * which no mailbox name on the wire (modified UTF-7) can hold. */
#define IMAP_GM_FOLDER		"\001X-GM-MSGID"
/* The FETCH item that carries the Message-ID. */
#define IMAP_ITEM_MSGID		"BODY[HEADER.FIELDS (MESSAGE-ID)]"
/* Longest Message-ID a journal entry keeps (RFC 5322's line length): a
 * state line must stay under 16 KB however long a sender made it. */
#define IMAP_JOURNAL_MSGID_MAX	998
/* The most UID ranges one answer to our UID SEARCH may make (in any
 * number of untagged SEARCH responses): a server streaming SEARCH data
 * would otherwise grow the set without bound. A range costs 8 bytes, so
 * 8 MB; checked as queued UIDs join the set (uidset_batch, so that any
 * order costs O(n log n): review r23 04), which may double it first:
 * with the queue (4 bytes a UID) and the merge's copy, about 32 MB at
 * worst for one hostile answer. Ranges, not UIDs: an honest folder of millions of unread
 * messages with consecutive UIDs is a handful of ranges; only a folder
 * whose unread (or deleted) messages alternate with read ones a million
 * times over cannot be searched. */
#define IMAP_SEARCH_MAX		1000000
/* The most UIDs one answer to UID SEARCH may bring as new results for
 * the pacing, whatever the folder's EXISTS and UIDNEXT say (a hostile
 * server can say 4,000,000,000 for both): past it, what the answer brings
 * counts as notes, and a server still streaming ends after the note
 * windows (conn.h). An honest answer this long comes at once. */
#define IMAP_SEARCH_NEW_MAX	1000000
/* Folders one LIST answer may name, and bytes of their names: a server
 * repeating its LIST lines without end would otherwise grow the list
 * without bound. More folders than any real account has. */
#define IMAP_LISTED_MAX		100000
#define IMAP_LISTED_BYTES	(16 * 1024 * 1024)

/* How far a sizes pass's unlisted UIDs were asked about (imap_gone_check). */
enum imap_gone_stage {
	IMAP_GONE_UNASKED,
	IMAP_GONE_BY_UID,	/* UID SEARCH UID sent */
	IMAP_GONE_BY_ALL	/* UID SEARCH ALL sent, or not needed */
};

enum imap_state {
	IMAP_S_CONNECTING,
	IMAP_S_GREETING,
	IMAP_S_CAPABILITY,
	IMAP_S_STARTTLS,
	IMAP_S_TLS,
	IMAP_S_ID,
	IMAP_S_AUTH,
	IMAP_S_AUTH_CAPS,
	IMAP_S_COMPRESS,
	IMAP_S_ENABLE,		/* ENABLE CONDSTORE (local_flags = mirror) */
	IMAP_S_ROOT,		/* LIST "" "": the hierarchy separator */
	IMAP_S_NAMESPACE,	/* each namespace's separator (RFC 2342) */
	IMAP_S_NSPROBE,		/* without it: LIST "" "#prefix" */
	IMAP_S_ROLES,		/* LIST "" "*": special-use folders */
	IMAP_S_LIST,
	IMAP_S_TRASH_STATUS,	/* STATUS of a fetched folder that becomes
				 * the trash: its UIDNEXT (review r24 03) */
	IMAP_S_STATUS,		/* STATUS before SELECT: anything new? */
	IMAP_S_SELECT,
	IMAP_S_SEARCH,
	IMAP_S_SIZES,
	IMAP_S_SEARCH_MISSING,	/* UID SEARCH UID: do the missing UIDs the
				 * sizes pass left out exist? */
	IMAP_S_SEARCH_GONE,	/* UID SEARCH ALL: and those it did not
				 * find? (imap_gone_check) */
	IMAP_S_SIZES_TOP,	/* UID FETCH * (UID): the highest UID, for a
				 * first fetch's bound (imap_first_top_ask) */
	IMAP_S_FETCH,
	IMAP_S_STORE,
	IMAP_S_COPY,		/* trash_folder without MOVE */
	IMAP_S_MOVE,
	IMAP_S_TRASH_CREATE,	/* the trash folder after [TRYCREATE] */
	IMAP_S_TRASH_BOUND,	/* STATUS of a marked trash after a move
				 * there: its bound (imap_trash_bound_ask) */
	IMAP_S_SEARCH_DELETED,
	IMAP_S_EXPUNGE,
	IMAP_S_FLAGS,		/* UID FETCH 1:last_uid (FLAGS): mirror */
	IMAP_S_IDLE,		/* IDLE sent, waiting for "+" */
	IMAP_S_IDLING,		/* in IDLE */
	IMAP_S_IDLE_DONE,	/* DONE sent, waiting for the tagged OK */
	IMAP_S_LOGOUT,
	IMAP_S_DONE,
	IMAP_S_MAX,
};


/* A folder to fetch, resolved against the server. */
struct imap_folder {
	char		*remote;	/* as the server spells it (mUTF-7) */
	char		*display;	/* UTF-8, for logs */
	char		*local;		/* Maildir++ name, "" for the root */
	int		 mark_read;
	int		 deliver;	/* enum config_deliver */
};

/* A LIST answer. */
struct imap_listed {
	char		*name;		/* mUTF-7 */
	int		 delim;
	int		 noselect;
	const char	*excluded;	/* from patterns: its special use */
	unsigned int	 roles;		/* 1 << enum folder_role */
};

/* A message to fetch: from the UID FETCH (UID RFC822.SIZE) pass. */
struct imap_msg {
	uint32_t	 uid;
	uint32_t	 size;		/* RFC822.SIZE, at most 4 GiB - 1 */
	uint32_t	 seq;		/* its message number then; 0: none */
	uint64_t	 gmid;		/* X-GM-MSGID, 0: none */
	int		 gm_known;	/* delivered before from a label */
	int		 age;		/* enum imap_seq_age, when listed */
};

/* A sequence number's message, told when its line comes (later EXPUNGEs
 * renumber the folder): there at the SELECT (up to select_left), announced
 * since by an EXISTS, or numbered past every EXISTS (a server whose count
 * lags: neither can be told, review r28 01). */
enum imap_seq_age {
	IMAP_AGE_OLD,
	IMAP_AGE_NEW,
	IMAP_AGE_PAST,
};

/* What the chunks of the literal being streamed are for. */
enum imap_lit {
	IMAP_LIT_NONE,
	IMAP_LIT_BODY,		/* BODY[]: into the Maildir */
	IMAP_LIT_HEADER,	/* the Message-ID header: into s->hdr */
	IMAP_LIT_DISCARD,	/* a body over max_message_size: dropped */
};

/* A message staged in this batch: what the journal and the msgids log
 * need once the batch is durable, and what tells a second answer for the
 * same UID from a mere repeat. */
struct imap_staged {
	uint32_t	 uid;
	uint64_t	 size;		/* RFC822.SIZE, the msgids key */
	uint64_t	 lit;		/* its BODY[] literal's length */
	uint64_t	 bytes;		/* as written (LF line ends) */
	char		*final;		/* Maildir file name */
	char		*msgid;		/* NULL: none */
	uint64_t	 gmid;		/* X-GM-MSGID, 0: none */
	unsigned int	 flags;		/* the server's, as the UID map
					 * knows them (imap_flags.h) */
	unsigned char	 digest[MSGIDS_DIGEST_LEN]; /* of the file */
};

struct imap_session {
	struct event_base	*base;
	struct evdns_base	*dns;
	const struct account_conf *ac;
	struct state		*st;
	imap_done_cb		 done;
	void			*done_arg;

	struct conn		*conn;
	struct imap_parser	*parser;
	enum imap_state		 state;
	unsigned int		 tagno;
	char			 tag[16];
	int			 cmd_open;	/* s->tag awaits its tagged
						 * completion */
	size_t			 search_new;	/* UIDs new to the answer
						 * to UID SEARCH */
	int			 pace_new;	/* the response handled
						 * brought new results
						 * (conn_progress_response) */
	uint64_t		 alerts[IMAP_ALERT_MAX]; /* hashes of the
						 * [ALERT]s logged */
	size_t			 nalerts;
	int			 alerts_muted;	/* said that further ones are
						 * not logged */
	unsigned int		 caps;
	int			 caps_known;
	int			 authed;
	int			 id_sent;
	int			 compressed;	/* COMPRESS=DEFLATE is on */
	int			 sasl_ir_sent;	/* an initial response went out */
	char			*sasl_pending;	/* the response, until the "+" */
	int			 closing;	/* LOGOUT sent or fatal error */
	struct imap_result	 result;
	int			 status;	/* worst outcome so far */

	/* Folder resolution. */
	int			 delim;		/* the server's hierarchy
						 * separator, 0: flat or not
						 * said (folder.h) */
	int			 delim_known;	/* the LIST "" "" answered */
	struct folder_ns	 ns;		/* NAMESPACE: a separator per
						 * namespace (folder.h) */
	size_t			 ns_idx;	/* IMAP_S_NSPROBE: next
						 * configured name */
	char			*ns_probe;	/* its prefix ("#shared") */
	char			*ns_probe_wire;	/* as sent */
	int			 ns_probe_delim; /* LIST's answer, -1: none */
	int			 ns_probe_wild;	/* LIST "" "#shared*" sent */
	char			*trash_wire;	/* trash_folder as sent, or the
						 * server's \Trash folder
						 * (imap_trash_resolve) */
	char			*trash_name;	/* the same in UTF-8, for
						 * messages; NULL: keep = no
						 * deletes */
	int			 trash_default;	/* trash_wire is the server's
						 * \Trash folder */
	char			*role_wire[FOLDER_ROLE_MAX]; /* the first
						 * selectable folder listed
						 * with each role; NULL:
						 * none (folder.h) */
	int			 role_delim[FOLDER_ROLE_MAX];
	int			 roles_plain;	/* LIST ... RETURN
						 * (SPECIAL-USE) refused */
	int			 roles_failed;	/* the LIST refused */
	int			 trash_bound_copy; /* TRASH_BOUND after a
						 * COPY (not a MOVE) */
	int			 roles_overflow; /* the LIST past
						 * IMAP_LISTED_MAX: dropped */
	size_t			 conf_idx;
	struct imap_listed	*listed;
	size_t			 nlisted;
	size_t			 alisted;
	size_t			 listed_bytes;	/* of their names */
	struct imap_folder	*folders;
	size_t			 nfolders;
	size_t			 cur;

	/* The selected folder. */
	struct log_ctx		 ctx;
	struct maildir		*md;
	struct state_folder	*sf;
	uint32_t		 uidvalidity;
	uint32_t		 uidnext;
	uint32_t		 exists;
	uint32_t		 exists_left;	/* EXISTS less each EXPUNGE
						 * since: the highest sequence
						 * number announced */
	uint32_t		 select_exists;	/* EXISTS when SELECT ended */
	uint32_t		 select_left;	/* sequence number of the last
						 * message there at the SELECT
						 * (EXPUNGEs move it down):
						 * higher ones arrived since */
	uint64_t		 st_uidvalidity; /* STATUS answers; 0: none */
	uint64_t		 st_uidnext;
	uint64_t		 st_messages;
	int			 unseen_searched; /* this pass's UID SEARCH
						  * UNSEEN answered */
	struct uidset		 unseen;	/* first_fetch = unseen; also
						 * UID SEARCH DELETED */
	struct secret_job	*sjob;		/* getting the secret */
	char			*secret;	/* got, until the login */
	struct imap_msg		*msgs;	/* to fetch, ascending UID */
	size_t			 nmsgs;
	size_t			 amsgs;
	size_t			 next_msg;
	uint32_t		 max_seen_uid;	/* from the SIZES pass */
	uint32_t		 first_top;	/* UID FETCH *'s UID, 0 none */
	uint32_t		 first_top_old;	/* the highest there at the
						 * SELECT, told as it came */
	int			 first_top_age;	/* enum imap_seq_age */
	struct uidset_batch	 search_q;	/* SEARCH UIDs not in their set
						   yet (imap_search_untagged) */
	int			 top_asked;	/* UID FETCH * sent this pass */
	int			 sized;		/* the SIZES pass answered */
	int			 trash_create_tried; /* CREATE of the trash
						   folder sent (once per
						   session) */
	struct uidset		 missing;	/* listed, not delivered, at or
						   below last_uid: asked for
						   again (the state's copy) */
	size_t			 missing_asked;	/* ranges of it in the sizes
						   pass (a bounded line) */
	enum imap_gone_stage	 gone_stage;	/* how far this pass's
						   unlisted UIDs were asked
						   about (imap_gone_check) */
	struct uidset		 queried;	/* ... these, by UID SEARCH */
	struct uidset		 found;		/* ... which it found */
	struct uidset		 unsized;	/* ... found, but left out of
						   the sizes pass again: in
						   the body FETCH without a
						   size (imap_unsized_add) */
	int			 uidv_changed;	/* match by Message-ID */
	struct uidset		 suspect;	/* the server once sent them
						   far larger than announced:
						   asked alone, last (the
						   state's copy) */
	int			 suspect_pass;	/* asking them now */
	int			 suspect_known;	/* known loaded for it: 1,
						   or -1: the log unreadable
						   (imap_suspect_known) */
	size_t			 suspect_first;	/* ranges of it in the suspect
						   pass's sizes FETCH: from
						   first to before asked (a
						   bounded line) */
	size_t			 suspect_asked;
	uint32_t		 suspect_next;	/* the next suspect pass
						   starts at the first suspect
						   from this UID on (a
						   rotation; saved as the
						   suspect text's first UID) */
	struct uidset		 suspect_nil;	/* suspects not returned this
						   pass (one warning) */
	int			 seq_stale;	/* an EXPUNGE since the sizes
						 * pass: msgs[].seq is off */
	size_t			 untouched;	/* delivered, no server action
						   (imap_untouched) */
	struct msgids_set	 known;		/* ... against these */
	struct uidset		 verify;	/* matched: compare content */
	struct uidset		 skip;		/* delivered, above last_uid */
	struct imap_staged	*staged;	/* this batch, for the journal */
	size_t			 nstaged;
	struct mda_job		*mda;		/* deliver = mda: the agent of
						 * staged[mda_next] */
	size_t			 mda_next;
	struct uidset		 mda_refused;	/* of this batch, not taken by
						 * the agent: asked again */
	struct hook_files	 newfiles;	/* durable, for the new-mail
						 * hook (imap_session_files) */
	struct hook		*hook;		/* hook_owe's; NULL: none */
	struct uidset		 batch;		/* UIDs of this FETCH */
	struct uidset		 answered;	/* of batch, whose BODY[] came:
						   pacing counts each once */
	struct uidset		 delivered;	/* staged in this batch */
	struct uidset		 passed;	/* done with in this batch,
						   not delivered (too big, or
						   delivered before) */
	struct uidset		 recognised;	/* of passed, delivered before
						   the UIDVALIDITY change: owed
						   the server action */
	struct uidset		 ambiguous;	/* two different messages under
						   one UID: no server action */
	struct uidset		 pending;	/* durable, server not told */
	size_t			 pending_from;	/* slicing for commands */
	int			 folder_failed;
	unsigned long		 f_msgs;
	uint64_t		 f_bytes;	/* delivered (as written), and
						 * recovered */
	uint64_t		 f_down;	/* BODY[] bytes received, kept
						 * or not (the budget) */
	struct timespec		 f_start;

	/* The message being received. */
	struct maildir_delivery	*dlv;
	int			 dlv_failed;
	char			*dlv_cause;
	struct crlf		 crlf;
	struct msgids_digest	*digest;	/* of the body being written */
	char			*scratch;
	enum imap_lit		 lit;		/* the literal being streamed */
	uint64_t		 body_over;	/* BODY[] dropped: its size */
	uint64_t		 body_lit;	/* the BODY[] literal's length */
	char			*hdr;		/* the Message-ID header */
	size_t			 hdr_len;
	size_t			 hdr_alloc;
	int			 hdr_cut;	/* over IMAP_HDR_MAX */

	struct msgids		*ids;		/* NULL: log not available */
	struct msgids_set	 gm_known;	/* X-GM-MSGIDs delivered */
	int			 gm_loaded;

	/* Mode (imap.h), with our own copies of its strings. */
	enum imap_mode		 mode;
	char			*idle_folder;
	char			**skip_conf;	/* configured names */
	char			**skip_wire;	/* the same as sent; NULL
						 * until imap_root_done */
	size_t			 nskip;
	imap_delivered_cb	 delivered_cb;
	imap_may_fetch_cb	 may_fetch_cb;
	fetch_budget_cb		 budget_cb;	/* NULL: no daily budget */
	void			*budget_arg;
	int			 budget_stop;	/* the budget ended the
						 * poll's fetching */
	struct event		*ev_idle;	/* re-issue IDLE */
	struct event		*ev_stop;	/* bound on a polite stop */
	int			 in_loop;	/* IDLE reached once: EXISTS
						 * now means new mail */
	int			 wake;		/* new mail seen while busy */
	int			 stopping;	/* imap_session_stop() */

	/* local_flags = mirror: the delivered files follow the server's
	 * flags (imap_flags.h). */
	int			 enable_sent;	/* ENABLE CONDSTORE */
	int			 condstore;	/* ... and it is on */
	uint64_t		 highestmodseq;	/* SELECT's; 0: none or
						 * NOMODSEQ */
	int			 flags_done;	/* this folder's (or IDLE
						 * round's) sync ran */
	struct imap_flags_sync	*fsync;		/* its answers */
	int			 flags_over;	/* more than it keeps */
	uint32_t		 flags_top;	/* highest UID noted */
	size_t			 flags_rise;	/* ... how many times it rose */
	uint32_t		*relink_uids;	/* of the batch, recognised
						 * after a UIDVALIDITY change */
	unsigned char		*relink_digests; /* theirs, MSGIDS_DIGEST_LEN
						  * bytes each */
	size_t			 nrelink;
};
/* An IMAP journal entry's id (state.h leaves its form to us):
 *	<UID> <UIDVALIDITY> <RFC822.SIZE> <i|d> [<Message-ID>]
 * "i": in flight, the move into new/ or cur/ may not have happened; "d":
 * delivered and recorded, kept only so that the UID is skipped. A bare
 * "<UID>" (an older version's journal) is in flight in the UIDVALIDITY the
 * state records for the folder, which is the one it was written in. */
struct imap_jentry {
	uint32_t	 uid;
	uint32_t	 uidvalidity;
	uint64_t	 size;
	int		 done;
	const char	*msgid;		/* into the id; NULL: none */
};

/* A recovery's in-flight entries (each a file of the interrupted run),
 * and what it found. */
struct imap_recovery {
	const struct state_inflight **e;
	struct imap_jentry	*j;
	const char		**finals;
	struct maildir_found	*found;	/* maildir_recover's, per entry */
	size_t			 n;
	int			 any;	/* the folder has entries, done too */

	struct uidset		 done;	/* this epoch, found: owed the server
					 * actions */
	struct uidset		 gone;	/* this epoch, found nowhere: no
					 * server action */
	struct uidset		 ambiguous; /* this epoch, two entries: two
					 * different messages under one UID,
					 * no server action */
	size_t			 ngone;	/* found nowhere, every epoch */
	size_t			 nold;	/* another epoch: local only */
	size_t			 nlogged; /* Message-IDs queued */
};

/* imap.c */
void	imap_status(struct imap_session *s, int status);
void printflike(3, 0)	imap_vlog(struct imap_session *s, enum log_level level, const char *fmt,
    va_list ap);
void printflike(3, 4)	imap_log(struct imap_session *s, enum log_level level, const char *fmt, ...);
char *imap_server_text(const struct imap_response *r);
void printflike(3, 4)	imap_fail(struct imap_session *s, int status, const char *fmt, ...);
void printflike(2, 3)	imap_send(struct imap_session *s, const char *fmt, ...);
void	imap_pace_end(struct imap_session *s);
void	imap_search(struct imap_session *s, enum imap_state state, const char *key);
char *imap_quote(struct imap_session *s, const char *name);
void	imap_enter(struct imap_session *s, enum imap_state next);
void	imap_search_untagged(struct imap_session *s, const struct imap_response *r);
void	imap_response(struct imap_session *s, const struct imap_response *r);
void	imap_finish_schedule(struct imap_session *s);
void	imap_finish(struct imap_session *s);
uint64_t	imap_session_downloaded(const struct imap_session *s);

/* imap_list.c */
int	imap_wire_eq(const struct imap_session *s, const char *a, const char *b);
char *imap_conf_local(struct imap_session *s, const struct folder_conf *fc);
void	imap_listed_clear(struct imap_session *s);
int	imap_conf_wanted(struct imap_session *s, const struct folder_conf *fc);
int	imap_remote_skipped(struct imap_session *s, const char *remote);
int	imap_roles_needed(const struct imap_session *s);
void	imap_roles_done(struct imap_session *s, const struct imap_response *r,
    int ok);
void	imap_ns_answer(struct imap_session *s, const struct imap_response *r);
void	imap_ns_probe_next(struct imap_session *s);
int	imap_ns_probe_answer(const struct imap_session *s, const char *mailbox,
    int delim);
void	imap_ns_probe_done(struct imap_session *s);
void	imap_root_answered(struct imap_session *s);
void	imap_root_done(struct imap_session *s);
void	imap_lists_begin(struct imap_session *s);
void	imap_lists_go(struct imap_session *s);
void	imap_list_next(struct imap_session *s);
void	imap_list_done(struct imap_session *s);
void	imap_list_untagged(struct imap_session *s, const struct imap_response *r);

/* imap_folder.c */
void	imap_staged_clear(struct imap_session *s);
void	imap_relink_clear(struct imap_session *s);
void	imap_folder_reset(struct imap_session *s);
void	imap_next_folder(struct imap_session *s);
void	imap_status_untagged(struct imap_session *s, const struct imap_response *r,
    const char *remote);
void	imap_status_done(struct imap_session *s, int ok);
void printflike(3, 4)	imap_folder_fail(struct imap_session *s, int status, const char *fmt, ...);
int	imap_save_state(struct imap_session *s);
int	imap_wants_actions(struct imap_session *s);
int	imap_untouched(struct imap_session *s);
size_t	imap_untouched_take(struct imap_session *s, const struct uidset *set,
    struct uidset *rest);
void	imap_pending_add(struct imap_session *s, const struct uidset *set);
void	imap_untouched_recovered(struct imap_session *s, struct uidset *done);
int	imap_pending_load(struct imap_session *s);
void	imap_store_pending(struct imap_session *s);
void	imap_pass_begin(struct imap_session *s);
void	imap_sizes(struct imap_session *s);
void	imap_set_drop(struct uidset *set, uint32_t uid);
void	imap_selected(struct imap_session *s);
void	imap_msgs_dedup(struct imap_session *s);
uint64_t	imap_msg_gmid(struct imap_session *s, uint32_t uid);
void	imap_first_top_untagged(struct imap_session *s, const struct imap_response *r);
int	imap_first_bound(struct imap_session *s, size_t listed, uint32_t top,
	    int past);
enum imap_seq_age imap_seq_age(const struct imap_session *s, uint32_t seq);
int	imap_budget_never(struct imap_session *s, size_t i, struct uidset *never);
long long	imap_hold_note(struct imap_session *s, uint32_t uid, enum mda_result res);
void	imap_sizes_done(struct imap_session *s);
uint64_t	imap_budget_left(const struct imap_session *s);
void	imap_fetch_next_batch(struct imap_session *s);
uint32_t	imap_matching_owed(struct imap_session *s, uint32_t top);
void	imap_undelivered(struct imap_session *s, const struct uidset *in,
    struct uidset *out);
void	imap_batch_log_ids(struct imap_session *s);
void	imap_staged_log_id(struct imap_session *s, const struct imap_staged *st);
int	imap_batch_durable(struct imap_session *s, char **cause);
void	imap_batch_owed(struct imap_session *s);
void	imap_checkpoint_record(struct imap_session *s);
void	imap_checkpoint(struct imap_session *s);

/* imap_journal.c */
char *imap_jentry_format(const struct imap_jentry *j);
void	imap_journal_prune(struct imap_session *s);
int	imap_journal_recover(struct imap_session *s);

/* imap_missing.c */
size_t	imap_suspect_start(const struct imap_session *s);
void	imap_suspect_save(struct imap_session *s);
int	imap_suspect_load(struct imap_session *s);
void	imap_missing_save(struct imap_session *s);
int	imap_gone_check(struct imap_session *s, const struct uidset *unlisted);
void	imap_gone_refused(struct imap_session *s);
int	imap_missing_check(struct imap_session *s, const struct uidset *listed);
void	imap_unsized_add(struct imap_session *s, const struct uidset *found);
void	imap_missing_relisted(struct imap_session *s, const struct uidset *listed,
    const struct uidset *kept);
void	imap_unlisted_add(struct imap_session *s, struct uidset *owed, uint32_t lo,
    uint32_t hi);
void	imap_unlisted(struct imap_session *s, struct uidset *owed, size_t *sure);
void	imap_skip_drop(const struct imap_session *s, struct uidset *set);
void	imap_unlisted_owe(struct imap_session *s, struct uidset *owed, size_t sure);
void	imap_suspect_sized(struct imap_session *s);
void	imap_suspect_never(struct imap_session *s);
int	imap_suspect_begin(struct imap_session *s);
void	imap_missing_update(struct imap_session *s);
void	imap_suspect_update(struct imap_session *s);
void	imap_suspect_nil_log(struct imap_session *s);
void	imap_missing_drop(struct imap_session *s, uint32_t uid);
int	imap_suspect_known(struct imap_session *s);

/* imap_gm.c */
int	imap_gm_known(struct imap_session *s, uint64_t gmid, const char *msgid,
    uint64_t size);
void	imap_gm_log_one(struct imap_session *s, const struct imap_staged *st);
void	imap_gm_logged(struct imap_session *s);
void	imap_gm_load(struct imap_session *s);
int	imap_gm_refused(struct imap_session *s, const struct imap_response *r);

/* imap_trash.c */
int	imap_is_own_trash(const struct imap_session *s, const char *remote);
int	imap_moves_to_trash(const struct imap_session *s);
const char *imap_trash_what(const struct imap_session *s);
void	imap_own_trash_refused(struct imap_session *s,
    const struct folder_conf *fc, const char *remote);
void	imap_trash_resolve(struct imap_session *s);
struct state_folder *imap_trash_becomes(struct imap_session *s);
const char *imap_trash_name(struct imap_session *s);
int	imap_trash_bound_ask(struct imap_session *s);
void	imap_trash_bound_done(struct imap_session *s, int ok);
void	imap_trash_status_done(struct imap_session *s, int ok);
void	imap_trash_remember(struct imap_session *s);
const char *imap_was_trash(const struct imap_session *s, const char *remote);
void	imap_trash_epoch_warn(struct imap_session *s);
void	imap_trash_resume_bound(struct imap_session *s);
void	imap_trash_refused(struct imap_session *s, const struct imap_response *r);
void	imap_trash_created(struct imap_session *s, const struct imap_response *r,
    int ok);

/* imap_mda.c */
int	imap_mda_taken(struct imap_session *s, size_t i);
void	imap_mda_done(enum mda_result res, const char *text, void *arg);
void	imap_mda_batch(struct imap_session *s);
void	imap_actions(struct imap_session *s);
size_t	imap_slice_start(const struct imap_session *s);
void	imap_after_copy(struct imap_session *s);
void	imap_after_store(struct imap_session *s);

/* imap_idle.c */
void	imap_timeout_restore(struct imap_session *s);
int	imap_idle_reopen(struct imap_session *s);
int	imap_idle_blocked(struct imap_session *s);
void	imap_idle_leave(struct imap_session *s, unsigned int wait);
void	imap_idle_started(struct imap_session *s);
int	imap_idle_trash_stale(struct imap_session *s);
void	imap_idle_wake(struct imap_session *s);
void	imap_idle_round_done(struct imap_session *s);
void	imap_idle_timer_cb(evutil_socket_t fd, short what, void *arg);
void	imap_stop_timer_cb(evutil_socket_t fd, short what, void *arg);

/* imap_mirror.c */
int	imap_flags_wanted(const struct imap_session *s);
void	imap_flags_map_batch(struct imap_session *s);
void	imap_flags_highest(struct imap_session *s, const struct imap_response *r);
void	imap_flags_untagged(struct imap_session *s, const struct imap_response *r);
void	imap_flags_done(struct imap_session *s, const struct imap_response *r,
    int ok);
void	imap_folder_done(struct imap_session *s);

/* imap_body.c */
void	imap_sizes_lie_record(struct imap_session *s, uint32_t uid);
int	imap_body_lie(struct imap_session *s, uint64_t size, const char *what);
uint32_t	imap_uid_of_seq(const struct imap_session *s);
uint32_t	imap_uid_unanswered(const struct imap_session *s);
int	imap_sizes_lie(struct imap_session *s, uint64_t size);
int	imap_body_budget(struct imap_session *s, uint64_t size);
void	imap_body_begin(struct imap_session *s, uint64_t size);
void	imap_hdr_chunk(struct imap_session *s, const char *p, size_t len);
void	imap_literal_begin(struct imap_session *s);
void	imap_body_chunk(struct imap_session *s, const char *p, size_t len);
uint64_t	imap_fetch_size(const struct imap_response *r);
int	imap_body_repeat(struct imap_session *s, uint32_t uid,
    const struct log_ctx *mctx, const unsigned char *digest);
size_t	imap_msgs_cap(const struct imap_session *s);
void	imap_fetch_untagged(struct imap_session *s, const struct imap_response *r);

const char	*imap_state_name(enum imap_state);

#endif
