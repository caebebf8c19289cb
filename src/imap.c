/* imap.c: the IMAP session (RFC 3501, RFC 9051 servers too).
 *
 * One connection per account, one command at a time, driven by one state
 * enum: imap_enter() sends a state's command and logs the transition,
 * imap_response() decides on each complete server response. Message bodies
 * never sit in memory: the parser hands BODY[] literals over in chunks that
 * go through CRLF->LF straight into a Maildir tmp/ file.
 *
 * Durability order for each batch of messages (doc/DESIGN.md promise 1):
 *   1. UID FETCH <batch> (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS
 *      (MESSAGE-ID)] BODY.PEEK[]) -> files staged in tmp/;
 *   2. maildir_sync_prepare: every file fsynced, still invisible in tmp/;
 *   3. the intent journal: one "inflight" state record per message (UID,
 *      final file name), state saved; then the Message-ID keys and
 *      content digests appended to the account's msgids log, before any
 *      file is visible (a reader may take one before step 5, and the
 *      recovery would find nothing to digest);
 *   4. maildir_sync: renamed into new/ or cur/, the directories fsynced;
 *   5. the state: last_uid advanced, the journal cleared, and the batch
 *      added to the folder's "pending" set when the server must be told
 *      (mark_read, keep = no), saved atomically;
 *   6. only then UID STORE / UID MOVE / UID EXPUNGE for the pending set;
 *      after their OK the pending set is emptied (saved with the next save).
 * With deliver = mda, steps 2 to 4 are one message at a time, the agent's
 * exit 0 in place of the Maildir (imap_mda_batch; crash point
 * imap-mda-taken).
 * Killed before 3, nothing is visible and the batch is fetched again.
 * Killed between 3 and 5, the next run finds the journal when it selects
 * the folder: maildir_recover finishes each move (the files are durable in
 * tmp/, and no mailfetchd removes a journaled one) and the messages count
 * as delivered, so none is fetched twice. Only a file found in the
 * Maildir (new/, or cur/ where a reader moved it) may lead to a server
 * action: one found nowhere stays on the server. Two entries of one UID
 * mean the batch got two different messages under it: no server action
 * either (imap_body_repeat). Each entry carries its UIDVALIDITY
 * and Message-ID: an entry of another epoch than the server's now is
 * finished locally and logged in the msgids log, but its UID means
 * nothing any more and never leads to a server action. An entry kept
 * after its batch (delivered above a UID the server did not return) is
 * marked done: it only says "skip this UID", never "deliver".
 * Killed between 5 and 6, the pending set is in the state and is applied
 * before anything is fetched; the actions are idempotent. A recovery adds
 * the UIDs it delivers to that set, and saves it with its entries marked
 * done: killed before the actions, the next recovery finds only done
 * entries and the set, which it keeps (point "imap-recovered").
 *
 * A message listed by the sizes pass but not delivered by the body FETCH
 * (BODY[] NIL, or left out of the answer) must not be passed over, yet
 * must not hold back the others: last_uid moves on, and its UID goes to
 * the folder's "missing" set in the state, asked for again (with what is
 * new) on every run until it arrives or the server no longer lists it
 * and neither UID SEARCH UID finds it nor UID SEARCH ALL lists it
 * (imap_gone_check: an answer left short is no proof that a message is
 * gone). One that UID
 * SEARCH finds but the sizes pass left out again is asked for in the body
 * FETCH without its size (imap_unsized_add), not owed for ever.
 * So does a message the sizes pass itself left out (a jump in the message
 * numbers of its answer, or a gap in the UIDs whose numbers cannot tell):
 * last_uid passes it only with it in the missing set (imap_unlisted).
 *
 * A server that announces a literal far larger than its message (BODY[]
 * or the Message-ID header, in the body FETCH or in the matching pass's
 * sizes FETCH) ends the session at once rather than be read at its pace
 * (imap_body_lie, imap_sizes_lie). The message, named by its UID (or,
 * with the UID after the literal, by the message number the sizes pass
 * noted, or as the one message of its batch whose body has not come),
 * becomes a suspect: one such answer may be a passing server
 * bug, and passing an honest message over for good would lose it. The
 * state's "suspect" record keeps its UID (with the UIDVALIDITY: a UID of
 * another epoch names nothing); last_uid passes it, so the next pass
 * fetches the others without it, and then asks each suspect alone, last
 * (the suspect pass: its own sizes FETCH, then one body FETCH per
 * message), so that a server lying about it again blocks no other
 * message; its body is compared with the msgids log as in a matching
 * pass (imap_suspect_known: a UID under which the server sent a second
 * message past the budget was delivered once already). Delivered (or
 * recognised), it is no suspect any more; the server lying again,
 * it is passed over for good; no longer listed, it is asked about as a
 * missing UID is (imap_gone_check): forgotten only when the server shows
 * it gone, else fetched without its size.
 *
 * UIDVALIDITY changes (a folder recreated or migrated): the folder's
 * messages are matched by Message-ID and size against the msgids log of
 * what was delivered from it. Those that match are only candidates (two
 * messages may share both): they are fetched like the others, and one
 * whose content digest is also in the log is dropped from tmp/ instead of
 * delivered, and joins the pending set like a delivered one (it was
 * durable before); the others, and every message that does not match, are
 * delivered. Each delivered message's digest (SHA-256 of the Maildir
 * file, computed as it streams) goes into the log with its key. The
 * matching is owed until the folder's pass is through: the new
 * UIDVALIDITY is saved with the folder's "matching" mark, and a run that
 * finds the mark (the one that set it was interrupted) matches what lies
 * above last_uid in the same way (imap_pass_begin).
 *
 * first_fetch = unseen: the first pass fetches only what UID SEARCH UNSEEN
 * names among what it lists. Its bound (the highest UID listed) is saved
 * with the folder's first UIDVALIDITY and dropped when the pass is
 * through, so that a run interrupted in it leaves the next one applying
 * the same filter up to that bound, not fetching (and with keep = no
 * deleting) the read mail the user chose to leave. The mode and the time
 * the first fetch began are kept for good (first_fetch = new too). After
 * a UIDVALIDITY change nothing tells the mail the first fetch left from
 * the rest (a migration drops \Seen or re-dates, mail is moved in with
 * old dates): every message of the new epoch not matched as delivered
 * before is delivered, and, when the first fetch may have left mail
 * (first_fetch not "all", or the state's first_left record), given no
 * server action (imap_untouched): it may be mail the user chose to
 * leave, and at or below last_uid no later run acts on it. Only the
 * messages present at the change (up to the UID before UIDNEXT, or else
 * the highest UID the pass lists: the "matching" record's bound) are so
 * left: mail that arrives later, while the mark stays because a message
 * of the pass is missing, is new mail (imap_untouched_take).
 *
 * Gmail labels (X-GM-EXT-1): Gmail shows one message in the folder of
 * every label it has and in [Gmail]/All Mail, under one X-GM-MSGID. With
 * that capability the sizes pass asks for X-GM-MSGID and the Message-ID
 * header too, and a message whose X-GM-MSGID, RFC822.SIZE and Message-ID
 * together match one the account delivered before, from any folder, is
 * passed over like one delivered before (last_uid passes it) with no
 * server action. The X-GM-MSGID alone is not trusted: a buggy or hostile
 * server giving two different messages one X-GM-MSGID would lose the
 * second; a message without a Message-ID is never passed over, and the
 * entries logged before the size and Message-ID were (size 0, the
 * X-GM-MSGID alone) confirm nothing: their messages may arrive once
 * more: a duplicate at worst, never a loss. A message under several
 * labels is so delivered once, into the first folder fetched that holds
 * it (the configured order; patterns do not fetch All Mail, folder.h),
 * and its other copies stay on the server as they are, so
 * that keep = no or mark_read on one label never touches another. The
 * X-GM-MSGIDs delivered are appended to the msgids log under a folder
 * name no mailbox can have (IMAP_GM_FOLDER) once their batch is durable;
 * a crash in between, or two sessions (IDLE) fetching two labels of one
 * message at once, may deliver it a second time: a duplicate, never a
 * loss. */
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

/* Designated: a state added to the enum needs no place kept here. */
static const char *imap_state_names[IMAP_S_MAX] = {
	[IMAP_S_CONNECTING] = "CONNECTING",
	[IMAP_S_GREETING] = "GREETING",
	[IMAP_S_CAPABILITY] = "CAPABILITY",
	[IMAP_S_STARTTLS] = "STARTTLS",
	[IMAP_S_TLS] = "TLS",
	[IMAP_S_ID] = "ID",
	[IMAP_S_AUTH] = "AUTH",
	[IMAP_S_AUTH_CAPS] = "AUTH_CAPS",
	[IMAP_S_COMPRESS] = "COMPRESS",
	[IMAP_S_ENABLE] = "ENABLE",
	[IMAP_S_ROOT] = "ROOT",
	[IMAP_S_NAMESPACE] = "NAMESPACE",
	[IMAP_S_NSPROBE] = "NSPROBE",
	[IMAP_S_ROLES] = "ROLES",
	[IMAP_S_LIST] = "LIST",
	[IMAP_S_TRASH_STATUS] = "TRASH_STATUS",
	[IMAP_S_STATUS] = "STATUS",
	[IMAP_S_SELECT] = "SELECT",
	[IMAP_S_SEARCH] = "SEARCH",
	[IMAP_S_SIZES] = "SIZES",
	[IMAP_S_SEARCH_MISSING] = "SEARCH_MISSING",
	[IMAP_S_SEARCH_GONE] = "SEARCH_GONE",
	[IMAP_S_SIZES_TOP] = "SIZES_TOP",
	[IMAP_S_FETCH] = "FETCH",
	[IMAP_S_STORE] = "STORE",
	[IMAP_S_COPY] = "COPY",
	[IMAP_S_MOVE] = "MOVE",
	[IMAP_S_TRASH_CREATE] = "TRASH_CREATE",
	[IMAP_S_TRASH_BOUND] = "TRASH_BOUND",
	[IMAP_S_SEARCH_DELETED] = "SEARCH_DELETED",
	[IMAP_S_EXPUNGE] = "EXPUNGE",
	[IMAP_S_FLAGS] = "FLAGS",
	[IMAP_S_IDLE] = "IDLE",
	[IMAP_S_IDLING] = "IDLING",
	[IMAP_S_IDLE_DONE] = "IDLE_DONE",
	[IMAP_S_LOGOUT] = "LOGOUT",
	[IMAP_S_DONE] = "DONE",
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
	uint32_t		 first_top_seq;	/* its sequence number */
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

static void	imap_enter(struct imap_session *, enum imap_state);
static void	imap_next_folder(struct imap_session *);
static void	imap_fetch_next_batch(struct imap_session *);
static void	imap_actions(struct imap_session *);
static void	imap_folder_done(struct imap_session *);
static int	imap_flags_wanted(const struct imap_session *);
static void	imap_flags_map_batch(struct imap_session *);
static void	imap_relink_clear(struct imap_session *);
static void	imap_flags_highest(struct imap_session *,
		    const struct imap_response *);
static size_t	imap_msgs_cap(const struct imap_session *);
static size_t	imap_search_cap(const struct imap_session *);
static void	imap_msgs_dedup(struct imap_session *);
static void	imap_skip_drop(const struct imap_session *, struct uidset *);
static void	imap_suspect_nil_log(struct imap_session *);
static uint32_t	imap_uid_of_seq(const struct imap_session *);
static uint32_t	imap_uid_unanswered(const struct imap_session *);
static uint64_t	imap_fetch_size(const struct imap_response *);
static void	imap_list_next(struct imap_session *);
static void	imap_after_copy(struct imap_session *);
static int	imap_trash_bound_ask(struct imap_session *);
static void	imap_trash_bound_done(struct imap_session *, int);
static const char *imap_trash_name(struct imap_session *);
static void	imap_root_done(struct imap_session *);
static void	imap_gm_load(struct imap_session *);
static void	imap_finish(struct imap_session *);
static int	imap_idle_blocked(struct imap_session *);
static int	imap_search_over(struct imap_session *, const struct uidset *);
static int	imap_search_flush(struct imap_session *);
static int	imap_remote_skipped(struct imap_session *, const char *);
static void	imap_staged_log_id(struct imap_session *,
		    const struct imap_staged *);
static void	imap_suspect_never(struct imap_session *);
static uint32_t	imap_matching_owed(struct imap_session *, uint32_t);
static int	imap_budget_never(struct imap_session *, size_t, struct uidset *);
static void	imap_lists_begin(struct imap_session *);
static void	imap_lists_go(struct imap_session *);
static char	*imap_conf_local(struct imap_session *,
		    const struct folder_conf *);
static int	imap_roles_needed(const struct imap_session *);
static int	imap_conf_wanted(struct imap_session *,
		    const struct folder_conf *);

/* Records an outcome; the session's status is the worst one. */
static void
imap_status(struct imap_session *s, int status)
{
	if (s->status == EXIT_NOTHING_NEW || s->status == EXIT_NEW_MAIL)
		s->status = status;
}

/* Logs with the account (and folder) as context. */
static void printflike(3, 0)
imap_vlog(struct imap_session *s, enum log_level level, const char *fmt,
    va_list ap)
{
	char	*msg;

	if (vasprintf(&msg, fmt, ap) == -1)
		fatalx("imap: out of memory");
	log_msg(level, &s->ctx, "%s", msg);
	free(msg);
}

static void printflike(3, 4)
imap_log(struct imap_session *s, enum log_level level, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	imap_vlog(s, level, fmt, ap);
	va_end(ap);
}

/* The server's text, made safe for logs; caller frees. */
static char *
imap_server_text(const struct imap_response *r)
{
	const char	*t = r->text != NULL ? r->text : "";
	char		*clean, *out;

	clean = log_sanitize(t, strlen(t), 300);
	if (r->code_name != NULL)
		xasprintf(&out, "[%s] %s", r->code_name, clean);
	else
		out = xstrdup(clean);
	free(clean);
	return (out);
}

/* Ends the session after a failure: logs, records the status, and closes
 * the connection (politely when the protocol state allows). */
static void printflike(3, 4)
imap_fail(struct imap_session *s, int status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	imap_vlog(s, LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	imap_status(s, status);
	s->closing = 1;
	imap_enter(s, IMAP_S_DONE);
}

/* Sends one tagged command (printf-style, CRLF added). */
static void printflike(2, 3)
imap_send(struct imap_session *s, const char *fmt, ...)
{
	va_list	 ap;
	char	*cmd;
	size_t	 n;

	snprintf(s->tag, sizeof s->tag, "m%u", ++s->tagno);
	s->search_new = 0;
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) == -1)
		cmd = NULL;
	va_end(ap);
	if (cmd == NULL || conn_printf(s->conn, "%s %s\r\n", s->tag, cmd) != 0) {
		free(cmd);
		imap_fail(s, EXIT_NETWORK, "cannot send command: %s",
		    conn_error(s->conn) != NULL ? conn_error(s->conn) :
		    "out of memory");
		return;
	}
	s->cmd_open = 1;
	if (strncmp(cmd, "LOGIN ", 6) == 0 ||
	    strncmp(cmd, "AUTHENTICATE ", 13) == 0) {
		s->result.login_sent = 1;
		/* Only the command and its first argument (the user name or
		 * the mechanism): what follows is a secret. */
		n = strcspn(cmd, " ") + 1;
		n += strcspn(cmd + n, " ");
		log_msg(LOG_LVL_DEBUG, &s->ctx, "> %s %.*s ...", s->tag,
		    (int)n, cmd);
	} else
		log_msg(LOG_LVL_DEBUG, &s->ctx, "> %s %s", s->tag, cmd);
	free(cmd);
}

/* Whether the connection paces what comes now (conn.h): a started
 * response, and the whole answer to a command of ours until its tagged
 * completion, untagged lines included. Pacing only each response let a
 * server answer with "* OK still working" every few seconds and never
 * complete: every line restarted the inactivity timer (conn.h says how
 * whole data responses and progress notes count). In IDLE
 * untagged data is what we asked for, and the IDLE interval
 * (imap_idle_timer_cb) bounds it: DONE's answer is paced again. */
static int
imap_pace_inside(struct imap_session *s)
{
	if (!imap_parse_idle(s->parser))
		return (1);
	return (s->cmd_open && s->state != IMAP_S_IDLING);
}

/* The answer to the command is over (tagged completion, or IDLE's "+"):
 * its pacing window ends, so that the next command's answer gets a
 * window of its own (many quick small answers in a row are no
 * trickle). */
static void
imap_pace_end(struct imap_session *s)
{
	s->cmd_open = 0;
	conn_progress(s->conn, 0, 0);
}

/* Sends UID SEARCH with a fresh result set: only in the state it enters
 * is untagged SEARCH data taken (imap_search_untagged). */
static void
imap_search(struct imap_session *s, enum imap_state state, const char *key)
{
	uidset_clear(&s->unseen);
	imap_enter(s, state);
	imap_send(s, "UID SEARCH %s", key);
}

/* Quotes a mailbox name for a command; NULL (and the folder fails) when
 * it cannot be quoted. Caller frees. */
static char *
imap_quote(struct imap_session *s, const char *name)
{
	char	*q, *cause;

	if ((q = imap_parse_quote(name, strlen(name), &cause)) == NULL) {
		imap_log(s, LOG_LVL_ERROR, "cannot send mailbox name: %s",
		    cause);
		free(cause);
	}
	return (q);
}

static void
imap_caps_from(struct imap_session *s, const struct imap_response *r)
{
	s->caps = imap_parse_capabilities(r);
	s->caps_known = 1;
}

/*
 * Authentication.
 */

/* No secret (status and cause from secret_get_status or its job; frees
 * cause). EXIT_AUTH there means the OAuth2 provider refused the grant:
 * the owner shows "re-authorisation needed" until a login works again,
 * since no retry can fix it. */
static void
imap_secret_failed(struct imap_session *s, int status, char *cause)
{
	s->result.reauth = status == EXIT_AUTH;
	imap_fail(s, status, "%s", cause);
	free(cause);
}

/* Picks and sends the authentication command. */
static void
imap_auth_start(struct imap_session *s)
{
	const struct account_conf	*ac = s->ac;
	unsigned int			 want = ac->auth_mechs;
	char				*secret, *cause, *b64 = NULL, *qu, *qp;
	const char			*mech = NULL;
	int				 status;

	if (s->secret != NULL) {
		secret = s->secret;
		s->secret = NULL;
	} else if ((secret = secret_get_status(ac, &status, &cause)) ==
	    NULL) {
		imap_secret_failed(s, status, cause);
		return;
	}
	if (ac->token_command != NULL || ac->oauth2 != NULL) {
		if ((want == 0 || (want & AUTH_OAUTHBEARER)) &&
		    (s->caps & IMAP_CAP_AUTH_OAUTHBEARER)) {
			mech = "OAUTHBEARER";
			b64 = sasl_oauthbearer(ac->user, ac->host, ac->port,
			    secret);
		} else if ((want == 0 || (want & AUTH_XOAUTH2)) &&
		    (s->caps & IMAP_CAP_AUTH_XOAUTH2)) {
			mech = "XOAUTH2";
			b64 = sasl_xoauth2(ac->user, secret);
		}
	} else if ((want == 0 || (want & AUTH_PLAIN)) &&
	    (s->caps & IMAP_CAP_AUTH_PLAIN)) {
		mech = "PLAIN";
		b64 = sasl_plain(ac->user, secret);
	} else if ((want == 0 || (want & AUTH_LOGIN)) &&
	    !(s->caps & IMAP_CAP_LOGINDISABLED)) {
		qu = imap_parse_quote(ac->user, strlen(ac->user), &cause);
		qp = qu == NULL ? NULL :
		    imap_parse_quote(secret, strlen(secret), &cause);
		xfree_secret(secret);
		if (qp == NULL) {
			free(qu);
			imap_fail(s, EXIT_CONFIG, "cannot send the user name "
			    "or password with LOGIN: %s", cause);
			free(cause);
			return;
		}
		imap_send(s, "LOGIN %s %s", qu, qp);
		free(qu);
		xfree_secret(qp);
		return;
	}
	xfree_secret(secret);
	if (mech == NULL) {
		imap_fail(s, EXIT_AUTH, "no usable authentication mechanism: "
		    "the server offers none of those allowed%s",
		    s->caps & IMAP_CAP_LOGINDISABLED ? " (LOGINDISABLED)" : "");
		return;
	}
	if (s->caps & IMAP_CAP_SASL_IR) {
		s->sasl_ir_sent = 1;
		imap_send(s, "AUTHENTICATE %s %s", mech, b64);
	} else {
		/* Without SASL-IR the response waits for the server's "+". */
		s->sasl_ir_sent = 0;
		xfree_secret(s->sasl_pending);
		s->sasl_pending = b64;
		imap_send(s, "AUTHENTICATE %s", mech);
		return;
	}
	xfree_secret(b64);
}

/*
 * Folders.
 */

/* Whether two server (wire) names are one folder (folder_name_eq). */
static int
imap_wire_eq(const struct imap_session *s, const char *a, const char *b)
{
	return (folder_name_eq(a, b, s->delim));
}

/* Whether configured folder i is fetched by another session that this
 * one must give way to: in ONCE, a folder an IDLE session holds (left
 * out here); in IDLE, an IDLE folder configured before this session's
 * own, so that of two IDLE sessions the later configured folder is the
 * one refused, whichever session starts first. */
static int
imap_conf_rival(struct imap_session *s, size_t i)
{
	const struct folder_conf	*fc = &s->ac->folders[i];
	size_t				 j;

	if (fc->is_pattern)
		return (0);
	if (s->mode == IMAP_MODE_ONCE)
		return (!imap_conf_wanted(s, fc));
	for (j = 0; j < i; j++) {
		if (strcmp(s->ac->folders[j].remote, s->idle_folder) == 0)
			return (0);	/* this session's comes first */
	}
	return (fc->idle && strcmp(fc->remote, s->idle_folder) != 0);
}

/* The configured name of a folder another session holds
 * (imap_conf_rival) that delivers to local, or NULL: a folder mapping
 * there too would mix two server folders in one local folder with
 * neither session seeing the other. */
static const char *
imap_local_held(struct imap_session *s, const char *local)
{
	size_t	 i;
	char	*held;
	int	 same;

	for (i = 0; i < s->ac->nfolders; i++) {
		if (!imap_conf_rival(s, i) ||
		    (held = imap_conf_local(s, &s->ac->folders[i])) == NULL)
			continue;
		/* Local names separate with '/'; the held one is spelled
		 * as configured, the other as the server lists it. */
		same = folder_name_eq(held, local, '/');
		free(held);
		if (same)
			return (s->ac->folders[i].remote);
	}
	return (NULL);
}

/* IDLE: the configured name of an earlier IDLE folder (imap_conf_rival)
 * that is the server's folder remote too ("Spam" and '\Junk'), or NULL:
 * two IDLE sessions would fetch one folder side by side. (In ONCE, a
 * folder an IDLE session holds is passed over: imap_remote_skipped.) */
static const char *
imap_remote_held(struct imap_session *s, const char *remote)
{
	const struct folder_conf	*fc;
	size_t				 i;
	char				*wire, *cause;
	int				 same;

	for (i = 0; s->mode == IMAP_MODE_IDLE && i < s->ac->nfolders; i++) {
		fc = &s->ac->folders[i];
		if (!imap_conf_rival(s, i))
			continue;
		if (fc->role != FOLDER_ROLE_NONE)
			wire = s->role_wire[fc->role] == NULL ? NULL :
			    xstrdup(s->role_wire[fc->role]);
		else if ((wire = folder_ns_conf_to_wire(&s->ns,
		    folder_conf_unescape(fc->remote), s->delim,
		    &cause)) == NULL)
			free(cause);
		same = wire != NULL && imap_wire_eq(s, wire, remote);
		free(wire);
		if (same)
			return (fc->remote);
	}
	return (NULL);
}

/* The local folder a configured (not pattern) folder delivers to; a
 * role's, its resolved folder's (NULL when the server has none). Caller
 * frees. */
static char *
imap_conf_local(struct imap_session *s, const struct folder_conf *fc)
{
	const char	*wire;
	char		*utf8, *local;
	int		 bad;

	if (fc->role == FOLDER_ROLE_NONE || fc->local != NULL)
		return (xstrdup(config_folder_local(fc)));
	if ((wire = s->role_wire[fc->role]) == NULL)
		return (NULL);
	if (strcasecmp(wire, "INBOX") == 0)
		return (xstrdup(""));
	utf8 = folder_wire_to_utf8(wire, &bad);
	local = folder_local_name(utf8, s->role_delim[fc->role]);
	free(utf8);
	return (local);
}

/* Adds a resolved folder unless its remote name is there already; refuses
 * a local name that another folder already maps to, here or in an IDLE
 * session. */
static void
imap_folder_add(struct imap_session *s, const char *remote, int delim,
    const char *local_conf, const struct folder_conf *fc)
{
	char		*utf8, *local, *cause;
	const char	*held;
	size_t		 i;

	for (i = 0; i < s->nfolders; i++) {
		if (imap_wire_eq(s, s->folders[i].remote, remote))
			return;
	}
	if (imap_remote_skipped(s, remote))
		return;
	if ((utf8 = imap_parse_mutf7_decode(remote, strlen(remote),
	    &cause)) == NULL) {
		imap_log(s, LOG_LVL_WARNING, "%s; using the name as sent",
		    cause);
		free(cause);
		utf8 = log_sanitize(remote, strlen(remote), 200);
	}
	if ((held = imap_remote_held(s, remote)) != NULL) {
		imap_log(s, LOG_LVL_ERROR, "folders \"%s\" (held open with "
		    "IDLE) and \"%s\" are the same server folder \"%s\": not "
		    "fetched twice (drop one of them)", held, s->idle_folder,
		    utf8);
		s->result.folders_failed++;
		imap_status(s, EXIT_PARTIAL);
		free(utf8);
		return;
	}
	if (strcasecmp(remote, "INBOX") == 0 && local_conf == NULL)
		local = xstrdup("");
	else if (local_conf != NULL)
		local = xstrdup(local_conf);
	else if ((local = folder_local_name(utf8, delim)) == NULL) {
		imap_log(s, LOG_LVL_ERROR, "folder \"%s\": name too long for "
		    "a local folder; set local = \"...\" for it", utf8);
		s->result.folders_failed++;
		imap_status(s, EXIT_PARTIAL);
		free(utf8);
		return;
	}
	if ((held = imap_local_held(s, local)) != NULL) {
		imap_log(s, LOG_LVL_ERROR, "folders \"%s\" (held open with "
		    "IDLE) and \"%s\" would both be delivered to local folder "
		    "\"%s\"; skipping \"%s\" (set local = \"...\")", held, utf8,
		    local, utf8);
		s->result.folders_failed++;
		imap_status(s, EXIT_PARTIAL);
		free(utf8);
		free(local);
		return;
	}
	for (i = 0; i < s->nfolders; i++) {
		if (strcmp(s->folders[i].local, local) == 0) {
			imap_log(s, LOG_LVL_ERROR, "folders \"%s\" and \"%s\" "
			    "would both be delivered to local folder \"%s\"; "
			    "skipping \"%s\" (set local = \"...\")",
			    s->folders[i].display, utf8, local, utf8);
			s->result.folders_failed++;
			imap_status(s, EXIT_PARTIAL);
			free(utf8);
			free(local);
			return;
		}
	}
	s->folders = xreallocarray(s->folders, s->nfolders + 1,
	    sizeof *s->folders);
	s->folders[s->nfolders].remote = xstrdup(remote);
	s->folders[s->nfolders].display = utf8;
	s->folders[s->nfolders].local = local;
	s->folders[s->nfolders].mark_read = fc->mark_read;
	s->folders[s->nfolders].deliver = fc->deliver;
	s->nfolders++;
}

static void
imap_listed_clear(struct imap_session *s)
{
	size_t	i;

	for (i = 0; i < s->nlisted; i++)
		free(s->listed[i].name);
	free(s->listed);
	s->listed = NULL;
	s->nlisted = s->alisted = s->listed_bytes = 0;
}

/* Whether a configured folder is this session's: IDLE takes exactly its
 * folder, ONCE everything but the folders IDLE sessions hold. */
static int
imap_conf_wanted(struct imap_session *s, const struct folder_conf *fc)
{
	size_t	i;

	if (s->mode == IMAP_MODE_IDLE)
		return (strcmp(fc->remote, s->idle_folder) == 0);
	for (i = 0; i < s->nskip; i++) {
		if (strcmp(fc->remote, s->skip_conf[i]) == 0)
			return (0);
	}
	return (1);
}

/* Whether a server folder (a pattern's match, say) is held by an IDLE
 * session: fetching it here too would race that session. */
static int
imap_remote_skipped(struct imap_session *s, const char *remote)
{
	size_t	i;

	for (i = 0; i < s->nskip; i++) {
		if (s->skip_wire[i] != NULL &&
		    imap_wire_eq(s, remote, s->skip_wire[i]))
			return (1);
	}
	return (0);
}

/* Whether a server folder may be the trash: the same name
 * (imap_wire_eq), or one that differs only in ASCII case, since a
 * case-insensitive server (Exchange) opens and moves into "Deleted
 * Items" for a trash_folder spelled "deleted items" (review r11 12). On
 * a case-sensitive server two folders so alike are then both taken for
 * the trash: a refusal or a pass-over, never a doubling. */
static int
imap_trash_eq(const struct imap_session *s, const char *a, const char *b)
{
	return (imap_wire_eq(s, a, b) || strcasecmp(a, b) == 0);
}

/* Whether a server folder is where keep = no moves what it delivers:
 * fetching it would move its messages into itself (new UIDs) and deliver
 * them again on every run. */
static int
imap_is_own_trash(const struct imap_session *s, const char *remote)
{
	return (!s->ac->keep && s->trash_wire != NULL && !s->trash_default &&
	    imap_trash_eq(s, remote, s->trash_wire));
}

/* Whether keep = no moves the selected folder's delivered messages to
 * the trash. Not the server's own \Trash folder, fetched by name or
 * role: deleting there is what deleting means (the configured
 * trash_folder is refused instead, imap_own_trash_refused). */
static int
imap_moves_to_trash(const struct imap_session *s)
{
	return (s->trash_wire != NULL && !(s->trash_default &&
	    imap_trash_eq(s, s->folders[s->cur].remote, s->trash_wire)));
}

/* How messages name the trash: the default one is not a trash_folder the
 * user set (review r10 07). */
static const char *
imap_trash_what(const struct imap_session *s)
{
	return (s->trash_default ? "the server's \\Trash folder" :
	    "trash_folder");
}

/* A listed folder that is the trash_folder, with keep = no: a pattern
 * passes over it; a folder named is refused, naming both. */
static void
imap_own_trash_refused(struct imap_session *s,
    const struct folder_conf *fc, const char *remote)
{
	if (fc->is_pattern) {
		imap_log(s, LOG_LVL_DEBUG, "pattern \"%s\": not fetching %s "
		    "(the trash_folder, with keep = no)", fc->remote, remote);
		return;
	}
	imap_log(s, LOG_LVL_ERROR, "folder \"%s\" is the trash_folder \"%s\" "
	    "and keep = no: its messages would be moved into it again and "
	    "delivered on every run; not fetched (set another trash_folder, "
	    "or fetch it from an account with keep = yes)", fc->remote,
	    s->trash_name);
	s->result.folders_failed++;
	imap_status(s, EXIT_CONFIG);
}

/* Whether the session needs the server's special-use folders: a folder
 * configured by its role (one an IDLE session holds too: a pattern here
 * must pass over it); a pattern on a server with SPECIAL-USE, which may
 * mark \All, \Junk and \Trash only for LIST ... RETURN (SPECIAL-USE). */
static int
imap_roles_needed(const struct imap_session *s)
{
	size_t	i;

	for (i = 0; i < s->ac->nfolders; i++) {
		if (s->ac->folders[i].role != FOLDER_ROLE_NONE ||
		    (s->ac->folders[i].is_pattern &&
		    (s->caps & IMAP_CAP_SPECIAL_USE)))
			return (1);
	}
	if (s->ac->keep || s->ac->trash_none)
		return (0);
	if (s->ac->trash_folder == NULL)	/* the default: Gmail only */
		return ((s->caps & IMAP_CAP_XGM) != 0);
	return (folder_role_of_conf(s->ac->trash_folder) > FOLDER_ROLE_NONE);
}

/* trash_folder = '\Archive' (a role, folder.h): the server's folder of
 * that role. None: trash_wire stays NULL, so that keep = no fails each
 * folder and leaves its messages on the server (imap_actions). */
static void
imap_trash_role(struct imap_session *s, int role)
{
	const char	*wire = s->role_wire[role];
	int		 bad;

	if (wire == NULL) {
		imap_log(s, LOG_LVL_ERROR, "trash_folder \"%s\": the server "
		    "has no folder with this special-use role; delivered "
		    "messages stay on the server", s->ac->trash_folder);
		return;
	}
	s->trash_wire = xstrdup(wire);
	free(s->trash_name);
	s->trash_name = folder_wire_to_utf8(wire, &bad);
	imap_log(s, LOG_LVL_INFO, "trash_folder \"%s\" is the server's "
	    "\"%s\"", s->ac->trash_folder, s->trash_name);
}

/* keep = no: a trash_folder given by role is resolved; without a
 * trash_folder, on Gmail only (X-GM-EXT-1), the server's \Trash folder:
 * there deleting is moving to [Gmail]/Trash, as expunging from a label's
 * folder only takes that label off. Elsewhere \Deleted and EXPUNGE, as
 * fetchmail and getmail do: a default move filled quotas until the
 * server bounced new mail (a MOVE within one quota root is never
 * refused, so imap_trash_refused never fires) and could move mail into
 * a public folder others read (review r11 02, 05). Not a \Trash folder
 * the account fetches itself: what is moved there would be fetched and
 * delivered again (review r10 01). */
static void
imap_trash_resolve(struct imap_session *s)
{
	const char	*wire = s->role_wire[FOLDER_ROLE_TRASH];
	int		 bad, role;

	if (s->ac->keep || s->ac->trash_none)
		return;		/* trash_none: said by imap_root_done */
	if (s->ac->trash_folder != NULL) {
		if ((role = folder_role_of_conf(s->ac->trash_folder)) >
		    FOLDER_ROLE_NONE)
			imap_trash_role(s, role);
		return;
	}
	if (!(s->caps & IMAP_CAP_XGM)) {
		imap_log(s, LOG_LVL_DEBUG, "keep = no: delivered messages are "
		    "flagged \\Deleted and expunged (no trash_folder set)");
		return;
	}
	if (wire != NULL && folder_conf_fetches(s->ac->folders,
	    s->ac->nfolders, s->role_wire, &s->ns, s->delim, wire)) {
		s->trash_name = folder_wire_to_utf8(wire, &bad);
		imap_log(s, LOG_LVL_NOTICE, "keep = no: the server's \\Trash "
		    "folder \"%s\" is one of the folders this account fetches, "
		    "so delivered messages are not moved there but flagged "
		    "\\Deleted and expunged", s->trash_name);
		free(s->trash_name);
		s->trash_name = NULL;
		return;
	}
	if (wire != NULL) {
		s->trash_wire = xstrdup(wire);
		s->trash_name = folder_wire_to_utf8(wire, &bad);
		s->trash_default = 1;
		imap_log(s, LOG_LVL_INFO, "keep = no: delivered messages are "
		    "moved to the server's \\Trash folder \"%s\"",
		    s->trash_name);
		return;
	}
	imap_log(s, LOG_LVL_WARNING, "keep = no: %s; delivered messages "
	    "are flagged \\Deleted and expunged (on Gmail that only takes a "
	    "label off: set trash_folder = \"[Gmail]/Trash\" to delete)",
	    s->roles_failed ? "the server's \\Trash folder is not known" :
	    "the server has no \\Trash folder");
}

/* Before the special-use LIST of a login: nothing known yet. */
static void
imap_roles_clear(struct imap_session *s)
{
	int	role;

	for (role = 0; role < FOLDER_ROLE_MAX; role++) {
		free(s->role_wire[role]);
		s->role_wire[role] = NULL;
	}
	s->roles_plain = s->roles_failed = s->roles_overflow = 0;
	imap_listed_clear(s);
}

/* The LIST of every folder is in (s->listed, each with its roles): the
 * first selectable folder of each role is that role's. A server may give
 * one role to two folders (RFC 6154 allows it); the first listed is
 * taken, and the others named in the log. */
static void
imap_roles_resolve(struct imap_session *s)
{
	const struct imap_listed	*l;
	size_t				 i;
	int				 role;

	for (i = 0; i < s->nlisted; i++) {
		l = &s->listed[i];
		for (role = FOLDER_ROLE_NONE + 1; role < FOLDER_ROLE_MAX;
		    role++) {
			if (l->noselect || !(l->roles & (1u << role)))
				continue;
			if (!folder_ns_personal(&s->ns, l->name, l->delim)) {
				imap_log(s, LOG_LVL_DEBUG, "%s: \"%s\" is not "
				    "in the personal namespace: not taken",
				    folder_role_name(role), l->name);
				continue;
			}
			if (s->role_wire[role] != NULL) {
				imap_log(s, LOG_LVL_INFO, "%s: \"%s\" has "
				    "it too; using \"%s\"",
				    folder_role_name(role), l->name,
				    s->role_wire[role]);
				continue;
			}
			s->role_wire[role] = xstrdup(l->name);
			s->role_delim[role] = l->delim;
			imap_log(s, LOG_LVL_DEBUG, "special-use %s: \"%s\"",
			    folder_role_name(role), l->name);
		}
	}
	for (i = 0; i < s->nskip; i++) {
		role = folder_role_of_conf(s->skip_conf[i]);
		if (role > FOLDER_ROLE_NONE && s->role_wire[role] != NULL)
			s->skip_wire[i] = xstrdup(s->role_wire[role]);
	}
	imap_listed_clear(s);
	imap_trash_resolve(s);
}

/* A refusal that says nothing about the RETURN option: the server cannot
 * answer now. A plain LIST would not help: a server may mark the roles
 * only for RETURN (SPECIAL-USE), and the plain answer would then say
 * "no roles" where they are not known (review r11 06). */
static int
imap_roles_transient(const struct imap_response *r)
{
	return (r->code == IMAP_CODE_UNAVAILABLE ||
	    r->code == IMAP_CODE_SERVERBUG || r->code == IMAP_CODE_INUSE ||
	    r->code == IMAP_CODE_LIMIT);
}

/* The answer to the special-use LIST. A server that announces
 * SPECIAL-USE but refuses its RETURN option is asked again plainly
 * (most servers, and Gmail, send the attributes to a plain LIST). Any
 * other failure, an answer too long to hold among them, leaves the
 * roles unknown and the session goes on (review r10 12): keep = no's
 * default trash is then none (deleting), patterns go by their own
 * LIST's attributes, and only a folder configured by role fails
 * (imap_role_folder). */
static void
imap_roles_done(struct imap_session *s, const struct imap_response *r,
    int ok)
{
	char	*text;

	if (!ok && !s->roles_overflow && (s->caps & IMAP_CAP_SPECIAL_USE) &&
	    !s->roles_plain && !imap_roles_transient(r)) {
		s->roles_plain = 1;
		imap_listed_clear(s);
		imap_enter(s, IMAP_S_ROLES);
		return;
	}
	if (!ok || s->roles_overflow) {
		text = s->roles_overflow ? NULL : imap_server_text(r);
		imap_log(s, LOG_LVL_WARNING, "LIST of the special-use folders "
		    "%s%s; their roles are not known this session",
		    s->roles_overflow ? "named too many folders" : "refused: ",
		    s->roles_overflow ? "" : text);
		free(text);
		s->roles_failed = 1;
		imap_listed_clear(s);
	}
	imap_roles_resolve(s);
	imap_lists_begin(s);
}

/* A folder configured by its role: the server's folder of that role, or
 * an error naming the role (as for a folder that does not exist). */
static void
imap_role_folder(struct imap_session *s, const struct folder_conf *fc)
{
	const char	*wire = s->role_wire[fc->role];
	char		*utf8;
	int		 bad;

	if (wire == NULL) {
		imap_log(s, LOG_LVL_ERROR, "folder \"%s\": %s", fc->remote,
		    s->roles_failed ? "the LIST of the special-use folders "
		    "failed (see above), so the folder of this role is not "
		    "known" : "the server has no folder with this special-use "
		    "role (no folder in its LIST has the attribute; "
		    "mailfetchd --diagnose lists the roles it has)");
		s->result.folders_failed++;
		/* Not known is not missing (review r11 06: the daemon
		 * said the IDLE folder was not on the server). */
		s->result.folder_missing = !s->roles_failed;
		imap_status(s, EXIT_PARTIAL);
		return;
	}
	if (imap_is_own_trash(s, wire)) {
		imap_own_trash_refused(s, fc, wire);
		return;
	}
	utf8 = folder_wire_to_utf8(wire, &bad);
	imap_log(s, LOG_LVL_INFO, "folder \"%s\" is the server's \"%s\"",
	    fc->remote, utf8);
	free(utf8);
	imap_folder_add(s, wire, s->role_delim[fc->role], fc->local, fc);
}

/* Configured name i: the folders, then the trash_folder; NULL past
 * them, "" for one that is not a name (a role). */
static const char *
imap_conf_name(const struct imap_session *s, size_t i)
{
	const char	*conf;

	if (i < s->ac->nfolders)
		conf = s->ac->folders[i].remote;
	else if (i == s->ac->nfolders && s->ac->trash_folder != NULL)
		conf = s->ac->trash_folder;
	else
		return (NULL);
	return (folder_role_of_conf(conf) == FOLDER_ROLE_NONE ?
	    folder_conf_unescape(conf) : "");
}

/* The NAMESPACE answer: namespaces, or, when it could not be read or
 * had namespaces left out, fail closed for the roles (review r11 07,
 * 09): said once, since the roles then come only from top-level folders
 * and those under a personal prefix. */
static void
imap_ns_answer(struct imap_session *s, const struct imap_response *r)
{
	folder_ns_parse(&s->ns, r);
	if (r->skipped != NULL)
		imap_log(s, LOG_LVL_WARNING, "NAMESPACE answer passed over "
		    "(%s): the namespaces are not known this session; "
		    "special-use roles are taken only from top-level "
		    "folders", r->skipped);
	else if (s->ns.partial)
		imap_log(s, LOG_LVL_WARNING, "NAMESPACE answer: some "
		    "namespaces left out (more than %d, or a prefix that is "
		    "not modified UTF-7 or too long); special-use roles are "
		    "taken only from top-level folders and those under a "
		    "personal prefix", FOLDER_NS_MAX);
}

/* Without NAMESPACE: LIST "" "#shared" for the next other namespace a
 * configured name is in (folder_ns_guess) and not asked about yet; then
 * the folders. */
static void
imap_ns_probe_next(struct imap_session *s)
{
	const char	*conf;
	char		*prefix, *wire, *q, *cause;

	while ((conf = imap_conf_name(s, s->ns_idx++)) != NULL) {
		if ((prefix = folder_ns_guess(conf)) == NULL)
			continue;
		if (folder_ns_has(&s->ns, prefix) ||
		    (wire = folder_conf_to_wire(prefix, 0, &cause)) == NULL) {
			free(prefix);
			continue;	/* a bad name fails where it is used */
		}
		if ((q = imap_quote(s, wire)) == NULL) {
			free(prefix);
			free(wire);
			continue;
		}
		free(s->ns_probe);
		free(s->ns_probe_wire);
		s->ns_probe = prefix;
		s->ns_probe_wire = wire;
		s->ns_probe_delim = -1;
		s->ns_probe_wild = 0;
		imap_enter(s, IMAP_S_NSPROBE);
		imap_send(s, "LIST \"\" %s", q);
		free(q);
		return;
	}
	imap_root_done(s);
}

/* Whether a LIST answer names the probed prefix: "#shared", or its root
 * "#shared/" with the separator after it; to LIST "" "#shared*", any
 * folder under it ("#shared/team"). The first answer counts. */
static int
imap_ns_probe_answer(const struct imap_session *s, const char *mailbox,
    int delim)
{
	size_t	len = strlen(s->ns_probe_wire);

	if (s->ns_probe_delim >= 0 ||
	    strncmp(mailbox, s->ns_probe_wire, len) != 0)
		return (0);
	if (mailbox[len] == '\0')
		return (!s->ns_probe_wild);
	return (delim != 0 && (unsigned char)mailbox[len] == delim &&
	    (s->ns_probe_wild || mailbox[len + 1] == '\0'));
}

/* The LIST of a probed prefix is answered: its separator; no answer,
 * LIST "" "#shared*" once (a server that lists the folders of a
 * namespace but not its prefix); still none, the LIST "" "" one. Noted
 * either way, so that it is asked once. */
static void
imap_ns_probe_done(struct imap_session *s)
{
	int	delim = s->ns_probe_delim;
	char	*pat, *q;

	if (delim < 0 && !s->ns_probe_wild) {
		s->ns_probe_wild = 1;
		xasprintf(&pat, "%s*", s->ns_probe_wire);
		q = imap_quote(s, pat);
		free(pat);
		if (q != NULL) {
			imap_send(s, "LIST \"\" %s", q);
			free(q);
			return;
		}
	}
	if (delim < 0)
		delim = s->delim;
	else
		imap_log(s, LOG_LVL_DEBUG, "namespace \"%s\": separator "
		    "%s%c%s", s->ns_probe, delim != 0 ? "'" : "none",
		    delim != 0 ? delim : ' ', delim != 0 ? "'" : "");
	folder_ns_set(&s->ns, s->ns_probe, delim);
	imap_ns_probe_next(s);
}

/* LIST "" "" is answered: the namespaces next (NAMESPACE where the
 * server has it, else LIST per other namespace), then the folders. */
static void
imap_root_answered(struct imap_session *s)
{
	folder_ns_clear(&s->ns);
	s->ns_idx = 0;
	if (s->caps & IMAP_CAP_NAMESPACE) {
		imap_enter(s, IMAP_S_NAMESPACE);
		return;
	}
	imap_ns_probe_next(s);
}

/* The configured names the session compares or sends whole, as the
 * server spells them now that its separator is known. One that cannot be
 * spelled (not UTF-8) stays NULL: its folder fails where it is used. */
static void
imap_root_done(struct imap_session *s)
{
	char	*cause;
	size_t	 i;

	log_msg(LOG_LVL_DEBUG, &s->ctx, "hierarchy separator: %s%c%s",
	    s->delim != 0 ? "'" : "none", s->delim != 0 ? s->delim : ' ',
	    s->delim != 0 ? "'" : "");
	for (i = 0; i < s->nskip; i++) {
		free(s->skip_wire[i]);
		s->skip_wire[i] = NULL;
		if (folder_role_of_conf(s->skip_conf[i]) == FOLDER_ROLE_NONE &&
		    (s->skip_wire[i] = folder_ns_conf_to_wire(&s->ns,
		    folder_conf_unescape(s->skip_conf[i]), s->delim,
		    &cause)) == NULL)
			free(cause);
	}
	free(s->trash_wire);
	free(s->trash_name);
	s->trash_wire = s->trash_name = NULL;
	s->trash_default = 0;
	if (s->ac->trash_folder != NULL) {
		s->trash_name = xstrdup(s->ac->trash_folder);
		if (folder_role_of_conf(s->ac->trash_folder) ==
		    FOLDER_ROLE_NONE && (s->trash_wire = folder_ns_conf_to_wire(
		    &s->ns, folder_conf_unescape(s->ac->trash_folder),
		    s->delim, &cause)) == NULL) {
			imap_log(s, LOG_LVL_ERROR, "trash_folder: %s", cause);
			free(cause);
		}
	}
	if (!s->ac->keep && s->ac->trash_none)
		imap_log(s, LOG_LVL_INFO, "keep = no, trash_folder = \"\": "
		    "delivered messages are flagged \\Deleted and expunged");
	imap_gm_load(s);
	if (imap_roles_needed(s)) {
		imap_roles_clear(s);
		imap_enter(s, IMAP_S_ROLES);
		return;
	}
	imap_lists_begin(s);
}

/* The trash's folder record: named as the server spells it, or in
 * another ASCII case, which the refusal (imap_trash_eq) and
 * state_trashed_has take for the trash too (review r26 16); NULL when it
 * was never fetched. */
static struct state_folder *
imap_trash_record(struct imap_session *s)
{
	struct state_folder	*sf;
	size_t			 i;

	if (s->ac->keep || s->trash_wire == NULL)
		return (NULL);
	if ((sf = state_folder_get(s->st, s->trash_wire, 0)) != NULL)
		return (sf);
	for (i = 0; i < state_folder_count(s->st); i++) {
		sf = state_folder_at(s->st, i);
		if (imap_trash_eq(s, sf->name, s->trash_wire))
			return (sf);
	}
	return (NULL);
}

/* keep = no: a trash fetched before (a named folder that got the \Trash
 * role, or trash_folder edited to name it) is fetched again, once it
 * stops being the trash, without what keep = no may have moved there
 * meanwhile: that was delivered (review r18 04). Only that: what it held
 * before it became the trash, not fetched yet, is still owed (review r24
 * 03). Returns its record when it becomes the trash now: fetched before,
 * not marked yet (first_until UINT32_MAX, "new": imap_trash_mark), and
 * not in a pass that is not through (an unseen first fetch, a matching
 * after a UIDVALIDITY change: the mail it still owes would be passed
 * over; a duplicate is better than a loss). */
static struct state_folder *
imap_trash_becomes(struct imap_session *s)
{
	struct state_folder	*sf;

	if ((sf = imap_trash_record(s)) == NULL ||
	    sf->uidvalidity == 0 || sf->matching)
		return (NULL);
	if (sf->first_until != 0 && (sf->first_mode != STATE_FIRST_NEW ||
	    sf->first_until == UINT32_MAX))
		return (NULL);
	return (sf);
}

/* The folder becomes the trash with uidnext its UIDNEXT, before anything
 * is moved there (the state is saved before any server action): what it
 * holds below that and was not fetched (above last_uid, or above a "new"
 * filter's bound still held) joins its missing set, asked for again once
 * it is no longer the trash; last_uid goes to the bound; the mark makes
 * the "new" filter cover, at its next SELECT as a fetched folder, all
 * above it up to what it holds then (imap_trash_resume_bound). */
static int
imap_trash_mark(struct imap_session *s, struct state_folder *sf,
    uint32_t uidnext)
{
	struct uidset	missing;
	uint32_t	lo = sf->last_uid;
	int		bad;
	char		*text, *utf8;

	if (sf->first_until > lo)
		lo = sf->first_until;
	uidset_init(&missing);
	if (sf->missing != NULL && uidset_parse(&missing, sf->missing) != 0) {
		uidset_clear(&missing);
		return (-1);
	}
	if (uidnext - 1 > lo) {
		uidset_add_range(&missing, lo + 1, uidnext - 1);
		text = uidset_format(&missing, NULL, 0);
		state_folder_set_missing(sf, text);
		free(text);
		utf8 = folder_wire_to_utf8(s->trash_wire, &bad);
		imap_log(s, LOG_LVL_INFO, "keep = no: the trash \"%s\" was "
		    "fetched as a folder before: UIDs %u to %u, there before "
		    "it became the trash, are fetched once it is no longer the "
		    "trash; what arrives from now on is not", utf8, lo + 1,
		    uidnext - 1);
		free(utf8);
	}
	uidset_clear(&missing);
	if (uidnext - 1 > sf->last_uid)
		sf->last_uid = uidnext - 1;
	sf->first_until = UINT32_MAX;
	if (sf->first_mode != STATE_FIRST_NEW) {
		sf->first_mode = STATE_FIRST_NEW;
		sf->first_time = (long long)time(NULL);
	}
	return (0);
}

/* The name the trash's STATUS asks for: its folder record's, as the
 * folder was fetched (a trash_folder in another case names the same
 * folder on a case-insensitive server). */
static const char *
imap_trash_name(struct imap_session *s)
{
	struct state_folder	*sf = imap_trash_record(s);

	return (sf != NULL ? sf->name : s->trash_wire);
}

/* The trash's record when it is marked (imap_trash_mark): its last_uid
 * is then the bound of what keep = no may have moved there, raised
 * after each move (imap_trash_bound_done). */
static struct state_folder *
imap_trash_marked(struct imap_session *s)
{
	struct state_folder	*sf = imap_trash_record(s);

	if (sf == NULL || sf->uidvalidity == 0 ||
	    sf->first_until != UINT32_MAX ||
	    sf->first_mode != STATE_FIRST_NEW)
		return (NULL);
	return (sf);
}

/* After a MOVE or COPY into a marked trash: its STATUS, so that the bound
 * covers what was just moved there (review r26 02). 1 when asked. */
static int
imap_trash_bound_ask(struct imap_session *s)
{
	char	*q;

	if (imap_trash_marked(s) == NULL ||
	    (q = imap_quote(s, imap_trash_name(s))) == NULL)
		return (0);
	s->st_uidvalidity = s->st_uidnext = s->st_messages = 0;
	s->trash_bound_copy = s->state == IMAP_S_COPY;
	imap_enter(s, IMAP_S_TRASH_BOUND);
	imap_send(s, "STATUS %s (UIDNEXT UIDVALIDITY)", q);
	free(q);
	return (1);
}

/* The STATUS after a move into the marked trash answered: its UIDNEXT
 * raises the bound (last_uid). Without it what was just moved lies above
 * the bound: once the folder is no longer the trash it is delivered
 * again, a duplicate rather than a loss. Then on with the slice. */
static void
imap_trash_bound_done(struct imap_session *s, int ok)
{
	struct state_folder	*sf = imap_trash_marked(s);

	if (sf != NULL && ok && s->st_uidvalidity == sf->uidvalidity &&
	    s->st_uidnext > 0 && s->st_uidnext <= UINT32_MAX) {
		if (s->st_uidnext - 1 > sf->last_uid)
			sf->last_uid = (uint32_t)(s->st_uidnext - 1);
	} else if (sf != NULL)
		imap_log(s, LOG_LVL_WARNING, "keep = no: the trash \"%s\" "
		    "(fetched as a folder before) gives no UIDNEXT of the "
		    "UIDVALIDITY fetched after messages were moved there: "
		    "once it is no longer the trash they may be delivered "
		    "again (a duplicate rather than a loss)", s->trash_name);
	s->st_uidvalidity = s->st_uidnext = s->st_messages = 0;
	if (s->trash_bound_copy)
		imap_after_copy(s);
	else
		imap_actions(s);
}

/* STATUS of a fetched folder that becomes the trash (imap_trash_becomes)
 * answered: its UIDNEXT bounds what keep = no may move there. Without it
 * (refused, no UIDNEXT, another UIDVALIDITY) nothing tells what it held
 * before from what is moved there: it is not marked, and once it is no
 * longer the trash it is fetched from where it was (a duplicate rather
 * than a loss); asked again next session. */
static void
imap_trash_status_done(struct imap_session *s, int ok)
{
	struct state_folder	*sf = imap_trash_becomes(s);
	int			 bad;
	char			*utf8;

	if (sf != NULL && (!ok || s->st_uidvalidity != sf->uidvalidity ||
	    s->st_uidnext == 0 || s->st_uidnext > UINT32_MAX ||
	    imap_trash_mark(s, sf, (uint32_t)s->st_uidnext) != 0)) {
		utf8 = folder_wire_to_utf8(s->trash_wire, &bad);
		imap_log(s, LOG_LVL_WARNING, "keep = no: the trash \"%s\" was "
		    "fetched as a folder before, and its STATUS gives no "
		    "UIDNEXT of the UIDVALIDITY fetched: what it held before "
		    "cannot be told from what is moved there now; once it is "
		    "no longer the trash it is fetched from where it was, and "
		    "what was moved there may be delivered again (a duplicate "
		    "rather than a loss)", utf8);
		free(utf8);
	}
	s->st_uidvalidity = s->st_uidnext = s->st_messages = 0;
	imap_lists_go(s);
}

/* keep = no: the trash is remembered in the account's state before
 * anything is moved there (the state is saved before any server action),
 * so that a folder pattern never fetches it, also once the server gives
 * the \Trash role to another folder or does not say this run (review
 * r11 01). */
static void
imap_trash_remember(struct imap_session *s)
{
	int	bad;
	char	*utf8;

	if (s->ac->keep || s->trash_wire == NULL ||
	    state_trashed_add(s->st, s->trash_wire) != 1)
		return;
	utf8 = folder_wire_to_utf8(s->trash_wire, &bad);
	imap_log(s, LOG_LVL_DEBUG, "keep = no: \"%s\" is remembered as a "
	    "trash folder: folder patterns never fetch it", utf8);
	free(utf8);
}

/* The trash and the roles are known: a fetched folder that becomes the
 * trash has its UIDNEXT asked first (imap_trash_status_done), then the
 * configured folders' LISTs. */
static void
imap_lists_begin(struct imap_session *s)
{
	char	*q;

	if (imap_trash_becomes(s) == NULL ||
	    (q = imap_quote(s, imap_trash_name(s))) == NULL) {
		imap_lists_go(s);
		return;
	}
	s->st_uidvalidity = s->st_uidnext = s->st_messages = 0;
	imap_enter(s, IMAP_S_TRASH_STATUS);
	imap_send(s, "STATUS %s (UIDNEXT UIDVALIDITY)", q);
	free(q);
}

/* The configured folders' LISTs. */
static void
imap_lists_go(struct imap_session *s)
{
	imap_trash_remember(s);
	s->conf_idx = 0;
	imap_list_next(s);
}

/* LIST for the next configured folder, or on to the first folder. */
static void
imap_list_next(struct imap_session *s)
{
	const struct folder_conf	*fc;
	char				*m, *q, *cause = NULL;

	for (; s->conf_idx < s->ac->nfolders; s->conf_idx++) {
		fc = &s->ac->folders[s->conf_idx];
		if (!imap_conf_wanted(s, fc))
			continue;
		if (fc->role != FOLDER_ROLE_NONE) {
			imap_role_folder(s, fc);
			continue;
		}
		if ((m = folder_ns_conf_to_wire(&s->ns,
		    folder_conf_unescape(fc->remote), s->delim,
		    &cause)) == NULL) {
			imap_log(s, LOG_LVL_ERROR, "folder \"%s\": %s",
			    fc->remote, cause);
			free(cause);
			s->result.folders_failed++;
			imap_status(s, EXIT_CONFIG);
			continue;
		}
		q = imap_quote(s, m);
		free(m);
		if (q == NULL) {
			s->result.folders_failed++;
			imap_status(s, EXIT_CONFIG);
			continue;
		}
		imap_listed_clear(s);
		imap_enter(s, IMAP_S_LIST);
		imap_send(s, "LIST \"\" %s", q);
		free(q);
		return;
	}
	s->cur = 0;
	imap_next_folder(s);
}

/* Why a folder the LIST of configured folder fc gave is not fetched
 * this run, NULL when it is: with the roles not known this session
 * (imap_roles_done), a pattern's folder may be the \All, \Junk or
 * \Trash folder it passes over, and any folder the one an IDLE
 * connection holds by its role: fetched here too, its messages would be
 * delivered twice (review r11 01, 06). Fail closed for this run; never
 * INBOX. */
static const char *
imap_roles_doubt(const struct imap_session *s, const struct folder_conf *fc,
    const char *remote)
{
	size_t	i;

	if (!s->roles_failed || strcasecmp(remote, "INBOX") == 0)
		return (NULL);
	if (fc->is_pattern)
		return ("any of them may be the \\All, \\Junk or \\Trash "
		    "folder, which patterns do not fetch");
	for (i = 0; i < s->nskip; i++) {
		if (folder_role_of_conf(s->skip_conf[i]) > FOLDER_ROLE_NONE)
			return ("it may be the folder an IDLE connection "
			    "holds by its role");
	}
	return (NULL);
}

/* The folders imap_roles_doubt kept back for fc: one error for them. */
static void
imap_roles_doubt_log(struct imap_session *s, const struct folder_conf *fc,
    size_t n, const char *why)
{
	imap_log(s, LOG_LVL_ERROR, "folder \"%s\": %zu folder(s) not "
	    "fetched this run: the special-use roles are not known this "
	    "session (see above), and %s; they are fetched once the roles "
	    "are known", fc->remote, n, why);
	s->result.folders_failed++;
	imap_status(s, EXIT_PARTIAL);
}

/* A folder mailfetchd moved delivered mail into as the trash, in this or
 * an earlier run (imap_trash_remember): a pattern's match not fetched.
 * Unless the pattern fetched it before it became the trash and it still
 * owes mail (review r26 12): marked (imap_trash_mark), or its "new" pass
 * since not through; what was moved there lies under its bound
 * (imap_trash_resume_bound), what it held before is in its missing set. */
static const char *
imap_was_trash(const struct imap_session *s, const char *remote)
{
	const struct state_folder	*sf;

	if (!state_trashed_has(s->st, remote))
		return (NULL);
	if ((sf = state_folder_get(s->st, remote, 0)) != NULL &&
	    sf->uidvalidity != 0 && !sf->matching &&
	    sf->first_mode == STATE_FIRST_NEW && sf->first_until != 0)
		return (NULL);
	return ("mailfetchd moved delivered messages there as the trash");
}

/* The LIST answers for configured folder conf_idx are in: resolve it. */
static void
imap_list_done(struct imap_session *s)
{
	const struct folder_conf	*fc = &s->ac->folders[s->conf_idx];
	const struct imap_listed	*l;
	size_t				 i, found = 0, excluded = 0, doubt = 0;
	char				*hint;
	const char			*why, *doubt_why = NULL;

	for (i = 0; i < s->nlisted; i++) {
		l = &s->listed[i];
		if (l->noselect)
			continue;
		if (imap_is_own_trash(s, l->name)) {
			imap_own_trash_refused(s, fc, l->name);
			excluded++;
			continue;
		}
		if ((why = imap_roles_doubt(s, fc, l->name)) != NULL) {
			doubt_why = why;
			doubt++;
			continue;
		}
		if (fc->is_pattern && ((why = l->excluded) != NULL ||
		    (why = folder_role_excluded(s->role_wire,
		    l->name)) != NULL || (why = imap_was_trash(s,
		    l->name)) != NULL)) {
			/* Gmail's All Mail would deliver every message a
			 * second time; spam and trash are not mail to keep. */
			imap_log(s, LOG_LVL_DEBUG, "pattern \"%s\": not "
			    "fetching %s (%s); name it to fetch it",
			    fc->remote, l->name, why);
			excluded++;
			continue;
		}
		found++;
		imap_folder_add(s, l->name, l->delim,
		    fc->is_pattern ? NULL : fc->local, fc);
	}
	if (doubt > 0)
		imap_roles_doubt_log(s, fc, doubt, doubt_why);
	if (found == 0 && excluded > 0 && fc->is_pattern)
		imap_log(s, LOG_LVL_NOTICE, "pattern \"%s\" matches only "
		    "\\All, \\Junk or \\Trash folders, or the trash_folder, "
		    "which patterns do not fetch; name a folder to fetch it",
		    fc->remote);
	else if (found == 0 && excluded == 0 && doubt == 0) {
		hint = folder_conf_mutf7_hint(fc->remote);
		imap_log(s, LOG_LVL_ERROR, "folder \"%s\" %s on the "
		    "server%s%s%s", fc->remote, fc->is_pattern ? "matches no "
		    "selectable folder" : "does not exist (or cannot be "
		    "selected)", hint == NULL ? "" : "; folder names are "
		    "UTF-8: if this one is modified UTF-7, write \"",
		    hint == NULL ? "" : hint, hint == NULL ? "" : "\"");
		free(hint);
		s->result.folders_failed++;
		s->result.folder_missing = 1;
		imap_status(s, EXIT_PARTIAL);
	}
	s->conf_idx++;
	imap_list_next(s);
}

/* An untagged LIST: remember it. The same name as the line before is a
 * repeat (dropped: a server may send one without end); past
 * IMAP_LISTED_MAX names or IMAP_LISTED_BYTES the answer is refused. */
static void
imap_list_untagged(struct imap_session *s, const struct imap_response *r)
{
	struct imap_listed	*l;

	if (r->mailbox == NULL || (s->nlisted > 0 &&
	    strcmp(s->listed[s->nlisted - 1].name, r->mailbox) == 0) ||
	    (s->roles_overflow && s->state == IMAP_S_ROLES))
		return;
	s->listed_bytes += strlen(r->mailbox) + 1;
	if (s->state == IMAP_S_ROLES && (s->nlisted >= IMAP_LISTED_MAX ||
	    s->listed_bytes > IMAP_LISTED_BYTES)) {
		/* Only for the roles: not worth the session. */
		s->roles_overflow = 1;
		imap_listed_clear(s);
		return;
	}
	if (s->nlisted >= IMAP_LISTED_MAX ||
	    s->listed_bytes > IMAP_LISTED_BYTES) {
		imap_fail(s, EXIT_PROTOCOL, "the answer to LIST names more "
		    "than %d folders or %d MiB of names: refusing it",
		    IMAP_LISTED_MAX, IMAP_LISTED_BYTES / (1024 * 1024));
		return;
	}
	if (s->nlisted == s->alisted) {
		s->alisted = s->alisted == 0 ? 16 : s->alisted * 2;
		s->listed = xreallocarray(s->listed, s->alisted,
		    sizeof *s->listed);
	}
	l = &s->listed[s->nlisted++];
	l->name = xstrdup(r->mailbox);
	l->delim = r->delim;
	l->noselect = r->flags != NULL &&
	    (imap_parse_list_has(r->flags, "\\Noselect") ||
	    imap_parse_list_has(r->flags, "\\NonExistent"));
	l->excluded = folder_pattern_excluded(r->flags);
	l->roles = folder_roles_of(r->flags);
	s->pace_new = 1;	/* progress for the pacing */
}

/*
 * One folder: SELECT, what is new, fetch in batches, actions.
 */

static void
imap_staged_clear(struct imap_session *s)
{
	size_t	i;

	for (i = 0; i < s->nstaged; i++) {
		free(s->staged[i].final);
		free(s->staged[i].msgid);
	}
	free(s->staged);
	s->staged = NULL;
	s->nstaged = 0;
}

/* The batch's recognised messages to give UID map lines. */
static void
imap_relink_clear(struct imap_session *s)
{
	free(s->relink_uids);
	free(s->relink_digests);
	s->relink_uids = NULL;
	s->relink_digests = NULL;
	s->nrelink = 0;
}

static void
imap_folder_reset(struct imap_session *s)
{
	maildir_close(s->md);
	s->md = NULL;
	s->sf = NULL;
	imap_flags_sync_free(s->fsync);
	s->fsync = NULL;
	s->highestmodseq = 0;
	s->flags_done = 0;
	uidset_clear(&s->unseen);
	uidset_clear(&s->batch);
	uidset_clear(&s->answered);
	uidset_clear(&s->delivered);
	uidset_clear(&s->passed);
	uidset_clear(&s->recognised);
	uidset_clear(&s->ambiguous);
	uidset_clear(&s->pending);
	uidset_clear(&s->missing);
	uidset_clear(&s->queried);
	uidset_clear(&s->found);
	uidset_clear(&s->unsized);
	imap_suspect_nil_log(s);	/* a session ended in the pass */
	uidset_clear(&s->suspect);
	s->suspect_pass = 0;
	uidset_clear(&s->skip);
	msgids_set_clear(&s->known);
	s->suspect_known = 0;
	uidset_clear(&s->verify);
	imap_staged_clear(s);
	imap_relink_clear(s);
	s->uidv_changed = 0;
	s->untouched = 0;
	s->unseen_searched = 0;
	free(s->msgs);
	s->msgs = NULL;
	s->nmsgs = s->amsgs = s->next_msg = 0;
	s->uidvalidity = s->uidnext = s->exists = s->select_exists = 0;
	s->st_uidvalidity = s->st_uidnext = s->st_messages = 0;
	s->max_seen_uid = 0;
	s->sized = 0;
	s->folder_failed = 0;
	s->f_msgs = 0;
	s->f_bytes = 0;
	s->f_down = 0;
	s->ctx.folder = NULL;
}

/* Whether a polled folder may be checked with STATUS first: it was
 * fetched before (UIDVALIDITY known) and nothing is owed to it (no
 * journal entries to recover, no server actions pending), so that an
 * unchanged UIDNEXT means there is nothing to do. IDLE sessions select
 * their folder anyway. */
static int
imap_status_first(struct imap_session *s, const struct imap_folder *f)
{
	const struct state_folder	*sf;
	const struct state_inflight	*e;
	size_t				 i;

	/* An unchanged UIDNEXT says nothing of flags. */
	if (s->mode != IMAP_MODE_ONCE || imap_flags_wanted(s))
		return (0);
	sf = state_folder_get(s->st, f->remote, 0);
	if (sf == NULL || sf->uidvalidity == 0 || sf->matching ||
	    sf->first_until != 0)
		return (0);
	if (sf->pending != NULL && *sf->pending != '\0')
		return (0);
	if (sf->missing != NULL && *sf->missing != '\0')
		return (0);
	if (sf->suspect != NULL)
		return (0);
	for (i = 0; (e = state_inflight_at(s->st, i)) != NULL; i++) {
		if (strcmp(e->folder, f->remote) == 0)
			return (0);
	}
	return (1);
}

/* Selects folder s->cur (read-only unless the server must be changed
 * afterwards). */
static void
imap_select(struct imap_session *s)
{
	struct imap_folder	*f = &s->folders[s->cur];
	char			*q;
	int			 rw;

	if ((q = imap_quote(s, f->remote)) == NULL) {
		s->result.folders_failed++;
		imap_status(s, EXIT_PARTIAL);
		s->cur++;
		imap_next_folder(s);
		return;
	}
	rw = f->mark_read || !s->ac->keep;
	imap_enter(s, IMAP_S_SELECT);
	imap_send(s, "%s %s", rw ? "SELECT" : "EXAMINE", q);
	free(q);
}

/* Starts folder s->cur: STATUS when that can spare the SELECT, else
 * SELECT; logs out after the last folder. */
static void
imap_next_folder(struct imap_session *s)
{
	struct imap_folder	*f;
	char			*q;

	imap_folder_reset(s);
	if (s->cur >= s->nfolders || s->stopping) {
		imap_enter(s, IMAP_S_LOGOUT);
		return;
	}
	f = &s->folders[s->cur];
	s->ctx.folder = f->display;
	clock_gettime(CLOCK_MONOTONIC, &s->f_start);
	if (!imap_status_first(s, f) ||
	    (q = imap_quote(s, f->remote)) == NULL) {
		imap_select(s);
		return;
	}
	imap_enter(s, IMAP_S_STATUS);
	imap_send(s, "STATUS %s (UIDNEXT UIDVALIDITY MESSAGES)", q);
	free(q);
}

/* An untagged STATUS for the folder asked about (remote): remember its
 * items. */
static void
imap_status_untagged(struct imap_session *s, const struct imap_response *r,
    const char *remote)
{
	uint64_t	 v;

	if (r->mailbox == NULL || !imap_wire_eq(s, r->mailbox, remote))
		return;
	if (imap_parse_status_item(r, "UIDVALIDITY", &v) == 0)
		s->st_uidvalidity = v;
	if (imap_parse_status_item(r, "UIDNEXT", &v) == 0)
		s->st_uidnext = v;
	if (imap_parse_status_item(r, "MESSAGES", &v) == 0)
		s->st_messages = v;
}

/* STATUS answered: the folder is done when nothing can be new (same
 * UIDVALIDITY, UIDNEXT not past what was delivered); anything else, a
 * refusal or a missing item included, is for SELECT to find out. */
static void
imap_status_done(struct imap_session *s, int ok)
{
	const struct state_folder	*sf;

	sf = state_folder_get(s->st, s->folders[s->cur].remote, 0);
	if (!ok || sf == NULL || s->st_uidvalidity != sf->uidvalidity ||
	    s->st_uidnext == 0 || s->st_uidnext > (uint64_t)sf->last_uid + 1) {
		imap_select(s);
		return;
	}
	imap_log(s, LOG_LVL_DEBUG, "nothing new (STATUS: UIDNEXT %llu, %llu "
	    "message(s)); not selected", (unsigned long long)s->st_uidnext,
	    (unsigned long long)s->st_messages);
	imap_folder_done(s);
}

/* Ends the current folder with a failure and goes on with the next. */
static void printflike(3, 4)
imap_folder_fail(struct imap_session *s, int status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	imap_vlog(s, LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	imap_status(s, status);
	s->folder_failed = 1;
	imap_folder_done(s);
}

/* Saves the state; a failure is a local error for the whole account. */
static int
imap_save_state(struct imap_session *s)
{
	char	*cause;
	int	 rc;

	rc = state_save(s->st, &cause);
	conn_local_work_done(s->conn);
	if (rc == 0)
		return (0);
	imap_fail(s, EXIT_LOCAL, "%s", cause);
	free(cause);
	return (-1);
}

/* Whether delivered messages of the current folder must be changed on the
 * server (marked read, deleted or moved). */
static int
imap_wants_actions(struct imap_session *s)
{
	return (s->folders[s->cur].mark_read || !s->ac->keep);
}

/* Whether the messages this matching pass delivers (not matched as
 * delivered before the UIDVALIDITY change) get no server action: the
 * folder's first fetch may have left mail on the server (first_fetch is
 * not "all", or the state says it filtered), and nothing tells that mail
 * from the rest after a migration (\Seen dropped, dates reset, FLAGS
 * answered apart, mail moved in with old dates). Delivered, so nothing
 * is lost; untouched, so nothing the user chose to leave is deleted or
 * marked. At or below last_uid, no later run acts on them. */
static int
imap_untouched(struct imap_session *s)
{
	return ((s->uidv_changed || s->sf->matching) &&
	    (s->ac->first_fetch != FIRST_FETCH_ALL || s->sf->first_mode != 0));
}

/* Puts into rest the UIDs of set that get their server actions; how
 * many of set imap_untouched leaves alone. Only the messages present
 * when the UIDVALIDITY changed may be mail the first fetch left (those
 * up to the matching bound); mail that arrives later, while the mark
 * stays (a message of the pass missing), is new mail and keep = no
 * deletes it (review r9, finding 01). A bound not known yet (the pass
 * has not listed the folder) leaves them all alone. */
static size_t
imap_untouched_take(struct imap_session *s, const struct uidset *set,
    struct uidset *rest)
{
	struct uidset	low;

	if (!imap_untouched(s)) {
		uidset_add_set(rest, set);
		return (0);
	}
	uidset_init(&low);
	uidset_add_range(&low, 1, s->sf->matching_until != 0 ?
	    s->sf->matching_until : UINT32_MAX);
	uidset_subtract(rest, set, &low);
	uidset_clear(&low);
	return (uidset_count(set) - uidset_count(rest));
}

/* The notice for n messages imap_untouched left alone. */
static void
imap_untouched_log(struct imap_session *s, size_t n)
{
	imap_log(s, LOG_LVL_NOTICE, "%zu message(s) after the UIDVALIDITY "
	    "change could not be told apart from the mail first_fetch left "
	    "on the server: delivered, but left on the server untouched", n);
}

/* Adds delivered UIDs to the pending set, but for the ambiguous ones. */
static void
imap_pending_add(struct imap_session *s, const struct uidset *set)
{
	/* Range by range (imap_undelivered says why). */
	uidset_subtract(&s->pending, set, &s->ambiguous);
}

/* Owes the server actions for the batch's delivered messages, but for
 * those imap_untouched leaves alone (counted for the notice). */
static void
imap_delivered_owe(struct imap_session *s)
{
	struct uidset	acted;

	uidset_init(&acted);
	s->untouched += imap_untouched_take(s, &s->delivered, &acted);
	imap_pending_add(s, &acted);
	uidset_clear(&acted);
}

/* Drops from done (a recovered journal's delivered UIDs) those
 * imap_untouched leaves alone, with the notice. */
static void
imap_untouched_recovered(struct imap_session *s, struct uidset *done)
{
	struct uidset	acted;
	size_t		n;

	uidset_init(&acted);
	if ((n = imap_untouched_take(s, done, &acted)) > 0)
		imap_untouched_log(s, n);
	uidset_clear(done);
	*done = acted;
}

/* Adds the state record's pending set (server actions owed from an
 * earlier run) to the in-memory one; -1 when the folder failed. */
static int
imap_pending_load(struct imap_session *s)
{
	if (s->sf->pending == NULL ||
	    uidset_parse(&s->pending, s->sf->pending) == 0)
		return (0);
	imap_folder_fail(s, EXIT_LOCAL, "%s: bad pending set for this folder",
	    state_path(s->st));
	return (-1);
}

/* Writes the in-memory pending set into the state record. */
static void
imap_store_pending(struct imap_session *s)
{
	char	*text;

	text = uidset_format(&s->pending, NULL, 0);
	state_folder_set_pending(s->sf, text);
	free(text);
}

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

/* Parses a journal id; -1 when it is not one of ours. */
static int
imap_jentry_parse(const char *id, uint32_t uidvalidity, struct imap_jentry *j)
{
	unsigned long long	 uid, uv, size;
	char			 st;
	int			 n = -1;

	memset(j, 0, sizeof *j);
	if (sscanf(id, "%llu%n", &uid, &n) == 1 && n > 0 && id[n] == '\0') {
		uv = uidvalidity;
		size = 0;
		st = 'i';
	} else if (sscanf(id, "%llu %llu %llu %c%n", &uid, &uv, &size, &st,
	    &n) != 4 || (id[n] != '\0' && id[n] != ' ') ||
	    (st != 'i' && st != 'd'))
		return (-1);
	if (uid == 0 || uid > UINT32_MAX || uv == 0 || uv > UINT32_MAX ||
	    !isdigit((unsigned char)*id))
		return (-1);
	j->uid = uid;
	j->uidvalidity = uv;
	j->size = size;
	j->done = st == 'd';
	if (id[n] == ' ' && id[n + 1] != '\0')
		j->msgid = id + n + 1;
	return (0);
}

/* Formats a journal id; caller frees. A Message-ID longer than
 * IMAP_JOURNAL_MSGID_MAX is left out (then only a later UIDVALIDITY change
 * would miss the message, as for one without Message-ID). */
static char *
imap_jentry_format(const struct imap_jentry *j)
{
	const char	*msgid = j->msgid;
	char		*id;

	if (msgid != NULL && strlen(msgid) > IMAP_JOURNAL_MSGID_MAX)
		msgid = NULL;
	xasprintf(&id, "%u %u %llu %c%s%s", j->uid, j->uidvalidity,
	    (unsigned long long)j->size, j->done ? 'd' : 'i',
	    msgid != NULL ? " " : "", msgid != NULL ? msgid : "");
	return (id);
}

/* Keeps only the folder's journal entries that still matter: delivered
 * messages above last_uid in the server's UIDVALIDITY (left by a batch or
 * a recovery with a lower UID to fetch again; their UIDs are in s->skip),
 * marked done: their outcome is recorded with the same state save
 * (last_uid, the pending set), so nothing but the skip is left to do. */
static void
imap_journal_prune(struct imap_session *s)
{
	const struct state_inflight	*e;
	struct imap_folder		*f = &s->folders[s->cur];
	struct imap_jentry		 j;
	char				**keep = NULL;
	size_t				 i, n = 0;

	for (i = 0; (e = state_inflight_at(s->st, i)) != NULL; i++) {
		if (strcmp(e->folder, f->remote) != 0 ||
		    imap_jentry_parse(e->id, s->sf->uidvalidity, &j) != 0)
			continue;
		if (j.uidvalidity != s->uidvalidity ||
		    j.uid <= s->sf->last_uid || !uidset_has(&s->skip, j.uid))
			continue;
		j.done = 1;
		keep = xreallocarray(keep, n + 2, sizeof *keep);
		keep[n++] = imap_jentry_format(&j);
		keep[n++] = xstrdup(e->file);
	}
	state_inflight_clear(s->st, f->remote);
	for (i = 0; i < n; i += 2) {
		state_inflight_add(s->st, f->remote, keep[i], keep[i + 1]);
		free(keep[i]);
		free(keep[i + 1]);
	}
	free(keep);
}

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

static void
imap_recovery_free(struct imap_recovery *rc)
{
	if (rc->found != NULL)
		maildir_found_clear(rc->found, rc->n);
	free(rc->found);
	free(rc->e);
	free(rc->j);
	free(rc->finals);
	uidset_clear(&rc->done);
	uidset_clear(&rc->gone);
	uidset_clear(&rc->ambiguous);
}

/* Logs a recovered message's Message-ID with the digest of its file, read
 * back from the Maildir where recovery found it, in cur/ too when a
 * reader moved it there (the stream that would have digested it died
 * with the killed run, if it had not yet logged it). A file found
 * nowhere gets no digest here; the killed run logged its digest before
 * any rename (imap_batch_log_ids), so that only one whose tmp/ file was
 * removed, or journaled by an older version, comes again after a
 * UIDVALIDITY change: a duplicate, never a loss. */
static void
imap_journal_log_id(struct imap_session *s, const struct state_inflight *e,
    const struct imap_jentry *j, const struct maildir_found *found)
{
	unsigned char	 digest[MSGIDS_DIGEST_LEN], buf[16384];
	ssize_t		 n;
	int		 fd;

	if ((fd = maildir_open_found(s->md, found)) == -1) {
		msgids_add(s->ids, e->folder, j->msgid, j->size, NULL);
		return;
	}
	if (s->digest == NULL)
		s->digest = msgids_digest_new();
	msgids_digest_reset(s->digest);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		msgids_digest_update(s->digest, buf, (size_t)n);
	close(fd);
	msgids_digest_final(s->digest, digest);
	msgids_add(s->ids, e->folder, j->msgid, j->size, n == 0 ? digest :
	    NULL);
}

/* Collects the folder's journal entries: a done one only skips its UID,
 * in its epoch (it was counted and told to the server when its batch was
 * recorded); an in-flight one is kept for maildir_recover. -1 when the
 * folder failed. */
static int
imap_journal_collect(struct imap_session *s, struct imap_recovery *rc)
{
	const struct state_inflight	*e;
	struct imap_jentry		 j;
	size_t				 i;

	for (i = 0; (e = state_inflight_at(s->st, i)) != NULL; i++) {
		if (strcmp(e->folder, s->folders[s->cur].remote) != 0)
			continue;
		if (imap_jentry_parse(e->id, s->sf->uidvalidity, &j) != 0) {
			imap_folder_fail(s, EXIT_LOCAL, "%s: bad journal entry "
			    "for this folder", state_path(s->st));
			return (-1);
		}
		rc->any = 1;
		if (j.done) {
			if (j.uidvalidity == s->uidvalidity)
				uidset_add(&s->skip, j.uid);
			continue;
		}
		rc->e = xreallocarray(rc->e, rc->n + 1, sizeof *rc->e);
		rc->j = xreallocarray(rc->j, rc->n + 1, sizeof *rc->j);
		rc->finals = xreallocarray(rc->finals, rc->n + 1,
		    sizeof *rc->finals);
		rc->e[rc->n] = e;
		rc->j[rc->n] = j;
		rc->finals[rc->n++] = e->file;
	}
	return (0);
}

/* Two in-flight entries of one UID in the server's epoch: the batch got
 * two different messages under it (imap_body_repeat), and which one the
 * server holds is unknown, so neither may lead to a server action. */
static void
imap_journal_ambiguous(struct imap_session *s, struct imap_recovery *rc)
{
	struct uidset	seen;
	size_t		i;

	uidset_init(&seen);
	for (i = 0; i < rc->n; i++) {
		if (rc->j[i].uidvalidity != s->uidvalidity)
			continue;
		if (uidset_has(&seen, rc->j[i].uid))
			uidset_add(&rc->ambiguous, rc->j[i].uid);
		uidset_add(&seen, rc->j[i].uid);
	}
	uidset_clear(&seen);
}

/* Sorts one recovered entry: only a file found in the Maildir, of the
 * server's epoch and not ambiguous, is owed the server actions; every
 * one of the server's epoch is skipped (never fetched again: a message
 * the user deleted must not come back). */
static void
imap_journal_sort(struct imap_session *s, struct imap_recovery *rc, size_t i)
{
	const struct imap_jentry	*j = &rc->j[i];
	int				 gone;

	gone = rc->found[i].where == MAILDIR_GONE;
	rc->ngone += gone;
	if (s->ids != NULL && j->msgid != NULL) {
		imap_journal_log_id(s, rc->e[i], j, &rc->found[i]);
		rc->nlogged++;
	}
	if (j->uidvalidity != s->uidvalidity) {
		rc->nold++;
		return;
	}
	uidset_add(&s->skip, j->uid);
	if (gone)
		uidset_add(&rc->gone, j->uid);
	else if (!uidset_has(&rc->ambiguous, j->uid))
		uidset_add(&rc->done, j->uid);
}

/* The recovery's log lines: what it delivered (files, not UIDs), and what
 * it leaves alone on the server. */
static void
imap_journal_report(struct imap_session *s, struct imap_recovery *rc)
{
	char	*set;

	if (rc->n > 0)
		imap_log(s, LOG_LVL_NOTICE, "recovered an interrupted run: "
		    "%zu message(s) delivered%s", rc->n - rc->ngone,
		    rc->nold > 0 ? " (some before the folder's UIDVALIDITY "
		    "changed: no server action for those)" : "");
	if (rc->ngone > 0) {
		set = uidset_format(&rc->gone, NULL, 0);
		imap_log(s, LOG_LVL_WARNING, "%zu message(s) not found in the "
		    "Maildir after an interrupted run (UIDs %s%s): a mail "
		    "reader deleted or refiled them, or their tmp/ file was "
		    "removed; counted as delivered (not fetched again) and "
		    "left on the server (no \\Seen, no delete or move)",
		    rc->ngone, *set != '\0' ? set : "none",
		    rc->ngone > uidset_count(&rc->gone) ? ", and some of an "
		    "earlier UIDVALIDITY" : "");
		free(set);
	}
	if (!uidset_empty(&rc->ambiguous)) {
		set = uidset_format(&rc->ambiguous, NULL, 0);
		imap_log(s, LOG_LVL_WARNING, "UIDs %s: the interrupted run got "
		    "different messages under the same UID; each delivered, "
		    "and left alone on the server (no \\Seen, no delete or "
		    "move)", set);
		free(set);
	}
}

/* A run that died mid-batch left journal entries for this folder: finish
 * each (maildir_recover), so that every message counts once. A file is
 * owed the server actions only where recovery finds it in the Maildir:
 * one found nowhere counts as delivered locally but is left on the
 * server. Returns -1 when the folder failed. */
static int
imap_journal_recover(struct imap_session *s)
{
	struct imap_recovery	 rc;
	char			*cause;
	size_t			 i;
	uint64_t		 rbytes;
	int			 r = -1;

	memset(&rc, 0, sizeof rc);
	uidset_init(&rc.done);
	uidset_init(&rc.gone);
	uidset_init(&rc.ambiguous);
	if (imap_journal_collect(s, &rc) != 0)
		goto out;
	if (!rc.any) {
		r = 0;
		goto out;
	}
	rc.found = xreallocarray(NULL, rc.n + 1, sizeof *rc.found);
	if (maildir_recover(s->md, rc.finals, rc.n, rc.found, &cause) != 0) {
		imap_folder_fail(s, EXIT_LOCAL, "%s", cause);
		free(cause);
		goto out;
	}
	imap_journal_ambiguous(s, &rc);
	for (i = 0; i < rc.n; i++)
		imap_journal_sort(s, &rc, i);
	if (rc.nlogged > 0 && msgids_flush(s->ids, &cause) != 0) {
		/* Only a later UIDVALIDITY change would miss them. */
		imap_log(s, LOG_LVL_WARNING, "%s", cause);
		free(cause);
	}
	imap_journal_report(s, &rc);
	hook_files_found(&s->newfiles, s->folders[s->cur].display, s->md,
	    rc.found, rc.n);
	hook_owe(s->hook, s->ac, &s->newfiles);
	/* last_uid does not move: the entries need not cover a whole batch
	 * (a message the server did not return leaves its neighbours' entries
	 * behind). The recovered ones are skipped by UID (above); the
	 * folder's end moves last_uid past them and drops the entries. */
	/* They became visible with this run (or the run that put them there
	 * never said so): they count as this run's new mail. */
	s->f_msgs += rc.n - rc.ngone;
	rbytes = maildir_found_bytes(rc.found, rc.n);
	s->f_bytes += rbytes;
	/* An interrupted matching pass: which entries were matched as
	 * delivered before is not journaled; all it saw are left
	 * untouched. */
	if (s->sf->uidvalidity == s->uidvalidity)
		imap_untouched_recovered(s, &rc.done);
	if (s->folders[s->cur].mark_read || !s->ac->keep) {
		/* Added to what the state still owes, never in its place: a
		 * run killed after an earlier recovery recorded its set (and
		 * kept the entries, done) but before the server was told
		 * leaves both, and overwriting that set would let last_uid
		 * pass its messages with nothing left to tell the server.
		 * Only a set of the server's epoch: another one is dropped
		 * with the UIDVALIDITY change, and its UIDs mean nothing. */
		if (s->sf->uidvalidity == s->uidvalidity &&
		    imap_pending_load(s) != 0)
			goto out;
		uidset_add_set(&s->pending, &rc.done);
		imap_store_pending(s);
	}
	imap_journal_prune(s);
	if ((r = imap_save_state(s)) == 0)
		fault_point("imap-recovered");
out:
	imap_recovery_free(&rc);
	return (r);
}

/* Loads what was delivered from the folder (the msgids log), against
 * which this pass matches its messages; -1 when the folder failed. */
static int
imap_matching_load(struct imap_session *s)
{
	char	*cause;

	if (s->ids == NULL || msgids_load(s->ids, s->folders[s->cur].remote,
	    &s->known, &cause) != 0) {
		imap_folder_fail(s, EXIT_LOCAL, "cannot read the list of "
		    "delivered messages%s%s; not fetching this folder, to "
		    "avoid delivering everything again", s->ids == NULL ? "" :
		    ": ", s->ids == NULL ? "" : cause);
		if (s->ids != NULL)
			free(cause);
		return (-1);
	}
	s->uidv_changed = 1;
	return (0);
}

/* The folder was recreated or migrated: everything will be matched by
 * Message-ID and size against what was delivered from it before. The
 * new UIDVALIDITY is saved with the folder's "matching" mark, and the
 * mark goes only when the pass is through (imap_fetch_next_batch): an
 * interrupted pass leaves last_uid somewhere in the new epoch, and what
 * lies above it must still be matched, or every message delivered before
 * the change would be delivered again (and, with keep = no, deleted). */
static int
imap_uidvalidity_changed(struct imap_session *s)
{
	imap_log(s, LOG_LVL_WARNING, "UIDVALIDITY changed from %u to %u (the "
	    "folder was recreated or migrated); matching its messages by "
	    "Message-ID, size and content against what was delivered before",
	    s->sf->uidvalidity, s->uidvalidity);
	if (imap_matching_load(s) != 0)
		return (-1);
	s->sf->matching = 1;
	/* What the pass may leave untouched: what the folder holds now
	 * (below UIDNEXT), or else what its sizes pass lists. */
	s->sf->matching_until = s->uidnext > 1 ? s->uidnext - 1 : 0;
	/* An unfinished first fetch's bound names UIDs of the old epoch.
	 * One an older version began has no record: it left mail too (the
	 * record makes this epoch's messages untouched, imap_untouched). */
	if (s->sf->first_until != 0 && s->sf->first_mode == 0) {
		s->sf->first_mode = STATE_FIRST_UNSEEN;
		s->sf->first_time = (long long)time(NULL);
	}
	s->sf->first_until = 0;
	s->sf->uidvalidity = s->uidvalidity;
	s->sf->last_uid = 0;
	state_folder_set_pending(s->sf, NULL);
	state_folder_set_missing(s->sf, NULL);
	uidset_clear(&s->missing);
	/* Its UIDs name other messages now. */
	state_folder_set_suspect(s->sf, NULL);
	uidset_clear(&s->suspect);
	uidset_clear(&s->skip);
	state_inflight_clear(s->st, s->folders[s->cur].remote);
	return (imap_save_state(s));
}

/* Starts the pass over what is new (the sizes). A matching pass that an
 * earlier run (or round) left unfinished is resumed: the msgids log is
 * read again and the messages above last_uid are matched as in the first
 * pass after the change; those delivered in the interrupted run itself
 * are in the log too (with their digests, logged by the run or by the
 * journal recovery), so they are recognised, not delivered twice. */
static void
imap_pass_begin(struct imap_session *s)
{
	if (s->sf->matching && !s->uidv_changed) {
		imap_log(s, LOG_LVL_NOTICE, "resuming the matching of this "
		    "folder's messages above UID %u against what was delivered "
		    "before its UIDVALIDITY changed (an earlier run did not "
		    "finish it)", s->sf->last_uid);
		if (imap_matching_load(s) != 0)
			return;
	}
	if (s->sf->first_until != 0 && !s->unseen_searched &&
	    s->sf->first_mode == STATE_FIRST_NEW)
		s->unseen_searched = 1;	/* new: nothing up to the bound */
	if (s->sf->first_until != 0 && !s->unseen_searched) {
		/* The first fetch (first_fetch = unseen) is not through:
		 * up to its bound, only what is unread now is fetched. */
		imap_search(s, IMAP_S_SEARCH, "UNSEEN");
		return;
	}
	imap_enter(s, IMAP_S_SIZES);
}

/* Asks what is new, unless an IDLE session may not fetch now: then the
 * folder's round ends at once and the session IDLEs with the new mail
 * still owed (s->wake). */
static void
imap_sizes(struct imap_session *s)
{
	if (imap_idle_blocked(s)) {
		s->wake = 1;
		imap_folder_done(s);
		return;
	}
	imap_pass_begin(s);
}

/* The first fetch's mode for the selected folder: first_fetch, but new
 * for a folder keep = no moved delivered mail into as the trash (a named
 * folder that was the trash until the server gave the role to another,
 * review r11 01): what it holds was delivered already; what arrives
 * later is fetched. */
static int
imap_first_mode(const struct imap_session *s)
{
	if (state_trashed_has(s->st, s->folders[s->cur].remote))
		return (FIRST_FETCH_NEW);
	return (s->ac->first_fetch);
}

/* The first fetch leaves mail on the server (first_fetch = new: all
 * there is; unseen: the read mail): that it did is noted for good, so
 * that after a UIDVALIDITY change (the same messages under new UIDs) the
 * messages not matched as delivered get no server action
 * (imap_untouched). */
static void
imap_first_note(struct imap_session *s)
{
	switch (imap_first_mode(s)) {
	case FIRST_FETCH_NEW:
		s->sf->first_mode = STATE_FIRST_NEW;
		break;
	case FIRST_FETCH_UNSEEN:
		s->sf->first_mode = STATE_FIRST_UNSEEN;
		break;
	default:
		s->sf->first_mode = 0;
		return;
	}
	s->sf->first_time = (long long)time(NULL);
}

/* uid leaves the set. */
static void
imap_set_drop(struct uidset *set, uint32_t uid)
{
	struct uidset	keep;
	size_t		i;

	uidset_init(&keep);
	for (i = 0; i < set->n; i++) {
		if (set->r[i].lo < uid)
			uidset_add_range(&keep, set->r[i].lo,
			    set->r[i].hi < uid ? set->r[i].hi : uid - 1);
		if (set->r[i].hi > uid)
			uidset_add_range(&keep, set->r[i].lo > uid ?
			    set->r[i].lo : uid + 1, set->r[i].hi);
	}
	uidset_clear(set);
	*set = keep;
}

/* The suspect range the next pass starts at: the first from suspect_next
 * on, or the first of all when none is (the rotation wraps). */
static size_t
imap_suspect_start(const struct imap_session *s)
{
	size_t	i;

	for (i = 0; i < s->suspect.n; i++) {
		if (s->suspect.r[i].hi >= s->suspect_next)
			return (i);
	}
	return (0);
}

/* Writes the in-memory suspect set into the state record (state.c:
 * "<UIDVALIDITY> <UID set>"). */
static void
imap_suspect_save(struct imap_session *s)
{
	char	*head, *tail, *text;
	size_t	 start = imap_suspect_start(s), from = start, zero = 0;

	if (uidset_empty(&s->suspect)) {
		state_folder_set_suspect(s->sf, NULL);
		return;
	}
	/* From the rotation's start on, then the ranges before it: the
	 * same set to any reader (uidset_parse), its first UID where the
	 * next pass starts (imap_suspect_load). */
	head = uidset_format(&s->suspect, &from, s->suspect.n - start);
	tail = uidset_format(&s->suspect, &zero, start);
	xasprintf(&text, "%u %s%s%s", s->uidvalidity, head, *tail != '\0' ?
	    "," : "", tail);
	state_folder_set_suspect(s->sf, text);
	free(text);
	free(tail);
	free(head);
}

/* Reads the folder's suspect record. One of another UIDVALIDITY than the
 * server's names other messages now: forgotten. -1 when the folder
 * failed. */
static int
imap_suspect_load(struct imap_session *s)
{
	const char	*text = s->sf->suspect;
	char		*end;
	unsigned long	 uv;

	uidset_clear(&s->suspect);
	s->suspect_next = 0;
	if (text == NULL)
		return (0);
	uv = strtoul(text, &end, 10);
	if (end == text || *end != ' ' || uv == 0 || uv > UINT32_MAX ||
	    uidset_parse(&s->suspect, end + 1) != 0) {
		imap_folder_fail(s, EXIT_LOCAL, "%s: bad suspect set for "
		    "this folder", state_path(s->st));
		return (-1);
	}
	/* Where the rotation goes on (imap_suspect_save): parsed above. */
	s->suspect_next = (uint32_t)strtoul(end + 1, NULL, 10);
	if (uv != s->uidvalidity) {
		uidset_clear(&s->suspect);
		state_folder_set_suspect(s->sf, NULL);
	}
	return (0);
}

/* A marked trash's bound (its last_uid: the trash's UIDNEXT when it was
 * marked, raised after each move there) above what its SELECT says it
 * holds (UIDNEXT) came from a wrong STATUS answer: taken as the bound it
 * would pass over all later mail for good (review r26 09). Bound to the
 * SELECT's, with the missing set: what was moved there may come again,
 * a duplicate rather than a loss. */
static void
imap_trash_bound_check(struct imap_session *s)
{
	struct uidset	above, kept;
	char		*text;

	if (s->uidnext == 0 || s->sf->last_uid < s->uidnext)
		return;
	imap_log(s, LOG_LVL_WARNING, "this folder was the trash, and the "
	    "UID bound recorded for what was moved there (%u) is above its "
	    "UIDNEXT now (%u): a wrong STATUS answer; fetching from UID %u "
	    "on (what was moved there may be delivered again)",
	    s->sf->last_uid, s->uidnext, s->uidnext);
	s->sf->last_uid = s->uidnext - 1;
	uidset_init(&above);
	uidset_init(&kept);
	uidset_add_range(&above, s->uidnext, UINT32_MAX);
	uidset_subtract(&kept, &s->missing, &above);
	uidset_clear(&s->missing);
	s->missing = kept;
	text = uidset_format(&s->missing, NULL, 0);
	state_folder_set_missing(s->sf, uidset_empty(&s->missing) ? NULL :
	    text);
	free(text);
	uidset_clear(&above);
}

/* A former trash, marked (imap_trash_mark) or in its "new" pass since,
 * whose UIDVALIDITY changed: its bound names UIDs of the old epoch, and
 * the matching pass knows only what was delivered from this folder, not
 * what keep = no moved there from others. Nothing sound tells those
 * apart from its own mail: what was moved there may be delivered again,
 * a duplicate rather than a loss (review r26 08); said. */
static void
imap_trash_epoch_warn(struct imap_session *s)
{
	if (s->sf->first_mode != STATE_FIRST_NEW ||
	    s->sf->first_until == 0 ||
	    !state_trashed_has(s->st, s->folders[s->cur].remote))
		return;
	imap_log(s, LOG_LVL_WARNING, "this folder was the trash, and its "
	    "UIDVALIDITY changed since: what keep = no moved there cannot "
	    "be told from its own mail, and may be delivered again (a "
	    "duplicate rather than a loss)");
}

/* A folder fetched before that was the trash since (imap_trash_mark):
 * the "new" filter passes over what keep = no may have moved there, up
 * to the bound recorded after the moves (its last_uid, the trash's
 * UIDNEXT after each session's last move there): all above it is
 * fetched, whenever this SELECT comes (review r26 02). What it held
 * before it became the trash is in its missing set: still fetched. */
static void
imap_trash_resume_bound(struct imap_session *s)
{
	const char	*remote = s->folders[s->cur].remote;

	if (s->sf->first_until != UINT32_MAX ||
	    s->sf->first_mode != STATE_FIRST_NEW ||
	    !state_trashed_has(s->st, remote))
		return;
	imap_trash_bound_check(s);
	s->sf->first_until = s->sf->last_uid;
	imap_log(s, LOG_LVL_INFO, "this folder was the trash since it was "
	    "last fetched (keep = no moves delivered mail there): mail above "
	    "UID %u is fetched (above what was moved there), and what it "
	    "held before it became the trash", s->sf->first_until);
}

/* After SELECT: decide what to fetch. */
static void
imap_selected(struct imap_session *s)
{
	struct imap_folder	*f = &s->folders[s->cur];
	char			*cause;
	int			 first_fetch;

	s->select_exists = s->select_left = s->exists;
	if (s->uidvalidity == 0) {
		imap_folder_fail(s, EXIT_PROTOCOL, "the server sent no "
		    "UIDVALIDITY; cannot track messages in this folder");
		return;
	}
	if ((s->md = maildir_open_owned(s->ac->maildir, f->local,
	    state_dir(s->st), s->ac->name, &cause)) == NULL) {
		imap_folder_fail(s, EXIT_LOCAL, "%s", cause);
		free(cause);
		return;
	}
	s->sf = state_folder_get(s->st, f->remote, 1);
	/* The journal first: its files belong in the Maildir whatever the
	 * server says now. */
	if (imap_journal_recover(s) != 0)
		return;
	if (s->sf->uidvalidity != 0 && s->sf->uidvalidity != s->uidvalidity) {
		imap_trash_epoch_warn(s);
		if (imap_uidvalidity_changed(s) != 0)
			return;
		imap_enter(s, IMAP_S_SIZES);
		return;
	}
	first_fetch = s->sf->uidvalidity == 0;
	if (s->sf->missing != NULL &&
	    uidset_parse(&s->missing, s->sf->missing) != 0) {
		imap_folder_fail(s, EXIT_LOCAL, "%s: bad missing set for "
		    "this folder", state_path(s->st));
		return;
	}
	if (imap_suspect_load(s) != 0)
		return;
	if (!first_fetch)
		imap_trash_resume_bound(s);
	if (!first_fetch && s->sf->pending != NULL &&
	    *s->sf->pending != '\0') {
		if (imap_pending_load(s) != 0)
			return;
		imap_log(s, LOG_LVL_NOTICE, "applying server actions left "
		    "over from an interrupted run to %zu message(s)",
		    uidset_count(&s->pending));
		s->pending_from = 0;
		imap_actions(s);
		return;
	}
	if (first_fetch) {
		s->sf->uidvalidity = s->uidvalidity;
		s->sf->last_uid = 0;
		imap_first_note(s);
		if (imap_first_mode(s) == FIRST_FETCH_NEW && s->uidnext == 0) {
			/* No UIDNEXT (RFC 3501 allows it): the bound is the
			 * highest UID the sizes pass lists, every UID up to
			 * it filtered as read before the first fetch
			 * (imap_first_bound, imap_pass_begin): none of what
			 * is there is fetched, nor deleted with keep = no
			 * (review r18 09). */
			s->sf->first_until = UINT32_MAX;
			imap_log(s, LOG_LVL_INFO, "first run: only mail "
			    "arriving from now on (the server gives no "
			    "UIDNEXT: above the highest UID it lists now)%s",
			    s->ac->first_fetch == FIRST_FETCH_NEW ? "" :
			    ", as mailfetchd moved delivered mail into this "
			    "folder as the trash");
		}
		if (imap_first_mode(s) == FIRST_FETCH_NEW && s->uidnext > 0) {
			s->sf->last_uid = s->uidnext - 1;
			imap_log(s, LOG_LVL_INFO, "first run: only mail "
			    "arriving from now on (UID > %u)%s",
			    s->sf->last_uid, s->ac->first_fetch ==
			    FIRST_FETCH_NEW ? "" : ", as mailfetchd moved "
			    "delivered mail into this folder as the trash");
			imap_folder_done(s);
			return;
		}
		/* The filter holds until the first pass is through, saved
		 * with the UIDVALIDITY it comes with: a run interrupted in
		 * it (killed, the connection lost) must not leave the next
		 * one fetching, and with keep = no deleting, the read mail
		 * the user chose to leave. It covers what the folder holds
		 * now (below UIDNEXT): a message the sizes pass leaves out
		 * is still under it. Without UIDNEXT, every UID is filtered
		 * until the sizes pass narrows the bound (imap_sizes_done). */
		if (imap_first_mode(s) == FIRST_FETCH_UNSEEN)
			s->sf->first_until = s->uidnext > 0 ?
			    s->uidnext - 1 : UINT32_MAX;
	}
	imap_sizes(s);
}

static int
imap_msg_cmp(const void *a, const void *b)
{
	const struct imap_msg	*x = a, *y = b;

	return (x->uid < y->uid ? -1 : x->uid > y->uid);
}

/* Writes the in-memory missing set into the state record. */
static void
imap_missing_save(struct imap_session *s)
{
	char	*text;

	text = uidset_format(&s->missing, NULL, 0);
	state_folder_set_missing(s->sf, text);
	free(text);
}

/* The sizes pass's UIDs (s->msgs sorted, none filtered out yet). */
static void
imap_msgs_listed(const struct imap_session *s, struct uidset *out)
{
	size_t	i;

	for (i = 0; i < s->nmsgs; i++)
		uidset_add(out, s->msgs[i].uid);
}

/* Adds to out the missing UIDs the sizes pass asked for again (the first
 * missing_asked ranges) and did not list. */
static void
imap_missing_unlisted(const struct imap_session *s,
    const struct uidset *listed, struct uidset *out)
{
	struct uidset	asked;
	size_t		i;

	uidset_init(&asked);
	for (i = 0; i < s->missing_asked && i < s->missing.n; i++)
		uidset_add_range(&asked, s->missing.r[i].lo,
		    s->missing.r[i].hi);
	uidset_subtract(out, &asked, listed);
	uidset_clear(&asked);
}

/* The first stage: UID SEARCH UID of the unlisted UIDs, in a bounded
 * line (what does not fit is not queried: it stays owed). */
static int
imap_gone_search_uid(struct imap_session *s, const struct uidset *unlisted)
{
	size_t	 i, from = 0;
	char	*set;

	if (uidset_empty(unlisted))
		return (0);
	set = uidset_format(unlisted, &from, IMAP_SET_RANGES);
	for (i = 0; i < from; i++)
		uidset_add_range(&s->queried, unlisted->r[i].lo,
		    unlisted->r[i].hi);
	imap_enter(s, IMAP_S_SEARCH_MISSING);
	imap_send(s, "UID SEARCH UID %s", set);
	free(set);
	return (1);
}

/* The second stage, only when UID SEARCH UID left some out: UID SEARCH
 * ALL, of whose answer only the queried UIDs are kept (memory bounded by
 * what was asked, not by the folder: imap_search_untagged). */
static int
imap_gone_search_all(struct imap_session *s)
{
	struct uidset	gone;
	int		any;

	uidset_init(&gone);
	uidset_subtract(&gone, &s->queried, &s->found);
	any = !uidset_empty(&gone);
	uidset_clear(&gone);
	if (!any)
		return (0);
	imap_enter(s, IMAP_S_SEARCH_GONE);
	imap_send(s, "UID SEARCH ALL");
	return (1);
}

/* The UIDs a sizes pass asked for and did not list (UID FETCH of exactly
 * them answered nothing) are given up as gone only when the server shows
 * it twice more: UID SEARCH UID of them does not find them, and UID
 * SEARCH ALL does not list them. An answer left short (a server bug, a
 * passing fault) proves nothing gone, and giving up a message that is
 * there loses it: a duplicate at worst is preferred (review r16, the
 * suspect pass). unlisted is read at the first stage only; each stage
 * sends one command, and imap_sizes_done comes again with its answer
 * (1 returned). s->queried minus s->found is what is gone at the end. */
static int
imap_gone_check(struct imap_session *s, const struct uidset *unlisted)
{
	switch (s->gone_stage) {
	case IMAP_GONE_UNASKED:
		s->gone_stage = IMAP_GONE_BY_UID;
		return (imap_gone_search_uid(s, unlisted));
	case IMAP_GONE_BY_UID:
		s->gone_stage = IMAP_GONE_BY_ALL;
		return (imap_gone_search_all(s));
	default:
		return (0);
	}
}

/* imap_gone_check's question refused: nothing is shown gone. Refused
 * UID SEARCH UID, nothing was queried, all stays owed; refused UID
 * SEARCH ALL, what UID SEARCH UID found is still found (and fetched),
 * the rest stays owed. */
static void
imap_gone_refused(struct imap_session *s)
{
	struct uidset	none;

	uidset_init(&none);
	uidset_clear(&s->queried);
	if (s->state == IMAP_S_SEARCH_GONE)
		uidset_subtract(&s->queried, &s->found, &none);
	else
		uidset_clear(&s->found);
}

/* A missing UID the sizes pass asked for again and did not list is
 * expunged, never in use (imap_sizes_lie_record and imap_unlisted owe
 * whole ranges), or left out by a server bug as a new one may be
 * (imap_unlisted). imap_gone_check asks the server about them, so that
 * only those it shows gone are given up: none is lost to one answer left
 * short, none owed for ever. Returns 1 when a question was sent:
 * imap_sizes_done comes again with the answer. */
static int
imap_missing_check(struct imap_session *s, const struct uidset *listed)
{
	struct uidset	unlisted;
	int		sent;

	uidset_init(&unlisted);
	if (s->gone_stage == IMAP_GONE_UNASKED)
		imap_missing_unlisted(s, listed, &unlisted);
	sent = imap_gone_check(s, &unlisted);
	uidset_clear(&unlisted);
	return (sent);
}

/* Missing UIDs that UID SEARCH finds but the sizes pass left out again
 * (a server bug): asking the sizes again would only leave them out again,
 * every run, the UIDs owed for ever and, after a UIDVALIDITY change, the
 * folder's matching mark with them (review r12, finding 04). So they are
 * asked for in the body FETCH all the same, and dealt with as any message
 * it returns; without a size from the sizes pass, a lie about one is
 * judged by the RFC822.SIZE of its body FETCH answer (imap_body_lie). In
 * a matching pass their Message-ID is not known before: delivered as new
 * (a duplicate at worst). Not those delivered before (s->skip), nor more
 * than the folder's message list holds (the rest stay owed). The list
 * stays in UID order. */
static void
imap_unsized_add(struct imap_session *s, const struct uidset *found)
{
	size_t		i, cap = imap_msgs_cap(s);
	uint32_t	u;

	for (i = 0; i < found->n; i++) {
		for (u = found->r[i].lo; s->nmsgs < cap; u++) {
			if (!uidset_has(&s->skip, u)) {
				if (s->nmsgs == s->amsgs) {
					s->amsgs = s->amsgs < 8 ? 8 :
					    2 * s->amsgs;
					s->msgs = xreallocarray(s->msgs,
					    s->amsgs, sizeof *s->msgs);
				}
				memset(&s->msgs[s->nmsgs], 0,
				    sizeof *s->msgs);
				s->msgs[s->nmsgs++].uid = u;
				uidset_add(&s->unsized, u);
			}
			if (u == found->r[i].hi)
				break;
		}
	}
	imap_msgs_dedup(s);	/* sorted again (imap_msg_gmid) */
}

/* UIDs (what they are) the sizes pass left out but UID SEARCH finds:
 * one warning for them all, then asked for without their size
 * (imap_unsized_add). */
static void
imap_found_unsized(struct imap_session *s, const struct uidset *set,
    const char *what, const char *tail)
{
	size_t	 from = 0;
	char	*text;

	if (uidset_empty(set))
		return;
	text = uidset_format(set, &from, 20);
	imap_log(s, LOG_LVL_WARNING, "the server's answer to UID FETCH (UID "
	    "RFC822.SIZE) left out %s that UID SEARCH finds (UID %s%s): asked "
	    "for without their size%s", what, text, set->n > 20 ? ",..." : "",
	    tail);
	free(text);
	imap_unsized_add(s, set);
}

/* The sizes pass is in (and imap_missing_check's answer): the missing
 * UIDs it listed stay missing while they are fetched (s->msgs, filtered:
 * one skipped now, as too big, is no longer owed), and so do those passed
 * over as larger than the daily_limit (kept: imap_budget_never); those it
 * did not list
 * stay missing unless UID SEARCH did not find them either (gone: logged,
 * given up), and so do those the pass did not ask about (beyond
 * missing_asked ranges). */
static void
imap_missing_relisted(struct imap_session *s, const struct uidset *listed,
    const struct uidset *kept)
{
	struct uidset	still, unlisted, gone;
	size_t		i;

	if (uidset_empty(&s->missing))
		return;
	uidset_init(&still);
	uidset_init(&unlisted);
	uidset_init(&gone);
	for (i = 0; i < s->nmsgs; i++) {
		if (uidset_has(&s->missing, s->msgs[i].uid))
			uidset_add(&still, s->msgs[i].uid);
	}
	/* kept's UIDs that are missing: kept less those that are not. */
	uidset_subtract(&unlisted, kept, &s->missing);
	uidset_subtract(&still, kept, &unlisted);
	uidset_clear(&unlisted);
	for (i = s->missing_asked; i < s->missing.n; i++)
		uidset_add_range(&still, s->missing.r[i].lo,
		    s->missing.r[i].hi);
	imap_missing_unlisted(s, listed, &unlisted);
	uidset_subtract(&gone, &s->queried, &s->found);
	uidset_subtract(&still, &unlisted, &gone);
	uidset_clear(&unlisted);
	uidset_subtract(&unlisted, &s->queried, &gone);
	/* What a recovered journal delivered is owed no more, listed or
	 * not: imap_unsized_add skips it, and owed it would be fetched,
	 * and delivered, again by the next run, which has no skip set
	 * (review r16, findings 10, 11). */
	imap_skip_drop(s, &unlisted);
	imap_skip_drop(s, &still);
	imap_found_unsized(s, &unlisted, "messages asked for again",
	    " (still owed until delivered)");
	if (uidset_count(&still) < uidset_count(&s->missing))
		imap_log(s, LOG_LVL_INFO, "%zu UID(s) asked for again (not "
		    "delivered before) are not listed, nor found by UID "
		    "SEARCH: expunged, or never in use; no longer asked for",
		    uidset_count(&s->missing) - uidset_count(&still));
	uidset_clear(&unlisted);
	uidset_clear(&gone);
	uidset_clear(&s->missing);
	s->missing = still;
	imap_missing_save(s);
}

/* Whether the message numbers of the sizes pass's new UIDs (s->msgs
 * sorted, new from index from) rise with them as RFC 9051 2.3.1.2 says:
 * not after an EXPUNGE during the pass (later numbers moved down), not
 * with a number missing or out of order (a broken server). */
static int
imap_seqs_trusted(const struct imap_session *s, size_t from)
{
	size_t	i;

	if (s->seq_stale)
		return (0);
	for (i = from; i < s->nmsgs; i++) {
		if (s->msgs[i].seq == 0 || (i > 0 &&
		    s->msgs[i - 1].seq >= s->msgs[i].seq))
			return (0);
	}
	return (1);
}

/* Adds lo..hi to owed, but, while the first fetch (first_fetch = unseen)
 * filters UIDs up to first_until, of those only what this pass's UID
 * SEARCH UNSEEN named: the user's read mail is not owed. */
static void
imap_unlisted_add(struct imap_session *s, struct uidset *owed, uint32_t lo,
    uint32_t hi)
{
	uint32_t	until = s->sf->first_until;
	size_t		i;

	if (until == 0 || lo > until) {
		uidset_add_range(owed, lo, hi);
		return;
	}
	if (hi > until) {
		uidset_add_range(owed, until + 1, hi);
		hi = until;
	}
	for (i = 0; i < s->unseen.n; i++)
		uidset_add_range(owed, s->unseen.r[i].lo < lo ? lo :
		    s->unseen.r[i].lo, s->unseen.r[i].hi > hi ? hi :
		    s->unseen.r[i].hi);
}

/* The UIDs above last_uid that the sizes pass (s->msgs sorted, deduped,
 * not yet filtered) may have left out: a server that answers nothing for
 * a message it holds must not see last_uid pass it (a loss). The answers
 * to UID FETCH n:* are the folder's last messages, numbered one after the
 * other: a jump in the numbers between two listed UIDs means messages
 * left out between them (counted in *sure). Before the first new UID
 * (down to last_uid) one may be left out too unless the numbers show
 * none can be (it is message 1, or the one before it was listed); and
 * when the numbers cannot be trusted, every UID between listed ones is
 * owed. A UID never in use or expunged costs one more ask: the next
 * sizes pass drops what it still does not list (imap_missing_relisted). */
static void
imap_unlisted(struct imap_session *s, struct uidset *owed, size_t *sure)
{
	uint64_t	lo = (uint64_t)s->sf->last_uid + 1;
	uint32_t	prev_seq;
	size_t		from = 0, i;
	int		trusted;

	*sure = 0;
	while (from < s->nmsgs && s->msgs[from].uid < lo)
		from++;
	trusted = imap_seqs_trusted(s, from);
	prev_seq = from > 0 ? s->msgs[from - 1].seq : 0;
	for (i = from; i < s->nmsgs; i++) {
		if (!trusted || s->msgs[i].seq > prev_seq + 1) {
			if (trusted && i > from)
				*sure += s->msgs[i].seq - prev_seq - 1;
			if (s->msgs[i].uid > lo)
				imap_unlisted_add(s, owed, (uint32_t)lo,
				    s->msgs[i].uid - 1);
		}
		prev_seq = s->msgs[i].seq;
		lo = (uint64_t)s->msgs[i].uid + 1;
	}
}

/* Drops from set what a recovered journal delivered (s->skip): its
 * entries go with this folder's end, and a UID still owed then would be
 * fetched, and delivered, again by the next run. */
static void
imap_skip_drop(const struct imap_session *s, struct uidset *set)
{
	struct uidset	rest;

	if (uidset_empty(&s->skip))
		return;
	uidset_init(&rest);
	uidset_subtract(&rest, set, &s->skip);
	uidset_clear(set);
	*set = rest;
}

/* After imap_missing_relisted: what the sizes pass left out joins the
 * missing set, so that last_uid may pass it (the others go on) while it
 * is asked for again, with what is new, on the next pass; but not what a
 * recovered journal delivered (a server may leave out any message). */
static void
imap_unlisted_owe(struct imap_session *s, struct uidset *owed, size_t sure)
{
	char	*text;
	size_t	 from = 0;

	imap_skip_drop(s, owed);
	if (uidset_empty(owed))
		return;
	text = uidset_format(owed, &from, 20);
	if (sure > 0)
		imap_log(s, LOG_LVL_WARNING, "the server's answer to UID FETCH "
		    "(UID RFC822.SIZE) left out %zu message(s) (their numbers "
		    "are missing; among UID %s%s); the others go on, and these "
		    "are asked for again on the next run", sure, text,
		    owed->n > 20 ? ",..." : "");
	else
		log_msg(LOG_LVL_DEBUG, &s->ctx, "UID %s%s not listed by the "
		    "sizes pass, maybe left out: asked for again on the next "
		    "run", text, owed->n > 20 ? ",..." : "");
	free(text);
	uidset_add_set(&s->missing, owed);
	imap_missing_save(s);
}

/* Sorts the sizes pass's list by UID and drops repeated answers. */
static void
imap_msgs_dedup(struct imap_session *s)
{
	size_t	i, o = 0;

	/* qsort wants a non-NULL array even when there is nothing. */
	if (s->nmsgs < 2)
		return;
	qsort(s->msgs, s->nmsgs, sizeof *s->msgs, imap_msg_cmp);
	for (i = 0; i < s->nmsgs; i++) {
		if (o > 0 && s->msgs[o - 1].uid == s->msgs[i].uid)
			continue;	/* a duplicate answer */
		s->msgs[o++] = s->msgs[i];
	}
	s->nmsgs = o;
}

/* A Gmail message as the msgids log keys it: X-GM-MSGID and Message-ID
 * (with RFC822.SIZE as the size), so that only the same message matches.
 * NULL without a Message-ID: such a message is never passed over. */
static char *
imap_gm_key(uint64_t gmid, const char *msgid)
{
	char	*key;

	if (gmid == 0 || msgid == NULL)
		return (NULL);
	xasprintf(&key, "%llu %s", (unsigned long long)gmid, msgid);
	return (key);
}

/* Whether this account delivered this Gmail message before. */
static int
imap_gm_known(struct imap_session *s, uint64_t gmid, const char *msgid,
    uint64_t size)
{
	char	*key;
	int	 known;

	if ((key = imap_gm_key(gmid, msgid)) == NULL)
		return (0);
	known = msgids_set_has(&s->gm_known, key, size);
	free(key);
	return (known);
}

/* The X-GM-MSGID the sizes pass gave uid (s->msgs is sorted), 0 if none. */
static uint64_t
imap_msg_gmid(struct imap_session *s, uint32_t uid)
{
	const struct imap_msg	*m, key = { .uid = uid };

	if (!s->gm_loaded || s->nmsgs == 0)
		return (0);
	m = bsearch(&key, s->msgs, s->nmsgs, sizeof *s->msgs, imap_msg_cmp);
	return (m != NULL ? m->gmid : 0);
}

/* One message's X-GM-MSGID into the log and the set (sorted by the
 * caller). */
static void
imap_gm_log_one(struct imap_session *s, const struct imap_staged *st)
{
	char	*key;

	if ((key = imap_gm_key(st->gmid, st->msgid)) == NULL)
		return;
	msgids_add(s->ids, IMAP_GM_FOLDER, key, st->size, NULL);
	msgids_set_add(&s->gm_known, key, st->size);
	free(key);
}

/* The batch is durable: its X-GM-MSGIDs go into the log (flushed by the
 * caller) and the set, so that no later folder delivers them again. */
static void
imap_gm_logged(struct imap_session *s)
{
	size_t	 i;

	for (i = 0; i < s->nstaged; i++)
		imap_gm_log_one(s, &s->staged[i]);
	msgids_set_sort(&s->gm_known);
}

/* On Gmail, what the account delivered before, once per session; without
 * it (log unreadable) every label's copy is delivered, as elsewhere. */
static void
imap_gm_load(struct imap_session *s)
{
	char	*cause;

	if (!(s->caps & IMAP_CAP_XGM) || s->ids == NULL || s->gm_loaded)
		return;
	if (msgids_load(s->ids, IMAP_GM_FOLDER, &s->gm_known, &cause) != 0) {
		imap_log(s, LOG_LVL_WARNING, "%s; a message under several "
		    "Gmail labels may be delivered once per label", cause);
		free(cause);
		return;
	}
	s->gm_loaded = 1;
}

/* The sizes pass with X-GM-MSGID was refused (a server that announces
 * X-GM-EXT-1 but does not have it): asked again without it, once, and
 * the rest of the session does without the labels' dedup (each label's
 * copy may be delivered: duplicates, not a wedge). 0 when that was not
 * the cause. */
static int
imap_gm_refused(struct imap_session *s, const struct imap_response *r)
{
	char	*text;

	if (!s->gm_loaded || s->folder_failed)
		return (0);
	text = imap_server_text(r);
	imap_log(s, LOG_LVL_WARNING, "the server announces X-GM-EXT-1 but "
	    "refused UID FETCH with X-GM-MSGID (%s); fetching without it for "
	    "the rest of this session: a message under several Gmail labels "
	    "may be delivered once per label", text);
	free(text);
	s->caps &= ~IMAP_CAP_XGM;
	s->gm_loaded = 0;
	msgids_set_clear(&s->gm_known);
	s->nmsgs = 0;
	s->max_seen_uid = 0;
	imap_enter(s, IMAP_S_SIZES);
	return (1);
}

/* The suspects the suspect pass's sizes FETCH asked about (ranges
 * suspect_first to before suspect_asked) and did not list. */
static void
imap_suspect_unlisted(const struct imap_session *s, struct uidset *out)
{
	struct uidset	asked, listed;
	size_t		i;

	uidset_init(&asked);
	uidset_init(&listed);
	for (i = s->suspect_first; i < s->suspect_asked && i < s->suspect.n;
	    i++)
		uidset_add_range(&asked, s->suspect.r[i].lo,
		    s->suspect.r[i].hi);
	for (i = 0; i < s->nmsgs; i++)
		uidset_add(&listed, s->msgs[i].uid);
	uidset_subtract(out, &asked, &listed);
	uidset_clear(&asked);
	uidset_clear(&listed);
}

/* Suspects the sizes FETCH left out but UID SEARCH finds: fetched alone
 * all the same, without a size (imap_unsized_add), as a missing UID is;
 * else every sizes pass leaving one out would drop it as gone. */
static void
imap_suspect_found(struct imap_session *s)
{
	struct uidset	both, gone;

	uidset_init(&both);
	uidset_init(&gone);
	uidset_subtract(&gone, &s->queried, &s->found);
	uidset_subtract(&both, &s->queried, &gone);
	imap_skip_drop(s, &both);
	imap_found_unsized(s, &both, "messages it once sent far larger than "
	    "announced", "");
	uidset_clear(&both);
	uidset_clear(&gone);
}

/* The suspects kept: all but those gone (not listed, and shown gone by
 * imap_gone_check), and those delivered before (a recovered journal,
 * another Gmail label), which are done with; the rest of s->msgs is
 * what the pass fetches. Returns how many are gone. */
static size_t
imap_suspect_keep(struct imap_session *s, struct uidset *keep)
{
	struct uidset	gone;
	size_t		i, o = 0, ngone;

	uidset_init(&gone);
	uidset_subtract(&gone, &s->queried, &s->found);
	uidset_subtract(keep, &s->suspect, &gone);
	ngone = uidset_count(&gone);
	uidset_clear(&gone);
	for (i = 0; i < s->nmsgs; i++) {
		if (uidset_has(&s->skip, s->msgs[i].uid) ||
		    s->msgs[i].gm_known) {
			imap_set_drop(keep, s->msgs[i].uid);
			continue;
		}
		s->msgs[o++] = s->msgs[i];
	}
	s->nmsgs = o;
	imap_skip_drop(s, keep);
	if (ngone > 0)
		imap_log(s, LOG_LVL_INFO, "%zu message(s) the server once sent "
		    "far larger than announced are gone (not listed, not "
		    "found by UID SEARCH UID nor by UID SEARCH ALL): no longer "
		    "asked for", ngone);
	return (ngone);
}

/* The suspect pass's sizes are in. A suspect not listed is asked about
 * (imap_gone_check): one the server shows gone is forgotten, one UID
 * SEARCH finds is fetched without its size; one delivered before is done
 * with (imap_suspect_keep). The rest are fetched, one per batch
 * (imap_fetch_next_batch); one over max_message_size is streamed past
 * there, as any. Those outside the sizes FETCH's bounded line stay
 * suspects, asked for by a later session: the next starts after the last
 * one this session asked for (imap_suspect_update), so that each is asked
 * within a bounded number of sessions, even when the ones before it are
 * answered BODY[] NIL (review r16, finding 09). */
static void
imap_suspect_sized(struct imap_session *s)
{
	struct uidset	keep;
	size_t		n = uidset_count(&s->suspect), ngone;
	int		sent;

	imap_msgs_dedup(s);
	uidset_init(&keep);
	if (s->gone_stage == IMAP_GONE_UNASKED)
		imap_suspect_unlisted(s, &keep);
	sent = imap_gone_check(s, &keep);
	uidset_clear(&keep);
	if (sent)
		return;
	imap_suspect_found(s);
	ngone = imap_suspect_keep(s, &keep);
	if (n - uidset_count(&keep) > ngone)
		imap_log(s, LOG_LVL_INFO, "%zu message(s) the server once sent "
		    "far larger than announced were delivered before: no "
		    "longer asked for", n - uidset_count(&keep) - ngone);
	uidset_clear(&s->suspect);
	s->suspect = keep;
	imap_suspect_save(s);
	imap_suspect_never(s);
	s->next_msg = 0;
	imap_fetch_next_batch(s);
}

/* A suspect now larger than the whole daily budget can never be fetched
 * within it: passed over as imap_sizes_done passes such a message over
 * (it stays a suspect, asked for again at every poll), not left to stop
 * the pass there, which would stop every later folder at every poll
 * (review r18, finding 10). */
static void
imap_suspect_never(struct imap_session *s)
{
	struct uidset	never;
	size_t		i, o = 0;

	uidset_init(&never);
	for (i = 0; i < s->nmsgs; i++) {
		if (!imap_budget_never(s, i, &never))
			s->msgs[o++] = s->msgs[i];
	}
	s->nmsgs = o;
	uidset_clear(&never);
}

/* The others are done with: each suspect is asked for alone now (its own
 * sizes FETCH first: still listed? its size, to judge a lie by; in a
 * matching pass its Message-ID), so that a server lying about it again
 * ends the session with nothing else left undone. 1 when the suspect
 * pass started. */
static int
imap_suspect_begin(struct imap_session *s)
{
	int	wake = s->wake;

	if (s->suspect_pass || uidset_empty(&s->suspect))
		return (0);
	imap_log(s, LOG_LVL_NOTICE, "asking again, each alone, for %zu "
	    "message(s) the server once sent far larger than announced",
	    uidset_count(&s->suspect));
	s->suspect_pass = 1;
	s->nmsgs = 0;
	s->next_msg = 0;
	imap_enter(s, IMAP_S_SIZES);
	/* New mail announced meanwhile is still owed: this pass does not
	 * ask for it. */
	s->wake = wake;
	return (1);
}

/* Whether this pass is a first fetch without UIDNEXT whose listing of
 * the whole folder holds fewer messages than the folder did when it was
 * selected (EXISTS then; listed counts only those, imap_first_listed:
 * mail announced later is new mail): the listing alone cannot bound it,
 * as the newest may be the one left out, and would come later as new
 * mail (review r22 05). */
static int
imap_first_short(const struct imap_session *s, size_t listed)
{
	return (s->sf->first_until == UINT32_MAX && s->sf->last_uid == 0 &&
	    listed < s->select_exists);
}

/* The messages the sizes pass listed that were there at the SELECT (a
 * sequence number up to select_left): how many, and in *top the highest
 * UID. Mail announced since is new mail: it neither makes a short listing
 * whole nor goes into the first fetch's bound, or it would never be
 * fetched (review r26 01). */
static size_t
imap_first_listed(const struct imap_session *s, uint32_t *top)
{
	size_t	i, n = 0;

	*top = 0;
	for (i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].seq > s->select_left)
			continue;
		n++;
		if (s->msgs[i].uid > *top)
			*top = s->msgs[i].uid;
	}
	return (n);
}

/* A short first listing (imap_first_short): UID FETCH * (UID) asks the
 * server for the highest UID itself, a second answer the bound can rest
 * on. EXISTS alone cannot decide: a server whose count stays off (a
 * hidden message, an EXPUNGE meanwhile) would never have the folder
 * fetched (review r23 03). Mail announced meanwhile is told apart by the
 * answer's sequence number (imap_first_top_old). 1 when sent:
 * imap_sizes_done comes again with the answer (imap_first_top_untagged). */
static int
imap_first_top_ask(struct imap_session *s, size_t listed)
{
	if (s->top_asked || !imap_first_short(s, listed))
		return (0);
	s->top_asked = 1;
	s->first_top = s->first_top_seq = 0;
	imap_enter(s, IMAP_S_SIZES_TOP);
	imap_send(s, "UID FETCH * (UID)");
	return (1);
}

/* The answer to UID FETCH * (UID): the highest UID named. */
static void
imap_first_top_untagged(struct imap_session *s, const struct imap_response *r)
{
	const struct imap_node	*n;
	uint32_t		 uid = 0;

	if ((n = imap_parse_fetch_item(r, "UID")) != NULL &&
	    imap_parse_node_u32(n, &uid) == 0 && uid > s->first_top) {
		s->first_top = uid;
		s->first_top_seq = r->has_number ? r->number : 0;
	}
}

/* The highest UID there at the SELECT, from UID FETCH *'s answer: the
 * one it names, or, when that message arrived since (its sequence number
 * above select_left) and is the only one (the next number: it is the
 * last), the UID below it, as every older message's UID is lower; 0 when
 * nothing tells (several arrived: the next run asks again). */
static uint32_t
imap_first_top_old(const struct imap_session *s)
{
	if (s->first_top_seq <= s->select_left)
		return (s->first_top);
	if (s->first_top_seq == s->select_left + 1)
		return (s->first_top - 1);
	return (0);
}

/* The first fetch covers what was there when it began; what arrives
 * later is new mail, read or not. Its bound is UIDNEXT - 1 at the SELECT
 * that began it; without UIDNEXT, the highest UID there at the SELECT
 * (top, imap_first_listed) that this pass's listing or UID SEARCH UNSEEN
 * showed: a message the sizes pass leaves out (one read may be the
 * newest) does not lower it, or it would be fetched (and with keep = no
 * deleted) as new mail later. A short listing takes the highest UID from
 * UID FETCH * too (imap_first_top_old); when that tells none, nothing is
 * fetched and the next run asks again. */
static int
imap_first_bound(struct imap_session *s, size_t listed, uint32_t top)
{
	uint32_t	old;

	if (s->sf->first_until != UINT32_MAX)
		return (0);	/* UIDNEXT, or no first fetch */
	if (imap_first_short(s, listed)) {
		if ((old = imap_first_top_old(s)) == 0) {
			imap_folder_fail(s, EXIT_PROTOCOL, "the server gives "
			    "no UIDNEXT and listed %zu of the %u messages the "
			    "folder holds, and %s: the first fetch cannot tell "
			    "what was there before it; nothing fetched, asking "
			    "again next time", listed, s->select_exists,
			    s->first_top != 0 ? "more mail arrived meanwhile" :
			    "UID FETCH * named no UID");
			return (-1);
		}
		imap_log(s, LOG_LVL_NOTICE, "the server gives no UIDNEXT and "
		    "listed %zu of the %u messages the folder holds: the first "
		    "fetch covers up to UID %u, the highest (UID FETCH *)%s",
		    listed, s->select_exists, old, old != s->first_top ?
		    " below the one that arrived since" : "");
		if (old > top)
			top = old;
	}
	if (uidset_max(&s->unseen) > top)
		top = uidset_max(&s->unseen);
	s->sf->first_until = top;
	return (0);
}

/* Whether message i is larger than the whole daily budget: it can never
 * be fetched within it, so it is passed over with a warning and joins
 * never, for the missing set: asked for again at
 * every poll (fetched once the daily_limit is raised), while last_uid
 * goes past it and the others are fetched. Stopping the poll before it
 * would stop it there at every poll, the others behind it and every
 * later folder never fetched (review r14, finding 11). */
static int
imap_budget_never(struct imap_session *s, size_t i, struct uidset *never)
{
	uint64_t	limit = s->ac->daily_limit;

	if (s->budget_cb == NULL || s->mode == IMAP_MODE_IDLE || limit == 0 ||
	    s->msgs[i].size <= limit)
		return (0);
	log_msg(LOG_LVL_WARNING, &(struct log_ctx){ s->ctx.account,
	    s->ctx.folder, s->msgs[i].uid }, "message of %llu bytes is larger "
	    "than the whole daily_limit (%llu): it can never be fetched "
	    "within it; passed over (left on the server, asked for again at "
	    "every poll; raise daily_limit to fetch it)",
	    (unsigned long long)s->msgs[i].size, (unsigned long long)limit);
	uidset_add(never, s->msgs[i].uid);
	return (1);
}

/* Message uid's key among the refused messages held back (mda_hold_note):
 * "UIDVALIDITY.UID", as its X-Mailfetchd-Id key. */
static void
imap_hold_key(const struct imap_session *s, uint32_t uid, char *buf,
    size_t len)
{
	(void)snprintf(buf, len, "%u.%u", (unsigned int)s->uidvalidity,
	    (unsigned int)uid);
}

/* Whether message i is one the agent refused, held back until its retry
 * time (counted in *n, the earliest in *first). Only an owed one (in
 * the missing set, as every refused message is: imap_checkpoint_record):
 * passed over now, it stays owed (imap_sizes_done keeps it missing). */
static int
imap_hold_is(struct imap_session *s, size_t i, long long now,
    unsigned long *n, long long *first)
{
	char	key[32];

	if (s->folders[s->cur].deliver == DELIVER_MAILDIR ||
	    !uidset_has(&s->missing, s->msgs[i].uid))
		return (0);
	imap_hold_key(s, s->msgs[i].uid, key, sizeof key);
	return (mda_hold_is(s->st, s->sf->name, key, now, first, n));
}

/* state_refused_keep's question: whether the held message key names is
 * of this UIDVALIDITY and still owed (missing): one delivered, given up
 * as gone, or of another epoch is forgotten. */
static int
imap_hold_owed(void *arg, const char *key)
{
	struct imap_session	*s = arg;
	unsigned int		 uidv, uid;
	char			 end;

	if (sscanf(key, "%u.%u%c", &uidv, &uid, &end) != 2)
		return (0);
	return (uidv == s->uidvalidity && uidset_has(&s->missing, uid));
}

/* The folder's poll held back n refused messages, the first retry at
 * first: logged, and counted for the session's result. */
static void
imap_hold_done(struct imap_session *s, unsigned long n, long long first)
{
	if (state_refused_count(s->st) > 0)
		(void)state_refused_keep(s->st, s->sf->name, imap_hold_owed,
		    s);
	if (n == 0)
		return;
	mda_hold_log(&s->ctx, n, first);
	s->result.mda_held += n;
	if (s->result.mda_held_until == 0 || first < s->result.mda_held_until)
		s->result.mda_held_until = first;
}

/* How the agent ended for message uid, for its retry backoff; its retry
 * time, 0 for none. */
static long long
imap_hold_note(struct imap_session *s, uint32_t uid, enum mda_result res)
{
	char	key[32];

	if (s->sf == NULL || s->uidvalidity == 0)
		return (0);
	imap_hold_key(s, uid, key, sizeof key);
	return (mda_hold_count(&s->result.mda_held, &s->result.mda_held_until,
	    mda_hold_note(s->st, s->ac, s->sf->name, key, res)));
}

/* The sizes are in: drop what is too big, then fetch the rest. */
static void
imap_sizes_done(struct imap_session *s)
{
	uint64_t	max = s->ac->max_message_size;
	size_t		i, o = 0, nver = 0, ngm = 0, sure, nold;
	struct uidset	listed, unlisted, never;
	unsigned long	nheld = 0;
	long long	first = 0, now = (long long)time(NULL);
	uint32_t	old_top;

	if (s->suspect_pass) {
		imap_suspect_sized(s);
		return;
	}
	imap_msgs_dedup(s);
	uidset_init(&listed);
	imap_msgs_listed(s, &listed);
	nold = imap_first_listed(s, &old_top);
	if (imap_missing_check(s, &listed) || imap_first_top_ask(s, nold)) {
		uidset_clear(&listed);
		return;
	}
	/* Bound before the filter below: mail listed that arrived since
	 * the SELECT is above it, fetched now (review r26 01). */
	if (imap_first_bound(s, nold, old_top) != 0) {
		uidset_clear(&listed);
		return;
	}
	uidset_init(&unlisted);
	uidset_init(&never);
	imap_unlisted(s, &unlisted, &sure);
	for (i = 0; i < s->nmsgs; i++) {
		if (max != 0 && s->msgs[i].size > max) {
			log_msg(LOG_LVL_WARNING, &(struct log_ctx){ s->ctx.account,
			    s->ctx.folder, s->msgs[i].uid }, "message of %llu "
			    "bytes is larger than max_message_size (%llu); "
			    "skipped", (unsigned long long)s->msgs[i].size,
			    (unsigned long long)max);
			continue;
		}
		/* A missing UID was chosen by an earlier pass: the user
		 * may have read it on the server since, and it is owed. */
		if (s->msgs[i].uid <= s->sf->first_until &&
		    !uidset_has(&s->unseen, s->msgs[i].uid) &&
		    !uidset_has(&s->missing, s->msgs[i].uid))
			continue;	/* read before the first fetch */
		if (uidset_has(&s->skip, s->msgs[i].uid))
			continue;	/* delivered before */
		/* Asked for alone, after the others (imap_suspect_begin):
		 * a suspect may lie above last_uid (its record saved with a
		 * journal before last_uid moved), and fetched here too it
		 * would be delivered twice (review r13 07). */
		if (uidset_has(&s->suspect, s->msgs[i].uid))
			continue;
		if (s->msgs[i].gm_known) {
			ngm++;		/* from another label */
			continue;
		}
		if (imap_budget_never(s, i, &never))
			continue;
		/* Owed still: kept missing with those of never. */
		if (imap_hold_is(s, i, now, &nheld, &first)) {
			uidset_add(&never, s->msgs[i].uid);
			continue;
		}
		if (uidset_has(&s->verify, s->msgs[i].uid))
			nver++;
		s->msgs[o++] = s->msgs[i];
	}
	s->nmsgs = o;
	if (ngm > 0)
		imap_log(s, LOG_LVL_INFO, "%zu message(s) delivered before "
		    "from another Gmail label (same X-GM-MSGID): not fetched "
		    "again", ngm);
	/* No UIDNEXT at the change (or the previous version's mark): the
	 * matching pass covers what it lists now. */
	if (s->sf->matching && s->sf->matching_until == 0)
		s->sf->matching_until = s->max_seen_uid > s->sf->last_uid ?
		    s->max_seen_uid : s->sf->last_uid;
	imap_missing_relisted(s, &listed, &never);
	imap_unlisted_owe(s, &unlisted, sure);
	if (!uidset_empty(&never)) {
		uidset_add_set(&s->missing, &never);
		imap_missing_save(s);
	}
	imap_hold_done(s, nheld, first);
	uidset_clear(&listed);
	uidset_clear(&unlisted);
	uidset_clear(&never);
	s->next_msg = 0;
	s->sized = 1;
	if (s->uidv_changed)
		imap_log(s, LOG_LVL_NOTICE, "after the UIDVALIDITY change, %zu "
		    "message(s) are new; %zu have the Message-ID and size of "
		    "one delivered before and are fetched to compare their "
		    "content", s->nmsgs - nver, nver);
	else if (s->nmsgs > 0)
		imap_log(s, LOG_LVL_INFO, "%zu new message(s)", s->nmsgs);
	imap_fetch_next_batch(s);
}

/* What the daily budget still allows a poll to download now
 * (fetch_budget_cb; the owner counts the poll's downloads when it ends).
 * IDLE rounds ask may_fetch_cb before each round instead. */
static uint64_t
imap_budget_left(const struct imap_session *s)
{
	if (s->budget_cb == NULL || s->mode == IMAP_MODE_IDLE)
		return (UINT64_MAX);
	return (s->budget_cb(s->budget_arg, s->result.downloaded + s->f_down));
}

/* The daily budget does not allow the next message: this folder ends
 * here, last_uid not moved past what is left (fetched when the budget
 * allows), and so does the session's fetching (imap_folder_done); what
 * was delivered keeps its server actions, done already. */
static void
imap_budget_reached(struct imap_session *s, uint64_t left)
{
	uint64_t	rest = 0;
	size_t		i;

	for (i = s->next_msg; i < s->nmsgs; i++)
		rest += s->msgs[i].size;
	imap_log(s, LOG_LVL_NOTICE, "daily budget reached (%llu bytes left; "
	    "the next message has %llu): %zu message(s) of %llu bytes wait "
	    "on the server for later", (unsigned long long)left,
	    (unsigned long long)s->msgs[s->next_msg].size,
	    s->nmsgs - s->next_msg, (unsigned long long)rest);
	s->budget_stop = 1;
	if (s->untouched > 0)
		imap_untouched_log(s, s->untouched);
	imap_folder_done(s);
}

/* Requests the next batch of bodies, or finishes the folder. A batch
 * holds no more than the daily budget allows (imap_budget_left). */
static void
imap_fetch_next_batch(struct imap_session *s)
{
	uint64_t	 bytes = 0, left = imap_budget_left(s);
	size_t		 n = 0;
	uint32_t	 top;
	char		*set;

	uidset_clear(&s->batch);
	uidset_clear(&s->answered);
	uidset_clear(&s->delivered);
	uidset_clear(&s->passed);
	uidset_clear(&s->recognised);
	imap_relink_clear(s);
	/* A suspect is asked for alone; nothing past the daily budget. */
	while (s->next_msg < s->nmsgs && n < (s->suspect_pass ? 1 :
	    IMAP_BATCH_MSGS) &&
	    (n == 0 || bytes + s->msgs[s->next_msg].size <= IMAP_BATCH_BYTES) &&
	    s->msgs[s->next_msg].size <= left - bytes) {
		uidset_add(&s->batch, s->msgs[s->next_msg].uid);
		bytes += s->msgs[s->next_msg].size;
		s->next_msg++;
		n++;
	}
	if (n == 0 && s->next_msg < s->nmsgs) {
		imap_budget_reached(s, left);
		return;
	}
	if (n == 0 && imap_suspect_begin(s))
		return;
	if (n == 0) {
		s->suspect_pass = 0;
		/* Everything up to the highest UID seen is done with
		 * (delivered, skipped as too big, or not wanted), and so is
		 * what a recovered journal delivered: not listed, it was
		 * expunged since (keep = no), and its entries must go, or
		 * every later run would "recover" it again. */
		top = s->max_seen_uid;
		if (uidset_max(&s->skip) > top)
			top = uidset_max(&s->skip);
		/* So is what the first fetch covers: what it did not fetch
		 * up to its bound is read mail the user chose to leave (an
		 * unread one left out is owed: in the missing set). */
		if (s->sf->first_until != UINT32_MAX &&
		    s->sf->first_until > top)
			top = s->sf->first_until;
		top = imap_matching_owed(s, top);
		if (top > s->sf->last_uid)
			s->sf->last_uid = top;
		/* The pass is through: every message of the new epoch was
		 * matched, the first fetch's filter applied to all it covers
		 * (saved by imap_folder_done). Not while messages of the
		 * pass are missing: when one comes, it must still be matched
		 * by content (it may have been delivered before the change)
		 * and filtered as the first fetch says; nor while a suspect
		 * is still to be asked for again. */
		if (uidset_empty(&s->missing) && uidset_empty(&s->suspect)) {
			s->sf->matching = 0;
			s->sf->matching_until = 0;
			s->sf->first_until = 0;
		}
		if (s->untouched > 0)
			imap_untouched_log(s, s->untouched);
		imap_folder_done(s);
		return;
	}
	set = uidset_format(&s->batch, NULL, 0);
	imap_enter(s, IMAP_S_FETCH);
	imap_send(s, "UID FETCH %s (UID FLAGS RFC822.SIZE "
	    "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] BODY.PEEK[])", set);
	free(set);
}

/* A matching pass covers what the folder held at the UIDVALIDITY change
 * (up to matching_until, from UIDNEXT): the UIDs up there no listing
 * showed (a sizes answer that left out the newest) are owed, in the
 * missing set: asked for again, matched by content, dropped once UID
 * SEARCH shows them gone, the mark kept meanwhile. Passed over, they
 * would come later as new mail: delivered twice, or deleted with keep =
 * no though the first fetch left them (review r18 11, 11b). Returns the
 * new top. */
static uint32_t
imap_matching_owed(struct imap_session *s, uint32_t top)
{
	uint32_t	lo = top > s->sf->last_uid ? top : s->sf->last_uid;

	if (!s->sf->matching || s->sf->matching_until <= lo)
		return (top);
	uidset_add_range(&s->missing, lo + 1, s->sf->matching_until);
	imap_missing_save(s);
	imap_log(s, LOG_LVL_INFO, "UIDs %u to %u, there at the UIDVALIDITY "
	    "change, were not listed: asked for again next time", lo + 1,
	    s->sf->matching_until);
	return (s->sf->matching_until);
}

/* Adds to out the UIDs of in that this batch did not deliver. Range by
 * range: an owed range may hold billions of UIDs never in use (a sparse
 * UID space), and a walk UID by UID would stall the event loop. */
static void
imap_undelivered(struct imap_session *s, const struct uidset *in,
    struct uidset *out)
{
	struct uidset	rest;

	uidset_init(&rest);
	uidset_subtract(&rest, in, &s->delivered);
	uidset_subtract(out, &rest, &s->passed);
	uidset_clear(&rest);
}

/* The batch is durable: its messages leave the missing set, and those it
 * asked for but did not get (expunged meanwhile, or a server bug such as
 * BODY[] NIL) join it, named in a warning, to be asked for again; a
 * message really gone is then simply not listed, and dropped. */
static void
imap_missing_update(struct imap_session *s)
{
	struct uidset	 now, lost;
	char		*text;
	size_t		 from;

	uidset_init(&now);
	uidset_init(&lost);
	imap_undelivered(s, &s->missing, &now);
	imap_undelivered(s, &s->batch, &lost);
	uidset_add_set(&now, &lost);
	uidset_clear(&s->missing);
	s->missing = now;
	if (!uidset_empty(&lost)) {
		from = 0;
		text = uidset_format(&lost, &from, 20);
		imap_log(s, LOG_LVL_WARNING, "%zu message(s) asked for were "
		    "not returned by the server (UID %s%s); the others go "
		    "on, and these are asked for again on the next run",
		    uidset_count(&lost), text, lost.n > 20 ? ",..." : "");
		free(text);
	}
	uidset_clear(&lost);
	imap_missing_save(s);
}

/* A suspect's batch (itself alone) is durable: delivered (or recognised
 * as delivered before), it is no suspect any more; not returned, it stays
 * one, asked for alone again by a later session (one warning for all,
 * imap_suspect_nil_log), not in the missing set (whose UIDs are asked for
 * among the others). The next session's suspect pass starts after it. */
static void
imap_suspect_update(struct imap_session *s)
{
	uint32_t	uid = uidset_max(&s->batch);

	if (!s->suspect_pass)
		return;
	if (uidset_has(&s->delivered, uid) || uidset_has(&s->passed, uid))
		imap_set_drop(&s->suspect, uid);
	else {
		uidset_add(&s->suspect_nil, uid);
		log_msg(LOG_LVL_DEBUG, &(struct log_ctx){ s->ctx.account,
		    s->ctx.folder, uid }, "the server did not return this "
		    "message (sent far larger than announced before)");
	}
	s->suspect_next = uid + 1;	/* 0 past the last UID: wraps */
	imap_suspect_save(s);
	uidset_clear(&s->batch);
}

/* The one warning for the suspects the server did not return this
 * session (not one per suspect: a server may answer hundreds so). */
static void
imap_suspect_nil_log(struct imap_session *s)
{
	char	*text;
	size_t	 from = 0;

	if (uidset_empty(&s->suspect_nil))
		return;
	text = uidset_format(&s->suspect_nil, &from, 20);
	imap_log(s, LOG_LVL_WARNING, "%zu message(s) the server once sent far "
	    "larger than announced were not returned when asked for again "
	    "(UID %s%s); asked for again, alone, by a later run (each run "
	    "goes on after the last one asked)",
	    uidset_count(&s->suspect_nil), text,
	    s->suspect_nil.n > 20 ? ",..." : "");
	free(text);
	uidset_clear(&s->suspect_nil);
}

/* The journaled batch's Message-IDs, with the digests of their content,
 * into the msgids log, before the first file becomes visible: once one
 * is in new/, a mail reader may delete or refile it before the state
 * records the batch, and the recovery then finds it nowhere and has no
 * file to digest; logged only then, the message would come back after a
 * UIDVALIDITY change. Not before the journal: a message killed in tmp/
 * unjournaled is fetched again, and its logged digest would pass it over
 * after a change. */
static void
imap_batch_log_ids(struct imap_session *s)
{
	char			*why;
	size_t			 i;

	if (s->ids == NULL)
		return;
	for (i = 0; i < s->nstaged; i++)
		imap_staged_log_id(s, &s->staged[i]);
	if (s->gm_loaded)
		imap_gm_logged(s);
	if (msgids_flush(s->ids, &why) != 0) {
		/* Only a later UIDVALIDITY change would miss them. */
		imap_log(s, LOG_LVL_WARNING, "%s", why);
		free(why);
	}
}

/* A staged message into the msgids log, keyed by its Message-ID and the
 * RFC822.SIZE its body answer announced, and by its literal's length too
 * when that differs (no size announced, or an inexact one): after a
 * UIDVALIDITY change the server may announce it otherwise, and either
 * key finds it for the content comparison (review r18, finding 06). */
static void
imap_staged_log_id(struct imap_session *s, const struct imap_staged *st)
{
	const char	*folder = s->folders[s->cur].remote;

	msgids_add(s->ids, folder, st->msgid, st->size, st->digest);
	if (st->lit != st->size)
		msgids_add(s->ids, folder, st->msgid, st->lit, st->digest);
}

/* Steps 2 to 4 of the durability order for what the batch staged:
 * fsynced in tmp/, journaled, logged in the msgids log, moved into new/
 * or cur/. -1 when that failed, with *cause (the caller frees; NULL
 * when the session failed: the state could not be saved). */
static int
imap_batch_durable(struct imap_session *s, char **cause)
{
	struct imap_folder	*f = &s->folders[s->cur];
	char			*why, *id;
	size_t			 i;
	int			 rc;

	/* Our own fsyncs may take long on a busy disk: not the server's
	 * time (conn_local_work_done). */
	*cause = NULL;
	rc = maildir_sync_prepare(s->md, cause);
	conn_local_work_done(s->conn);
	if (rc != 0)
		return (-1);
	imap_flags_map_batch(s);
	for (i = 0; i < s->nstaged; i++) {
		id = imap_jentry_format(&(struct imap_jentry){ s->staged[i].uid,
		    s->uidvalidity, s->staged[i].size, 0, s->staged[i].msgid });
		state_inflight_add(s->st, f->remote, id, s->staged[i].final);
		free(id);
	}
	if (s->nstaged > 0 && imap_save_state(s) != 0)
		return (-1);
	fault_point("imap-journaled");
	imap_batch_log_ids(s);
	rc = maildir_sync(s->md, &why);
	conn_local_work_done(s->conn);
	if (rc != 0) {
		/* Left as a crash leaves it (maildir.h): the journal entries
		 * stay, and the folder's next selection finishes the move. */
		xasprintf(cause, "%s; the batch is finished when the folder "
		    "is next fetched", why);
		free(why);
		return (-1);
	}
	fault_point("imap-synced");
	for (i = 0; i < s->nstaged; i++)
		hook_files_add(&s->newfiles, f->display,
		    maildir_final_path(s->md, s->staged[i].final));
	hook_owe(s->hook, s->ac, &s->newfiles);
	imap_staged_clear(s);
	return (0);
}

/* The server is told of the durable batch (the pending set, saved with
 * the next save) unless its messages get no server action. */
static void
imap_batch_owed(struct imap_session *s)
{
	if (!imap_wants_actions(s))
		return;
	/* deliver = mda: owed one by one as the agent took them
	 * (imap_mda_taken). */
	if (s->folders[s->cur].deliver == DELIVER_MAILDIR)
		imap_delivered_owe(s);
	imap_pending_add(s, &s->recognised);
	imap_store_pending(s);
}

static void	imap_mda_batch(struct imap_session *);

/* Step 5 and 6 for the batch made durable (or taken by the agent). */
static void
imap_checkpoint_record(struct imap_session *s)
{
	imap_suspect_update(s);
	/* What was not delivered is in the missing set (saved with
	 * last_uid), so last_uid may pass it. */
	imap_missing_update(s);
	if (!uidset_empty(&s->mda_refused)) {
		/* deliver = mda: what the agent refused is asked again. */
		uidset_add_set(&s->missing, &s->mda_refused);
		uidset_clear(&s->mda_refused);
		imap_missing_save(s);
	}
	if (uidset_max(&s->batch) > s->sf->last_uid)
		s->sf->last_uid = uidset_max(&s->batch);
	imap_journal_prune(s);
	imap_batch_owed(s);
	s->f_msgs += uidset_count(&s->delivered);
	if (imap_save_state(s) != 0)
		return;
	fault_point("imap-saved");
	if (!uidset_empty(&s->pending)) {
		s->pending_from = 0;
		imap_actions(s);
		return;
	}
	imap_fetch_next_batch(s);
}

/* The batch's FETCH ended OK: make it durable, record it, then tell the
 * server. */
static void
imap_checkpoint(struct imap_session *s)
{
	char	*cause;

	if (s->folders[s->cur].deliver != DELIVER_MAILDIR) {
		imap_mda_batch(s);
		return;
	}
	if (imap_batch_durable(s, &cause) != 0) {
		if (cause != NULL)
			imap_folder_fail(s, EXIT_LOCAL, "%s", cause);
		free(cause);
		return;
	}
	imap_checkpoint_record(s);
}

/*
 * deliver = mda (mda.h): in place of steps 2 to 4, each staged message of
 * the batch goes to the agent in turn. One it took (exit 0) is recorded
 * at once, before the next goes: a journal entry marked done (its UID is
 * skipped, never fetched again), its Message-ID and digest in the msgids
 * log, its UID in the pending set when the server is to be told, the
 * state saved. A crash between the agent's exit and that save (point
 * imap-mda-taken) hands that one message over twice at worst, never
 * loses it; after the save, recovery skips it and the pending set acts
 * on it. One the agent did not take owes nothing and joins the missing
 * set (imap_missing_update), asked for again by the next run, while
 * last_uid moves on: it blocks no other. Then steps 5 and 6 as for a
 * Maildir. The connection idles meanwhile: the agents' time is not the
 * server's.
 */

static void	imap_mda_next(struct imap_session *);
static void	imap_finish_schedule(struct imap_session *);

/* The agent took staged message i: recorded and saved. -1 when the
 * session failed. */
static int
imap_mda_taken(struct imap_session *s, size_t i)
{
	struct imap_folder	*f = &s->folders[s->cur];
	struct imap_staged	*st = &s->staged[i];
	struct uidset		 one, acted;
	char			*id, *why;

	fault_point("imap-mda-taken");
	id = imap_jentry_format(&(struct imap_jentry){ st->uid,
	    s->uidvalidity, st->size, 1, st->msgid });
	state_inflight_add(s->st, f->remote, id, st->final);
	free(id);
	if (s->ids != NULL) {
		imap_staged_log_id(s, st);
		if (s->gm_loaded) {
			imap_gm_log_one(s, st);
			msgids_set_sort(&s->gm_known);
		}
		if (msgids_flush(s->ids, &why) != 0) {
			imap_log(s, LOG_LVL_WARNING, "%s", why);
			free(why);
		}
	}
	if (imap_wants_actions(s)) {
		uidset_init(&one);
		uidset_init(&acted);
		uidset_add(&one, st->uid);
		s->untouched += imap_untouched_take(s, &one, &acted);
		imap_pending_add(s, &acted);
		imap_store_pending(s);
		uidset_clear(&one);
		uidset_clear(&acted);
	}
	/* new_mail_command counts it (no file to list), owed before the
	 * save as a Maildir's files are. */
	hook_files_count(&s->newfiles, f->display);
	hook_owe(s->hook, s->ac, &s->newfiles);
	return (imap_save_state(s));
}

/* The agents are done with the batch: the refused ones are passed over
 * now and missing from here on, then the batch is recorded. */
static void
imap_mda_batch_end(struct imap_session *s)
{
	struct uidset	taken;

	maildir_staged_drop(s->md);
	imap_staged_clear(s);
	conn_set_timeout(s->conn, s->ac->timeout != 0 ? s->ac->timeout :
	    CONN_DEFAULT_TIMEOUT);
	conn_local_work_done(s->conn);
	uidset_init(&taken);
	uidset_subtract(&taken, &s->delivered, &s->mda_refused);
	uidset_clear(&s->delivered);
	s->delivered = taken;
	/* Not lost by the server: no warning that it is (the missing set
	 * takes them after imap_missing_update). */
	uidset_add_set(&s->passed, &s->mda_refused);
	imap_checkpoint_record(s);
}

static void
imap_mda_done(enum mda_result res, const char *text, void *arg)
{
	struct imap_session	*s = arg;
	size_t			 i = s->mda_next++;
	struct log_ctx		 ctx = { s->ctx.account, s->ctx.folder,
				    s->staged[i].uid };

	s->mda = NULL;
	mda_log(&ctx, res, text, imap_hold_note(s, s->staged[i].uid, res));
	if (res == MDA_FAILED || res == MDA_BROKEN)
		s->result.mda_refused++;	/* not the account's failure */
	else if (res == MDA_TEMPFAIL)
		s->result.mda_tempfail++;
	if (s->state == IMAP_S_MAX) {
		/* The session ended meanwhile (imap_finish): the outcome
		 * recorded, the rest of the batch left on the server. */
		if (res == MDA_DELIVERED)
			(void)imap_mda_taken(s, i);
		maildir_staged_drop(s->md);
		imap_staged_clear(s);
		imap_finish_schedule(s);
		return;
	}
	if (res != MDA_DELIVERED)
		uidset_add(&s->mda_refused, s->staged[i].uid);
	else if (imap_mda_taken(s, i) != 0)
		return;
	imap_mda_next(s);
}

/* The next staged message to the agent, or the batch's end. */
static void
imap_mda_next(struct imap_session *s)
{
	struct imap_folder	*f = &s->folders[s->cur];
	struct imap_staged	*st;
	struct log_ctx		 ctx = s->ctx;
	char			 key[32], *cause = NULL;

	for (; s->mda_next < s->nstaged; s->mda_next++) {
		st = &s->staged[s->mda_next];
		snprintf(key, sizeof key, "%u.%u", (unsigned int)s->uidvalidity,
		    (unsigned int)st->uid);
		s->mda = mda_start_staged(s->base, s->ac, f->deliver, s->md,
		    st->final, f->display, key, imap_mda_done, s, &cause);
		if (s->mda != NULL)
			return;
		ctx.uid = st->uid;
		mda_log(&ctx, MDA_FAILED, cause, 0);
		free(cause);
		cause = NULL;
		imap_status(s, EXIT_LOCAL);
		uidset_add(&s->mda_refused, st->uid);
	}
	imap_mda_batch_end(s);
}

/* The batch's messages to the agent, one at a time. */
static void
imap_mda_batch(struct imap_session *s)
{
	s->mda_next = 0;
	uidset_clear(&s->mda_refused);
	/* The server waits, silent, while the agents run. */
	conn_set_timeout(s->conn, 0);
	imap_mda_next(s);
}

/* Sends the next slice of the server actions for the pending set, or goes
 * on fetching when they are all done. */
static void
imap_actions(struct imap_session *s)
{
	struct imap_folder	*f = &s->folders[s->cur];
	char			*set, *q;

	if (s->pending_from >= s->pending.n) {
		/* All acknowledged: the set is done with (saved later). */
		uidset_clear(&s->pending);
		imap_store_pending(s);
		if (s->sized)
			imap_fetch_next_batch(s);
		else
			imap_sizes(s);
		return;
	}
	set = uidset_format(&s->pending, &s->pending_from, IMAP_SET_RANGES);
	if (!s->ac->keep && (s->ac->trash_folder != NULL ||
	    imap_moves_to_trash(s))) {
		if (s->trash_wire == NULL ||
		    (q = imap_quote(s, s->trash_wire)) == NULL) {
			free(set);
			imap_folder_fail(s, EXIT_CONFIG, "%s \"%s\" cannot be "
			    "used (see above); the delivered messages stay on "
			    "the server", imap_trash_what(s), s->trash_name);
			return;
		}
		/* Without MOVE: COPY, and \Deleted only after its OK
		 * (imap_after_copy), so that nothing is destroyed that was
		 * meant to be kept in the trash. */
		imap_enter(s, (s->caps & IMAP_CAP_MOVE) ? IMAP_S_MOVE :
		    IMAP_S_COPY);
		imap_send(s, "UID %s %s %s", (s->caps & IMAP_CAP_MOVE) ?
		    "MOVE" : "COPY", set, q);
		free(q);
	} else if (!s->ac->keep) {
		imap_enter(s, IMAP_S_STORE);
		imap_send(s, "UID STORE %s +FLAGS.SILENT (\\Seen \\Deleted)",
		    set);
	} else if (f->mark_read) {
		imap_enter(s, IMAP_S_STORE);
		imap_send(s, "UID STORE %s +FLAGS.SILENT (\\Seen)", set);
	}
	free(set);
}

/* Where in the pending set the slice the last command named starts. */
static size_t
imap_slice_start(const struct imap_session *s)
{
	size_t	from = s->pending_from;

	while (from > 0 && from % IMAP_SET_RANGES != 0)
		from--;
	if (from == s->pending_from && from >= IMAP_SET_RANGES)
		from -= IMAP_SET_RANGES;
	return (from);
}

/* The slice of the pending set that the last command named, formatted
 * again for the next command on the same messages. Caller frees. */
static char *
imap_slice_again(struct imap_session *s)
{
	size_t	from = imap_slice_start(s);

	return (uidset_format(&s->pending, &from, IMAP_SET_RANGES));
}

/* The COPY or MOVE to the trash folder was refused with [TRYCREATE]: the
 * folder does not exist. Create it, once per session, and then send the
 * same slice again (imap_trash_created); 0, or -1 when it was tried
 * already (the caller fails the folder). */
static int
imap_trash_create(struct imap_session *s)
{
	char	*q;

	if (s->trash_create_tried)
		return (-1);
	if (s->trash_wire == NULL || (q = imap_quote(s, s->trash_wire)) == NULL)
		return (-1);
	s->trash_create_tried = 1;
	imap_log(s, LOG_LVL_NOTICE, "%s \"%s\" does not exist on the "
	    "server: creating it", imap_trash_what(s), s->trash_name);
	imap_enter(s, IMAP_S_TRASH_CREATE);
	imap_send(s, "CREATE %s", q);
	free(q);
	return (0);
}

/* The COPY or MOVE to the trash folder was refused: a missing folder
 * ([TRYCREATE]) is created, anything else fails the folder; the messages
 * stay on the server either way until the move is acknowledged. */
static void
imap_trash_refused(struct imap_session *s, const struct imap_response *r)
{
	char	*text;
	int	 copy = s->state == IMAP_S_COPY;

	if (r->code == IMAP_CODE_TRYCREATE && !s->delim_known &&
	    strchr(s->trash_name, '/') != NULL) {
		/* Created under a guessed separator, it would be a folder
		 * of another name (INBOX/Trash on a '.' server). */
		imap_folder_fail(s, EXIT_PROTOCOL, "%s \"%s\" does not exist "
		    "on the server, and is not created: its name has levels "
		    "and the server's hierarchy separator is unknown (LIST "
		    "\"\" \"\" was refused); the messages stay on the server, "
		    "not deleted (retried next time)", imap_trash_what(s),
		    s->trash_name);
		return;
	}
	if (r->code == IMAP_CODE_TRYCREATE && imap_trash_create(s) == 0)
		return;
	text = imap_server_text(r);
	if (s->trash_default && (r->code == IMAP_CODE_OVERQUOTA ||
	    r->code == IMAP_CODE_LIMIT)) {
		/* keep = no asked for deletion, and nobody chose this
		 * folder: a full trash must not keep the mailbox full
		 * (review r10 03). A configured one fails below. */
		imap_log(s, LOG_LVL_WARNING, "%s delivered messages to the "
		    "server's \\Trash folder \"%s\" refused (%s): %s; "
		    "flagging them \\Deleted and expunging instead (set "
		    "trash_folder = \"\" to always do so)", copy ? "copying" :
		    "moving", s->trash_name, r->code_name, text);
		free(text);
		imap_after_copy(s);
		return;
	}
	imap_folder_fail(s, EXIT_PROTOCOL, "%s delivered messages to %s "
	    "\"%s\" failed%s: %s; they stay on the server, not deleted "
	    "(retried next time)", copy ? "copying" : "moving",
	    imap_trash_what(s), s->trash_name,
	    copy ? " (the server has no MOVE)" : "", text);
	free(text);
}

/* The answer to the trash folder's CREATE: on OK (or [ALREADYEXISTS], a
 * race with another client), the refused slice goes again. */
static void
imap_trash_created(struct imap_session *s, const struct imap_response *r,
    int ok)
{
	char	*text;

	if (!ok && r->code != IMAP_CODE_ALREADYEXISTS) {
		text = imap_server_text(r);
		imap_folder_fail(s, EXIT_PROTOCOL, "%s \"%s\" does not "
		    "exist and creating it failed: %s; the delivered messages "
		    "stay on the server, not deleted (retried next time)",
		    imap_trash_what(s), s->trash_name, text);
		free(text);
		return;
	}
	s->pending_from = imap_slice_start(s);
	imap_actions(s);
}

/* The COPY to the trash folder is acknowledged: only now are the
 * originals flagged \Deleted (then expunged as with keep = no). A second
 * COPY after a crash in between leaves a duplicate in the trash, never a
 * loss. */
static void
imap_after_copy(struct imap_session *s)
{
	char	*set;

	set = imap_slice_again(s);
	imap_enter(s, IMAP_S_STORE);
	imap_send(s, "UID STORE %s +FLAGS.SILENT (\\Seen \\Deleted)", set);
	free(set);
}

/* After the \Deleted STORE: expunge exactly our messages. */
static void
imap_after_store(struct imap_session *s)
{
	char	*set;

	if (s->ac->keep) {
		imap_actions(s);
		return;
	}
	if (s->caps & IMAP_CAP_UIDPLUS) {
		/* The slice just stored: re-format it for UID EXPUNGE. */
		set = imap_slice_again(s);
		imap_enter(s, IMAP_S_EXPUNGE);
		imap_send(s, "UID EXPUNGE %s", set);
		free(set);
		return;
	}
	/* Without UIDPLUS, EXPUNGE removes every \Deleted message: only when
	 * those are all ours. */
	imap_search(s, IMAP_S_SEARCH_DELETED, "DELETED");
}

/*
 * IDLE (RFC 2177).
 */

/* Forgets one round's messages; the folder stays selected and open. */
static void
imap_round_reset(struct imap_session *s)
{
	uidset_clear(&s->unseen);
	uidset_clear(&s->batch);
	uidset_clear(&s->answered);
	uidset_clear(&s->delivered);
	uidset_clear(&s->passed);
	uidset_clear(&s->recognised);
	uidset_clear(&s->ambiguous);
	msgids_set_clear(&s->known);
	s->suspect_known = 0;
	uidset_clear(&s->verify);
	imap_staged_clear(s);
	imap_relink_clear(s);
	s->uidv_changed = 0;
	s->suspect_pass = 0;
	s->untouched = 0;
	free(s->msgs);
	s->msgs = NULL;
	s->nmsgs = s->amsgs = s->next_msg = 0;
	s->max_seen_uid = 0;
	s->sized = 0;
	s->unseen_searched = 0;
	s->f_msgs = 0;
	s->f_bytes = 0;
	s->f_down = 0;
	s->budget_stop = 0;
	clock_gettime(CLOCK_MONOTONIC, &s->f_start);
}

/* The timeout for ordinary commands, back after IDLE switched it off. */
static void
imap_timeout_restore(struct imap_session *s)
{
	conn_set_timeout(s->conn, s->ac->timeout != 0 ? s->ac->timeout :
	    CONN_DEFAULT_TIMEOUT);
}

/* Opens the IDLE folder's Maildir again for a round (it is closed while
 * idling); -1 when that failed and the folder with it. */
static int
imap_idle_reopen(struct imap_session *s)
{
	char	*cause;

	if (s->md != NULL)
		return (0);
	s->md = maildir_open_owned(s->ac->maildir, s->folders[s->cur].local,
	    state_dir(s->st), s->ac->name, &cause);
	if (s->md != NULL)
		return (0);
	imap_folder_fail(s, EXIT_LOCAL, "%s", cause);
	free(cause);
	return (-1);
}

/* Whether the owner forbids fetching now (the daily budget): new mail
 * then waits on the server, the session in IDLE. */
static int
imap_idle_blocked(struct imap_session *s)
{
	if (s->mode != IMAP_MODE_IDLE || s->may_fetch_cb == NULL)
		return (0);
	return (!s->may_fetch_cb(s, s->done_arg));
}

/* Leaves IDLE: DONE, whose OK must come within wait seconds. */
static void
imap_idle_leave(struct imap_session *s, unsigned int wait)
{
	evtimer_del(s->ev_idle);
	conn_set_idle(s->conn, 0);
	imap_enter(s, IMAP_S_IDLE_DONE);
	log_msg(LOG_LVL_DEBUG, &s->ctx, "> DONE");
	if (conn_write(s->conn, "DONE\r\n", 6) != 0) {
		imap_fail(s, EXIT_NETWORK, "cannot send DONE: %s",
		    conn_error(s->conn));
		return;
	}
	/* IDLE's tagged completion is due now: its answer is paced. */
	s->cmd_open = 1;
	conn_set_timeout(s->conn, wait);
}

/* The server's "+": we are idling. Only our own timer runs now; the
 * connection's would take the server's silence for a dead peer. */
static void
imap_idle_started(struct imap_session *s)
{
	struct timeval	tv;

	s->result.idled = 1;
	imap_pace_end(s);
	if (s->stopping || (s->wake && !imap_idle_blocked(s))) {
		imap_idle_leave(s, s->stopping ? IMAP_STOP_WAIT :
		    IMAP_IDLE_WAIT);
		return;
	}
	imap_enter(s, IMAP_S_IDLING);
	conn_set_timeout(s->conn, 0);
	conn_set_idle(s->conn, 1);
	tv.tv_sec = s->ac->idle_interval != 0 ? s->ac->idle_interval : 600;
	tv.tv_usec = 0;
	evtimer_add(s->ev_idle, &tv);
}

/* An IDLE session resolved the trash when it connected; another session
 * of the account (a poll) may have found the \Trash role on another
 * folder since: the account's most recent trash (state_trashed_last).
 * Moving on into the old one would fill a folder that is no longer the
 * trash for as long as the connection lives (review r11 13): the session
 * ends before its next round, and the reconnect resolves the roles
 * again. */
static int
imap_idle_trash_stale(struct imap_session *s)
{
	const char	*now;

	if (s->mode != IMAP_MODE_IDLE || s->ac->keep || s->trash_wire == NULL ||
	    (now = state_trashed_last(s->st)) == NULL ||
	    strcasecmp(now, s->trash_wire) == 0)
		return (0);
	imap_log(s, LOG_LVL_NOTICE, "keep = no: the trash is now \"%s\" "
	    "(found by another connection); reconnecting to take the "
	    "server's folder roles again", now);
	return (1);
}

/* New mail is announced (EXISTS, RECENT, a FETCH of a new UID). */
static void
imap_idle_wake(struct imap_session *s)
{
	if (s->mode != IMAP_MODE_IDLE || !s->in_loop)
		return;
	s->wake = 1;
	if (s->state == IMAP_S_IDLING && !imap_idle_blocked(s))
		imap_idle_leave(s, IMAP_IDLE_WAIT);
}

/* One round of the IDLE folder is over: report it, then IDLE again (or
 * fetch again at once if more mail was announced meanwhile). */
static void
imap_idle_round_done(struct imap_session *s)
{
	uint64_t	downloaded = s->f_down;

	/* Reported here, not again by imap_session_downloaded. */
	s->f_down = 0;
	/* A failed round's downloads count for the budget too, as a
	 * failed poll's do (daemon_account_done). */
	if (s->delivered_cb != NULL && (downloaded > 0 ||
	    (s->f_msgs > 0 && !s->folder_failed)))
		s->delivered_cb(s, s->done_arg, s->folder_failed ? 0 :
		    s->f_msgs, s->f_bytes, downloaded);
	if (s->folder_failed) {
		/* The owner reconnects later; the state is saved. */
		imap_enter(s, IMAP_S_LOGOUT);
		return;
	}
	imap_round_reset(s);
	if (s->stopping || imap_idle_trash_stale(s)) {
		imap_enter(s, IMAP_S_LOGOUT);
		return;
	}
	/* The scratch buffer is only needed while bodies stream in: idle
	 * sessions do not keep it (many accounts, little memory). */
	free(s->scratch);
	s->scratch = NULL;
	if (s->wake && !imap_idle_blocked(s)) {
		imap_pass_begin(s);
		return;
	}
	/* Nor its Maildir's three directory descriptors: reopened for the
	 * next round (a thousand accounts would hold 3000 of them). */
	maildir_close(s->md);
	s->md = NULL;
	s->in_loop = 1;
	imap_enter(s, IMAP_S_IDLE);
}

/* The IDLE interval is over: DONE and IDLE again, well before the server
 * (or a router) drops a silent connection. */
static void
imap_idle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session	*s = arg;

	(void)fd;
	(void)what;
	if (s->state != IMAP_S_IDLING)
		return;
	log_msg(LOG_LVL_DEBUG, &s->ctx, "re-issuing IDLE");
	imap_idle_leave(s, IMAP_IDLE_WAIT);
	if (s->state == IMAP_S_DONE)
		imap_finish(s);
}

/* A polite stop took too long: close. */
static void
imap_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session	*s = arg;

	(void)fd;
	(void)what;
	if (s->state == IMAP_S_MAX)
		return;
	imap_log(s, LOG_LVL_NOTICE, "no answer from the server within %d s "
	    "of stopping (state %s); closing the connection", IMAP_STOP_WAIT,
	    imap_state_names[s->state]);
	s->closing = 1;
	imap_enter(s, IMAP_S_DONE);
	imap_finish(s);
}

/*
 * local_flags = mirror after delivery (imap_flags.h): when a folder's
 * fetch is through, the server's flags of what was delivered from it
 * (UIDs up to last_uid) are asked for, only those changed since the saved
 * HIGHESTMODSEQ where CONDSTORE allows, and applied to the Maildir files.
 * The HIGHESTMODSEQ the SELECT gave is saved only after they are applied
 * (point "imap-flags-applied" lies between): a run killed in between asks
 * for the same changes again and renames nothing twice. A change made
 * after the SELECT is in the answer too, and asked for again next time.
 */

/* Whether delivered files follow the server's flags: mirror, and the
 * messages stay on the server. */
static int
imap_flags_wanted(const struct imap_session *s)
{
	return (s->ac->local_flags == LOCAL_FLAGS_MIRROR && s->ac->keep);
}

/* Whether the folder's sync is still to run before it is done. */
static int
imap_flags_due(const struct imap_session *s)
{
	return (imap_flags_wanted(s) && s->sf != NULL && !s->folder_failed &&
	    !s->flags_done && !s->stopping && s->uidvalidity != 0 &&
	    s->sf->uidvalidity == s->uidvalidity && s->sf->last_uid > 0);
}

/* The messages of the batch that a matching pass recognised after a
 * UIDVALIDITY change get UID map lines under their new UIDs, naming the
 * files delivered before (review r24 01: they stopped following the
 * server's flags). One the map has no line for (delivered by an older
 * version, or a copy of the same content beyond the files the map names
 * for it) is said. */
static void
imap_flags_relink(struct imap_session *s)
{
	char	*cause;
	size_t	 linked;

	if (s->nrelink == 0)
		return;
	if (imap_flags_map_relink(state_dir(s->st), s->ac->name,
	    s->folders[s->cur].remote, s->uidvalidity, s->relink_uids,
	    s->relink_digests, s->nrelink, &linked, &cause) != 0) {
		imap_log(s, LOG_LVL_WARNING, "%s", cause);
		free(cause);
	} else if (linked < s->nrelink)
		imap_log(s, LOG_LVL_NOTICE, "%zu of the %zu message(s) "
		    "recognised after the UIDVALIDITY change are not in the "
		    "UID map (delivered by an older version, or more copies "
		    "of the same content than it names files for): their "
		    "files no longer follow the server's flags",
		    s->nrelink - linked,
		    s->nrelink);
	imap_relink_clear(s);
}

/* The batch's UIDs and final names into the UID map, before its journal:
 * whatever of it becomes visible, by this run or a recovery, is mapped. */
static void
imap_flags_map_batch(struct imap_session *s)
{
	struct imap_flags_entry	*e;
	char			*cause;
	size_t			 i;

	if (!imap_flags_wanted(s))
		return;
	imap_flags_relink(s);
	if (s->nstaged == 0)
		return;
	e = xreallocarray(NULL, s->nstaged, sizeof *e);
	for (i = 0; i < s->nstaged; i++) {
		e[i].uid = s->staged[i].uid;
		e[i].known = s->staged[i].flags;
		e[i].final = s->staged[i].final;
		e[i].digest = s->staged[i].digest;
	}
	if (imap_flags_map_add(state_dir(s->st), s->ac->name,
	    s->folders[s->cur].remote, s->uidvalidity, e, s->nstaged,
	    &cause) != 0) {
		imap_log(s, LOG_LVL_WARNING, "%s", cause);
		free(cause);
	}
	free(e);
}

/* The SELECT's HIGHESTMODSEQ. One that is no mod-sequence (0:
 * imap_parse.h) is said; the sync then fetches every flag. */
static void
imap_flags_highest(struct imap_session *s, const struct imap_response *r)
{
	s->highestmodseq = r->code_num;
	if (r->code_num == 0 && imap_flags_wanted(s))
		imap_log(s, LOG_LVL_WARNING, "the server's [HIGHESTMODSEQ] is "
		    "no mod-sequence (not a number of 1 to 63 bits)");
}

/* Sends the folder's flag FETCH, or finds nothing to ask: a poll whose
 * SELECT gives the HIGHESTMODSEQ already synced (an IDLE round asks
 * anyway: its SELECT's value is older than the round). */
static void
imap_flags_start(struct imap_session *s)
{
	enum imap_flags_plan	 plan;
	char			*why;

	s->flags_done = 1;
	plan = imap_flags_plan(s->sf, s->uidvalidity, s->condstore,
	    s->highestmodseq, &why);
	if (why != NULL) {
		imap_log(s, LOG_LVL_WARNING, "%s", why);
		free(why);
	}
	if (plan == IMAP_FLAGS_CHANGED && s->mode != IMAP_MODE_IDLE &&
	    s->highestmodseq == s->sf->modseq) {
		imap_log(s, LOG_LVL_DEBUG, "no flag changed (HIGHESTMODSEQ "
		    "%llu)", (unsigned long long)s->highestmodseq);
		imap_folder_done(s);
		return;
	}
	imap_flags_sync_free(s->fsync);
	s->fsync = imap_flags_sync_new();
	s->flags_over = 0;
	s->flags_top = 0;
	s->flags_rise = 0;
	imap_enter(s, IMAP_S_FLAGS);
	if (plan == IMAP_FLAGS_CHANGED)
		imap_send(s, "UID FETCH 1:%u (UID FLAGS) (CHANGEDSINCE %llu)",
		    s->sf->last_uid, (unsigned long long)s->sf->modseq);
	else
		imap_send(s, "UID FETCH 1:%u (UID FLAGS)", s->sf->last_uid);
}

/* Most distinct UIDs an honest flag answer names: what the folder holds
 * (EXISTS with a margin), no more than the UIDs below UIDNEXT with one,
 * nor than the UIDs asked for (1:last_uid). Not UID SEARCH's pacing
 * ceiling of 1,000,000 (review r26 06: an honest larger folder was taken
 * for a hostile one); memory stays bound by IMAP_FLAGS_MAX. */
static size_t
imap_flags_cap(const struct imap_session *s)
{
	size_t	cap = imap_msgs_cap(s);

	if (s->uidnext > 0 && (size_t)s->uidnext - 1 + IMAP_MSGS_SLACK < cap)
		cap = (size_t)s->uidnext - 1 + IMAP_MSGS_SLACK;
	if (s->sf->last_uid < cap)
		cap = s->sf->last_uid;
	return (cap < IMAP_FLAGS_MAX ? cap : IMAP_FLAGS_MAX);
}

/* The flag answer passed its cap: a folder too large to sync, or a
 * server fault. */
static void
imap_flags_over(struct imap_session *s)
{
	s->flags_over = 1;
	if (imap_flags_cap(s) == IMAP_FLAGS_MAX)
		imap_log(s, LOG_LVL_WARNING, "the folder holds more messages "
		    "than a flag sync takes (%u): its Maildir flags are not "
		    "synced", (unsigned int)IMAP_FLAGS_MAX);
	else
		imap_log(s, LOG_LVL_WARNING, "the server's flag answer names "
		    "more messages than the folder holds (over %zu): the rest "
		    "is ignored, and the Maildir flags are not synced",
		    imap_flags_cap(s));
}

/* One FETCH of the sync: a delivered UID's flags. Each UID above those
 * noted is a new result for the pacing (a full answer is long, and the
 * UIDs bound it); a repeat is a note. An honest answer names at most
 * what the folder holds (imap_flags_cap): past that the rest is ignored,
 * a note, so that a server dripping ascending UIDs is cut as one that
 * stalls (review r24 05). */
static void
imap_flags_untagged(struct imap_session *s, const struct imap_response *r)
{
	const struct imap_node	*n, *flags;
	uint32_t		 uid;

	if ((n = imap_parse_fetch_item(r, "UID")) == NULL ||
	    imap_parse_node_u32(n, &uid) != 0 || uid == 0 ||
	    uid > s->sf->last_uid ||
	    (flags = imap_parse_fetch_item(r, "FLAGS")) == NULL ||
	    flags->type != IMAP_NODE_LIST || s->flags_over)
		return;
	if ((uid > s->flags_top && ++s->flags_rise > imap_flags_cap(s)) ||
	    imap_flags_sync_note(s->fsync, uid, imap_flags_mask(flags),
	    imap_flags_cap(s)) != 0)
		imap_flags_over(s);
	else if (uid > s->flags_top) {
		s->flags_top = uid;
		s->pace_new = 1;
	}
}

/* The answers applied: the HIGHESTMODSEQ they cover is the folder's
 * (none without CONDSTORE: the next sync fetches every flag again). */
static void
imap_flags_applied(struct imap_session *s, const struct imap_flags_stats *st)
{
	fault_point("imap-flags-applied");
	if (s->condstore && s->highestmodseq != 0) {
		s->sf->modseq = s->highestmodseq;
		s->sf->modseq_uidvalidity = s->uidvalidity;
	} else {
		s->sf->modseq = 0;
		s->sf->modseq_uidvalidity = 0;
	}
	imap_log(s, st->renamed > 0 ? LOG_LVL_INFO : LOG_LVL_DEBUG,
	    "flags: %zu answer(s), %zu delivered file(s) named, %zu given the "
	    "server's flags, %zu no longer in the Maildir",
	    imap_flags_sync_count(s->fsync), st->mapped, st->renamed,
	    st->absent);
}

/* The sync's FETCH ended: apply what it answered, then the folder is
 * done. A refusal or a local failure is logged and costs the folder
 * nothing (its mail is delivered); the saved modseq stays, so the next
 * sync asks again. */
static void
imap_flags_done(struct imap_session *s, const struct imap_response *r,
    int ok)
{
	struct imap_flags_stats	 st;
	char			*cause, *text;

	if (!ok) {
		text = imap_server_text(r);
		imap_log(s, LOG_LVL_WARNING, "the server refused its flags "
		    "(%s); the Maildir flags follow at the next sync", text);
		free(text);
	} else if (s->flags_over) {
		/* Said when it went over: nothing applied. */
	} else if (imap_flags_sync_apply(s->fsync, state_dir(s->st),
	    s->ac->name, s->folders[s->cur].remote, s->uidvalidity,
	    maildir_path(s->md), &st, &cause) != 0) {
		imap_log(s, LOG_LVL_ERROR, "cannot give the Maildir files the "
		    "server's flags: %s", cause);
		free(cause);
	} else
		imap_flags_applied(s, &st);
	imap_flags_sync_free(s->fsync);
	s->fsync = NULL;
	imap_folder_done(s);
}

/* The folder is finished (or failed): save, summarise, next. */
static void
imap_folder_done(struct imap_session *s)
{
	struct timespec	 now;
	double		 secs;

	if (imap_flags_due(s)) {
		imap_flags_start(s);
		return;
	}
	s->flags_done = 0;	/* an IDLE round's next one syncs again */
	if (s->sf != NULL && !s->folder_failed) {
		imap_journal_prune(s);
		if (imap_save_state(s) != 0)
			return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (now.tv_sec - s->f_start.tv_sec) +
	    (now.tv_nsec - s->f_start.tv_nsec) / 1e9;
	imap_suspect_nil_log(s);
	if (s->folder_failed)
		s->result.folders_failed++;
	else {
		s->result.folders_ok++;
		imap_log(s, s->f_msgs > 0 ? LOG_LVL_INFO : LOG_LVL_DEBUG,
		    "fetched %lu message(s), %llu bytes written (%llu bytes "
		    "downloaded) in %.2f s", s->f_msgs,
		    (unsigned long long)s->f_bytes,
		    (unsigned long long)s->f_down, secs);
	}
	s->result.messages += s->f_msgs;
	s->result.bytes += s->f_bytes;
	s->result.downloaded += s->f_down;
	/* An IDLE round reports its own (imap_idle_round_done). */
	if (s->mode != IMAP_MODE_IDLE)
		s->f_down = 0;
	if (s->f_msgs > 0 && s->status == EXIT_NOTHING_NEW)
		s->status = EXIT_NEW_MAIL;
	if (s->mode == IMAP_MODE_IDLE) {
		imap_idle_round_done(s);
		return;
	}
	/* The budget is used up: no other folder is fetched either. */
	s->cur = s->budget_stop ? s->nfolders : s->cur + 1;
	imap_next_folder(s);
}

/*
 * Message bodies.
 */

/* The largest body taken: a server may send more than its RFC822.SIZE
 * said, and the limit holds all the same. */
static uint64_t
imap_body_max(const struct imap_session *s)
{
	return (s->ac->max_message_size != 0 ? s->ac->max_message_size :
	    IMAP_BODY_MAX);
}

/* The most a body literal may announce before fetch_size_lie takes it
 * for a lie, the size the server gave for it being said: without one (0:
 * a UID the sizes pass left out, whose own answer has none either), the
 * literal is not judged by a size, and the limit alone let a server drip
 * 200 MB at its pace within the default 256 MB, for hours (review r16,
 * finding 07); so it is bounded by IMAP_UNSIZED_MAX as well. */
static uint64_t
imap_body_bound(const struct imap_session *s, uint64_t said)
{
	uint64_t	max = imap_body_max(s);

	return (said == 0 && max > IMAP_UNSIZED_MAX ? IMAP_UNSIZED_MAX : max);
}

/* The RFC822.SIZE the sizes pass listed for uid in this batch; for an
 * unknown UID (0: not before the literal), the batch's largest. */
static uint64_t
imap_listed_size(const struct imap_session *s, uint32_t uid)
{
	uint64_t	max = 0;
	size_t		i;

	for (i = 0; i < s->next_msg; i++) {
		if (!uidset_has(&s->batch, s->msgs[i].uid))
			continue;
		if (uid != 0 && s->msgs[i].uid == uid)
			return (s->msgs[i].size);
		if (s->msgs[i].size > max)
			max = s->msgs[i].size;
	}
	return (max);
}

/* uid leaves the missing set (it may be one asked for again). */
static void
imap_missing_drop(struct imap_session *s, uint32_t uid)
{
	imap_set_drop(&s->missing, uid);
}

/* The server lied about uid: the first time it becomes a suspect (asked
 * for alone, after the others, next time); a suspect lied about again
 * is passed over for good (last_uid is past it already). 1 when it is
 * passed over for good. */
static int
imap_lie_suspect(struct imap_session *s, uint32_t uid)
{
	int	again = uidset_has(&s->suspect, uid);

	if (again)
		imap_set_drop(&s->suspect, uid);
	else
		uidset_add(&s->suspect, uid);
	imap_suspect_save(s);
	return (again);
}

/* The end of the log line of a lie about uid (0: unknown), after
 * imap_lie_suspect said whether it is passed over for good. */
static const char *
imap_lie_outcome(uint32_t uid, int for_good)
{
	if (uid == 0)
		return ("");
	if (for_good)
		return (", and passing this message over for good (it stays "
		    "on the server): the server sent too much again when it "
		    "was asked for alone");
	return ("; this message will be asked for once more, alone, after "
	    "the others; if the server sends too much again it is skipped "
	    "for good (it stays on the server)");
}

/* After imap_sizes_lie: uid is passed (a suspect, or for good), what lies
 * below it is still owed. The missing set takes the whole range (UIDs the
 * server no longer lists drop out of it next time), since an answer may
 * come out of order and a UID below uid not yet listed must not be lost;
 * but, while the first fetch filters (first_fetch = unseen), only what it
 * would take (imap_unlisted_add): a missing UID is fetched whatever its
 * flags, and with keep = no the user's read mail would be deleted (review
 * r9 12). */
static void
imap_sizes_lie_record(struct imap_session *s, uint32_t uid)
{
	imap_missing_drop(s, uid);
	if (uid > s->sf->last_uid + 1)
		imap_unlisted_add(s, &s->missing, s->sf->last_uid + 1, uid - 1);
	imap_skip_drop(s, &s->missing);	/* a recovered journal's */
	if (uid > s->sf->last_uid)
		s->sf->last_uid = uid;
	imap_missing_save(s);
	(void)imap_save_state(s);
}

/* A lie ends the session in the middle of a batch: what the batch got
 * before it came whole, so it is made durable as at a checkpoint, not
 * fetched again: the liar holds back no message that came before it.
 * What could not be made durable is fetched again (or finished by the
 * journal's recovery). */
static void
imap_lie_keep(struct imap_session *s)
{
	char	*cause;

	maildir_deliver_abort(s->dlv);
	s->dlv = NULL;
	if (s->nstaged == 0)
		return;
	/* A batch the folder failed in was rolled back by the Maildir (a
	 * failed stage): journaling its names would record files that do
	 * not exist as delivered. */
	if (s->folder_failed) {
		imap_staged_clear(s);
		uidset_clear(&s->delivered);
		return;
	}
	if (imap_batch_durable(s, &cause) == 0) {
		if (!uidset_empty(&s->delivered))
			imap_log(s, LOG_LVL_NOTICE, "the %zu message(s) received "
			    "before it are delivered", uidset_count(
			    &s->delivered));
		return;
	}
	if (cause != NULL) {
		imap_log(s, LOG_LVL_ERROR, "%s", cause);
		imap_status(s, EXIT_LOCAL);
		free(cause);
	}
	imap_staged_clear(s);
	uidset_clear(&s->delivered);
}

/* A server lie bounded (or a literal past the daily budget:
 * imap_body_budget): the message uid (0: none known) is passed (a
 * suspect, or for good: imap_lie_suspect), and so is what the batch
 * delivered or was done with
 * before it (imap_lie_keep): last_uid moves to the highest of them, and
 * the messages of the batch below it not delivered, now that the session
 * ends, join the missing set to be asked for again. The server actions
 * for what was delivered are left pending in the state, for the next
 * run. Saved at once: the session ends without a checkpoint. */
static void
imap_body_lie_record(struct imap_session *s, uint32_t uid)
{
	struct uidset	now;
	uint32_t	top = uid, u;
	size_t		i;

	imap_lie_keep(s);
	if (uidset_max(&s->delivered) > top)
		top = uidset_max(&s->delivered);
	if (uidset_max(&s->passed) > top)
		top = uidset_max(&s->passed);
	imap_missing_drop(s, uid);
	uidset_init(&now);
	imap_undelivered(s, &s->missing, &now);
	uidset_clear(&s->missing);
	s->missing = now;
	for (i = 0; i < s->next_msg; i++) {
		u = s->msgs[i].uid;
		if (u < top && u != uid && u > s->sf->last_uid &&
		    uidset_has(&s->batch, u) && !uidset_has(&s->delivered, u) &&
		    !uidset_has(&s->passed, u))
			uidset_add(&s->missing, u);
	}
	if (top > s->sf->last_uid)
		s->sf->last_uid = top;
	imap_journal_prune(s);
	imap_batch_owed(s);
	imap_missing_save(s);
	(void)imap_save_state(s);
}

/* The UID of the body FETCH answer being parsed: its UID item, else its
 * message number (imap_uid_of_seq), else the one message of the batch
 * whose body has not come (imap_uid_unanswered); 0 when none of the
 * batch. */
static uint32_t
imap_body_uid(struct imap_session *s)
{
	const struct imap_node	*n;
	uint32_t		 uid = 0;

	n = imap_parse_fetch_item(imap_parse_response(s->parser), "UID");
	if (n == NULL || imap_parse_node_u32(n, &uid) != 0) {
		uid = imap_uid_of_seq(s);
		/* A message whose body came whole is not the one lied
		 * about (a server that numbers its answers wrong). */
		if (uid == 0 || uidset_has(&s->answered, uid))
			uid = imap_uid_unanswered(s);
	}
	if (uid != 0 && !uidset_has(&s->batch, uid))
		uid = 0;
	return (uid);
}

/*
 * A literal is read at the server's pace: a server may announce 4 GB for
 * a message whose RFC822.SIZE said 700 bytes and drip it at just above
 * the pacing floor, weeks with the account's connection held, whether
 * the body is kept (within max_message_size, or with no limit) or
 * streamed past (over it). Such a literal can only be cut by closing the
 * connection. One far over RFC822.SIZE is a lie (fetch_size_lie): the
 * session ends (exit 5) and the message becomes a suspect, so the next
 * run fetches the others first and then asks for it alone; lied about
 * again, it is passed over for good. Returns 1 when the session was
 * ended.
 */
static int
imap_body_lie(struct imap_session *s, uint64_t size, const char *what)
{
	uint32_t	 uid = imap_body_uid(s);
	uint64_t	 said;
	int		 for_good = 0;
	char		*why;

	said = imap_listed_size(s, uid);
	if (uid != 0 && uidset_has(&s->unsized, uid))
		said = imap_fetch_size(imap_parse_response(s->parser));
	if (!fetch_size_lie(size, said, imap_body_bound(s, said)))
		return (0);
	if (uid != 0)
		for_good = imap_lie_suspect(s, uid);
	if (said == 0)
		xasprintf(&why, "no size was known for it (none listed, none "
		    "in its answer: at most %llu bytes are taken so)",
		    (unsigned long long)imap_body_bound(s, said));
	else
		xasprintf(&why, "its RFC822.SIZE said %llu (more than twice "
		    "that plus 1 MiB)", (unsigned long long)said);
	s->ctx.uid = uid;
	imap_fail(s, EXIT_PROTOCOL, "the server announced %s of %llu "
	    "bytes while %s: a server error; closing the connection rather "
	    "than reading it%s", what, (unsigned long long)size, why,
	    uid != 0 ? imap_lie_outcome(uid, for_good) : " (neither its UID "
	    "nor its message number tell which message it is)");
	free(why);
	s->ctx.uid = 0;
	if (uid != 0)
		imap_body_lie_record(s, uid);
	return (1);
}

/* The UID of the message whose answer is being parsed, from its message
 * number, for a server that sends the UID item after a literal: the sizes
 * pass noted each UID's number (they rise together, RFC 9051 2.3.1.2),
 * and they hold while no EXPUNGE came since. 0 when unknown, and when two
 * UIDs were noted under the number (a broken server): naming either
 * could pass over a message received in full. */
static uint32_t
imap_uid_of_seq(const struct imap_session *s)
{
	const struct imap_response	*r = imap_parse_response(s->parser);
	uint32_t			 uid = 0;
	size_t				 i;

	if (s->seq_stale || !r->has_number || r->number == 0)
		return (0);
	for (i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].seq != r->number)
			continue;
		if (uid != 0)
			return (0);
		uid = s->msgs[i].uid;
	}
	return (uid);
}

/* For a lie whose answer names no message (no UID before the literal,
 * and a message number that names none, or one whose body came): the
 * one UID of the batch whose body has not come yet, if only one is left
 * (a batch of one, as a suspect's, or the last of its batch); 0 else.
 * Naming it only makes it a suspect: asked for alone next time, where
 * the answer can be about no other, so that a server lying about the
 * same message every time holds back the rest of its batch once, not
 * run after run (review r7 09). */
static uint32_t
imap_uid_unanswered(const struct imap_session *s)
{
	uint32_t	uid = 0, u;
	size_t		i;

	for (i = 0; i < s->batch.n; i++) {
		for (u = s->batch.r[i].lo; ; u++) {
			if (!uidset_has(&s->answered, u)) {
				if (uid != 0)
					return (0);
				uid = u;
			}
			if (u == s->batch.r[i].hi)
				break;
		}
	}
	return (uid);
}

/* The matching pass after a UIDVALIDITY change asks every message's
 * Message-ID header; a server may announce one far larger than the
 * message (RFC822.SIZE, when it came first in the answer, judged by
 * fetch_size_lie; else max_message_size) and drip it: read at its pace, and again every run.
 * Such a literal is the same lie as in imap_body_lie: the session ends
 * (exit 5) and the message becomes a suspect (passed over for good when
 * it was one), still on the server: last_uid moves to it and the UIDs
 * below it go to the missing set, so the next run still matches those
 * (and asks for the others above), then asks for this one alone. Returns
 * 1 when the session was ended. */
static int
imap_sizes_lie(struct imap_session *s, uint64_t size)
{
	const struct imap_response	*r = imap_parse_response(s->parser);
	const struct imap_node		*n;
	uint32_t			 uid = 0;
	uint64_t			 said = imap_fetch_size(r);
	int				 for_good = 0;

	if (!fetch_size_lie(size, said, imap_body_max(s)))
		return (0);
	n = imap_parse_fetch_item(r, "UID");
	if (n == NULL || imap_parse_node_u32(n, &uid) != 0)
		uid = 0;
	if (uid != 0)
		for_good = imap_lie_suspect(s, uid);
	s->ctx.uid = uid;
	imap_fail(s, EXIT_PROTOCOL, "%s, the server announced a Message-ID "
	    "header of %llu bytes (its "
	    "RFC822.SIZE said %llu; max_message_size %llu): a server error; "
	    "closing the connection rather than reading it%s",
	    s->sf->matching ? "matching after the UIDVALIDITY change" :
	    "in the sizes pass (Gmail: the Message-ID tells labels apart)",
	    (unsigned long long)size, (unsigned long long)said,
	    (unsigned long long)imap_body_max(s), uid != 0 ?
	    imap_lie_outcome(uid, for_good) : " (its UID came after it: the "
	    "next run meets it again; report it to the provider)");
	s->ctx.uid = 0;
	if (uid != 0)
		imap_sizes_lie_record(s, uid);
	return (1);
}

/* A BODY[] literal larger than what the daily budget leaves: the batch
 * was planned by the listed sizes, but a literal may be larger (within
 * imap_body_lie's bound: RFC822.SIZE is not exact on every server, and a
 * message fetched without its size has none), and read, it would pass the
 * budget. A FETCH is only stopped by closing the connection, so the
 * session ends there, as at a budget reached between batches (a notice,
 * no error): what the batch got before is made durable and its server
 * actions wait for the next run (imap_body_lie_record), the rest of the
 * batch is owed or above last_uid, and the message itself, its bytes
 * never read (nor counted), becomes a suspect: asked for alone, after the
 * others, so that one that never fits the budget blocks none of them;
 * never passed over for good for this (an honest message may be larger
 * than its RFC822.SIZE). 1 when the session was ended. */
static int
imap_body_budget(struct imap_session *s, uint64_t size)
{
	uint64_t	left = imap_budget_left(s);
	uint32_t	uid;

	if (size <= left)
		return (0);
	uid = imap_body_uid(s);
	s->ctx.uid = uid;
	imap_log(s, LOG_LVL_NOTICE, "daily budget reached inside a batch: the "
	    "server announced a message of %llu bytes (listed as %llu) and the "
	    "budget leaves %llu: closing the connection rather than reading "
	    "it%s", (unsigned long long)size,
	    (unsigned long long)imap_listed_size(s, uid),
	    (unsigned long long)left, uid != 0 ? "; it waits on the server, "
	    "asked for alone after the others when the budget allows" :
	    " (neither its UID nor its message number tell which message "
	    "it is)");
	s->ctx.uid = 0;
	if (uid != 0 && !uidset_has(&s->suspect, uid)) {
		uidset_add(&s->suspect, uid);
		imap_suspect_save(s);
	}
	imap_body_lie_record(s, uid);
	s->f_msgs += uidset_count(&s->delivered);
	if (s->f_msgs > 0)
		imap_status(s, EXIT_NEW_MAIL);
	s->budget_stop = 1;
	s->closing = 1;
	imap_enter(s, IMAP_S_DONE);
	return (1);
}

/* A BODY[] literal of size bytes starts: unless it is a lie or past the
 * daily budget, open a delivery and stream it, or stream it past when it
 * is too big (the FETCH response then skips that one message; the session
 * goes on). */
static void
imap_body_begin(struct imap_session *s, uint64_t size)
{
	char	*cause;

	maildir_deliver_abort(s->dlv);
	s->dlv = NULL;
	s->dlv_failed = 0;
	free(s->dlv_cause);
	s->dlv_cause = NULL;
	s->body_over = 0;
	s->body_lit = size;
	imap_parse_literal_stream(s->parser);
	if (imap_body_lie(s, size, "a message") || imap_body_budget(s, size))
		return;
	if (size > imap_body_max(s)) {
		s->lit = IMAP_LIT_DISCARD;
		s->body_over = size;
		return;
	}
	s->lit = IMAP_LIT_BODY;
	crlf_init(&s->crlf);
	if (s->digest == NULL)
		s->digest = msgids_digest_new();
	else
		msgids_digest_reset(s->digest);
	if ((s->dlv = maildir_deliver_begin(s->md, &cause)) == NULL) {
		s->dlv_failed = 1;
		s->dlv_cause = cause;
	}
}

/* A Message-ID header literal starts: streamed, whatever its size, and
 * kept up to IMAP_HDR_MAX. */
static void
imap_hdr_begin(struct imap_session *s)
{
	s->lit = IMAP_LIT_HEADER;
	s->hdr_len = 0;
	s->hdr_cut = 0;
	imap_parse_literal_stream(s->parser);
}

/* Keeps a chunk of the Message-ID header, or notes that it is too long. */
static void
imap_hdr_chunk(struct imap_session *s, const char *p, size_t len)
{
	size_t	want;

	if (s->hdr_cut || len > IMAP_HDR_MAX - s->hdr_len) {
		s->hdr_cut = 1;
		return;
	}
	want = s->hdr_len + len;
	if (want > s->hdr_alloc) {
		s->hdr_alloc = s->hdr_alloc == 0 ? 1024 : s->hdr_alloc;
		while (s->hdr_alloc < want)
			s->hdr_alloc *= 2;
		s->hdr = xreallocarray(s->hdr, s->hdr_alloc, 1);
	}
	memcpy(s->hdr + s->hdr_len, p, len);
	s->hdr_len += len;
}

/* A literal's header {n} was read: the FETCH items the session acts on
 * are streamed (bodies, Message-ID headers of any size); any other is
 * left to the parser to buffer within its caps. */
static void
imap_literal_begin(struct imap_session *s)
{
	const struct imap_node	*lit, *key;
	const char		*name;

	s->lit = IMAP_LIT_NONE;
	lit = imap_parse_literal(s->parser, &key);
	if (lit == NULL || key == NULL ||
	    (name = imap_parse_node_str(key, NULL)) == NULL)
		return;
	if ((s->state == IMAP_S_FETCH || s->state == IMAP_S_SIZES) &&
	    imap_parse_item_eq(name, IMAP_ITEM_MSGID)) {
		/* A part larger than the whole: the same lie, and read past
		 * at the server's pace all the same. */
		if (s->state == IMAP_S_FETCH && imap_body_lie(s, lit->len,
		    "a Message-ID header"))
			return;
		if (s->state == IMAP_S_SIZES && imap_sizes_lie(s, lit->len))
			return;
		imap_hdr_begin(s);
	}
	else if (s->state == IMAP_S_FETCH && imap_parse_item_eq(name, "BODY[]"))
		imap_body_begin(s, lit->len);
}

/* How many messages the metadata fetch will list, from SELECT's EXISTS
 * and UIDNEXT: allocating that at once, not by doubling, leaves no freed
 * copies behind in the heap (peak RSS on a large first fetch). UIDNEXT is
 * SELECT's: once an IDLE session has fetched past it, it says nothing,
 * and EXISTS (the whole folder) would be far too many; start small. */
static size_t
imap_msgs_hint(const struct imap_session *s)
{
	size_t	n;

	if ((uint64_t)s->uidnext <= (uint64_t)s->sf->last_uid + 1)
		return (64);
	n = s->uidnext - 1 - s->sf->last_uid;
	if (n > s->exists)
		n = s->exists;
	return (n < 64 ? 64 : n);
}

/* Writes bytes of the Maildir file, digesting them on the way: the
 * digest is of the file as delivered. */
static int
imap_body_write(struct imap_session *s, const char *p, size_t len,
    char **cause)
{
	msgids_digest_update(s->digest, p, len);
	return (maildir_deliver_write(s->dlv, p, len, cause));
}

/* Writes one chunk of a body, converted to LF line ends. */
static void
imap_body_chunk(struct imap_session *s, const char *p, size_t len)
{
	char	*cause;
	size_t	 n, out;

	if (s->scratch == NULL)
		s->scratch = xmalloc(IMAP_CHUNK_MAX + 1);
	while (len > 0 && !s->dlv_failed && s->dlv != NULL) {
		n = len < IMAP_CHUNK_MAX ? len : IMAP_CHUNK_MAX;
		out = crlf_convert(&s->crlf, p, n, s->scratch);
		if (imap_body_write(s, s->scratch, out, &cause) != 0) {
			s->dlv_failed = 1;
			s->dlv_cause = cause;
		}
		p += n;
		len -= n;
	}
}

/* Maildir flags for a delivered message (NULL: new/). */
static const char *
imap_local_flags(struct imap_session *s, const struct imap_node *flags,
    char *buf)
{
	size_t	n = 0;

	switch (s->ac->local_flags) {
	case LOCAL_FLAGS_NEW:
		return (NULL);
	case LOCAL_FLAGS_SEEN:
		return ("S");
	case LOCAL_FLAGS_MIRROR:
		if (flags == NULL)
			return (NULL);
		if (imap_parse_list_has(flags, "\\Draft"))
			buf[n++] = 'D';
		if (imap_parse_list_has(flags, "\\Flagged"))
			buf[n++] = 'F';
		if (imap_parse_list_has(flags, "\\Answered"))
			buf[n++] = 'R';
		if (imap_parse_list_has(flags, "\\Seen"))
			buf[n++] = 'S';
		buf[n] = '\0';
		return (n > 0 ? buf : NULL);
	}
	return (NULL);
}

/* The server's flags of a staged message as the UID map knows them: as
 * fetched, plus the \Seen mark_read stores after delivery (it is
 * mailfetchd's own, no server change to mirror: review r24 07). */
static unsigned int
imap_staged_flags(const struct imap_session *s, const struct imap_response *r)
{
	unsigned int	mask;

	mask = imap_flags_mask(imap_parse_fetch_item(r, "FLAGS"));
	if (s->folders[s->cur].mark_read)
		mask |= IMAP_FLAGS_SEEN;
	return (mask);
}

/* RFC822.SIZE of a FETCH response, 0 when absent. */
static uint64_t
imap_fetch_size(const struct imap_response *r)
{
	const struct imap_node	*n;

	n = imap_parse_fetch_item(r, "RFC822.SIZE");
	return (n != NULL && n->type == IMAP_NODE_NUMBER ? n->num : 0);
}

/* The Message-ID from a BODY[HEADER.FIELDS (MESSAGE-ID)] item; NULL when
 * there is none, or when the header was too long to keep (such a message
 * is then not matched by Message-ID: delivered again rather than lost
 * after a UIDVALIDITY change). A literal was streamed into s->hdr; a
 * quoted string is in the response. Caller frees. */
static char *
imap_fetch_msgid(const struct imap_session *s, const struct imap_response *r)
{
	const struct imap_node	*n;
	const char		*text;
	size_t			 len;

	if ((n = imap_parse_fetch_item(r, IMAP_ITEM_MSGID)) == NULL)
		return (NULL);
	if (n->flags & IMAP_NODE_STREAMED) {
		if (s->hdr_cut || s->hdr_len == 0)
			return (NULL);
		return (msgids_parse_header(s->hdr, s->hdr_len));
	}
	if ((text = imap_parse_node_str(n, &len)) == NULL)
		return (NULL);
	return (msgids_parse_header(text, len));
}

/* Whether this response's Message-ID header was too long to keep. */
static int
imap_hdr_was_cut(const struct imap_session *s, const struct imap_response *r)
{
	const struct imap_node	*n;

	n = imap_parse_fetch_item(r, IMAP_ITEM_MSGID);
	return (n != NULL && (n->flags & IMAP_NODE_STREAMED) && s->hdr_cut);
}

/* A body for a UID of this batch that is not a byte-identical repeat of
 * one already received under it (too big, NIL, or other bytes): if the
 * UID was already delivered or passed over, the server holds one of two
 * messages under it, and which one is unknown. Acting on the UID (\Seen,
 * delete, move) could then hit the one not delivered: it gets no server
 * action. */
static void
imap_body_other(struct imap_session *s, const struct log_ctx *mctx)
{
	uint32_t	uid = mctx->uid;

	if (uid == 0 || !uidset_has(&s->batch, uid) ||
	    (!uidset_has(&s->delivered, uid) && !uidset_has(&s->passed, uid)))
		return;
	if (!uidset_has(&s->ambiguous, uid))
		log_msg(LOG_LVL_WARNING, mctx, "the server sent different "
		    "messages under the same UID; delivering each it can, and "
		    "leaving this UID alone on the server (no \\Seen, no "
		    "delete or move)");
	uidset_add(&s->ambiguous, uid);
}

/* A FETCH response whose body was over the limit: that message is passed
 * over for good (last_uid moves past it, as for one whose RFC822.SIZE is
 * over the limit), and the batch goes on. */
static void
imap_body_too_big(struct imap_session *s, const struct imap_response *r,
    const struct log_ctx *mctx, uint64_t sent)
{
	log_msg(LOG_LVL_WARNING, mctx, "the server sent a message of %llu "
	    "bytes (its RFC822.SIZE said %llu), larger than max_message_size "
	    "(%llu); skipped", (unsigned long long)sent,
	    (unsigned long long)imap_fetch_size(r),
	    (unsigned long long)imap_body_max(s));
	imap_body_other(s, mctx);
	if (mctx->uid != 0 && uidset_has(&s->batch, mctx->uid) &&
	    !uidset_has(&s->delivered, mctx->uid))
		uidset_add(&s->passed, mctx->uid);
}

/* A message matched by Message-ID and size after a UIDVALIDITY change
 * (or a suspect's, imap_suspect_known), now fully received: 1 when its content is that of a message delivered
 * before (its file is dropped, the batch counts it as done, and it is
 * owed the server action of a delivered message), 0 to
 * deliver it (other content, or a log line from before digests). */
static int
imap_verified(struct imap_session *s, const struct imap_response *r,
    const struct log_ctx *mctx, const unsigned char *digest)
{
	const char	*when = s->uidv_changed ? " the UIDVALIDITY change" :
			    "";
	char		*msgid;
	int		 same;

	msgid = imap_fetch_msgid(s, r);
	same = msgids_set_has_digest(&s->known, msgid, imap_fetch_size(r),
	    digest) || msgids_set_has_digest(&s->known, msgid, s->body_lit,
	    digest);
	free(msgid);
	if (!same) {
		log_msg(LOG_LVL_NOTICE, mctx, "same Message-ID and size as a "
		    "message delivered before%s, but not known to have the "
		    "same content; delivering it", when);
		return (0);
	}
	log_msg(LOG_LVL_DEBUG, mctx, "the same content as a message "
	    "delivered before%s; not delivered again", when);
	maildir_deliver_abort(s->dlv);
	s->dlv = NULL;
	uidset_add(&s->passed, mctx->uid);
	uidset_add(&s->recognised, mctx->uid);
	if (s->uidv_changed && imap_flags_wanted(s)) {
		s->relink_uids = xreallocarray(s->relink_uids, s->nrelink + 1,
		    sizeof *s->relink_uids);
		s->relink_digests = xreallocarray(s->relink_digests,
		    s->nrelink + 1, MSGIDS_DIGEST_LEN);
		s->relink_uids[s->nrelink] = mctx->uid;
		memcpy(s->relink_digests + s->nrelink * MSGIDS_DIGEST_LEN,
		    digest, MSGIDS_DIGEST_LEN);
		s->nrelink++;
	}
	return (1);
}

/* A suspect may have been delivered before under its UID: a server that
 * sent a second, other message under a UID already delivered in its
 * batch, announced past what the daily budget left, made that UID a
 * suspect without its second body read (imap_body_budget); asked for
 * alone, the server may answer the message delivered. So a suspect's
 * body is compared with what was delivered from the folder (the msgids
 * log, loaded once a session, only when a suspect's body comes), as in a
 * matching pass: the same Message-ID, size and content is not delivered
 * again. 1 when the log is loaded; an unreadable one delivers the
 * suspect (a duplicate rather than a loss). */
static int
imap_suspect_known(struct imap_session *s)
{
	char	*cause;

	if (s->suspect_known != 0)
		return (s->suspect_known > 0);
	s->suspect_known = -1;
	if (s->ids == NULL)
		return (0);
	msgids_set_clear(&s->known);
	if (msgids_load(s->ids, s->folders[s->cur].remote, &s->known,
	    &cause) != 0) {
		imap_log(s, LOG_LVL_ERROR, "cannot read the list of delivered "
		    "messages (%s): a message asked for again after the "
		    "server sent too much may be delivered twice", cause);
		free(cause);
		return (0);
	}
	s->suspect_known = 1;
	return (1);
}

/* Whether a message just received in a matching pass must be compared
 * with what was delivered before the UIDVALIDITY change: matched in the
 * sizes pass, or matched now by its body answer's Message-ID and size,
 * for a server whose sizes pass announced another size than its body
 * answer does (Exchange's RFC822.SIZE is inexact; a lie in the sizes
 * pass alone would deliver the message a second time). */
static int
imap_to_verify(struct imap_session *s, const struct imap_response *r,
    uint32_t uid)
{
	char	*msgid;
	int	 known;

	if (uidset_has(&s->verify, uid))
		return (1);
	if (!s->uidv_changed && !(s->suspect_pass && imap_suspect_known(s)))
		return (0);
	msgid = imap_fetch_msgid(s, r);
	known = msgids_set_has(&s->known, msgid, imap_fetch_size(r)) ||
	    msgids_set_has(&s->known, msgid, s->body_lit);
	free(msgid);
	return (known);
}

/* Whether the body just received is for a UID this batch has already
 * staged. The same bytes again are a mere repeat, dropped. Other bytes
 * make the UID ambiguous (imap_body_other): both are delivered (0 is
 * returned). A UID passed over before (too big) is ambiguous too; one
 * recognised before is left to imap_verified, which tells a repeat. */
static int
imap_body_repeat(struct imap_session *s, uint32_t uid,
    const struct log_ctx *mctx, const unsigned char *digest)
{
	uint64_t	bytes = maildir_delivery_size(s->dlv);
	size_t		i;

	if (!uidset_has(&s->delivered, uid)) {
		if (!uidset_has(&s->recognised, uid))
			imap_body_other(s, mctx);
		return (0);
	}
	for (i = 0; i < s->nstaged; i++) {
		if (s->staged[i].uid == uid && s->staged[i].bytes == bytes &&
		    memcmp(s->staged[i].digest, digest,
		    sizeof s->staged[i].digest) == 0) {
			log_msg(LOG_LVL_WARNING, mctx, "the server sent the "
			    "same message twice; delivered once");
			return (1);
		}
	}
	imap_body_other(s, mctx);
	return (0);
}

/* Most distinct UIDs an honest sizes pass lists: the folder's message
 * count (EXISTS, kept current by untagged EXISTS) with a margin. */
static size_t
imap_msgs_cap(const struct imap_session *s)
{
	return ((size_t)s->exists + s->exists / 4 + IMAP_MSGS_SLACK);
}

/* Room for one more line of the sizes pass, whose list is full. A server
 * may repeat lines without end: past twice the cap the list is sorted and
 * deduplicated in place instead of grown, so memory follows the distinct
 * UIDs, and each compaction frees at least half of it. More distinct UIDs
 * than the cap fail the folder (the rest of the answer is ignored). 8
 * bytes a message: a 100,000-message folder costs under 2 MB here. */
static int
imap_msgs_room(struct imap_session *s)
{
	size_t	cap = imap_msgs_cap(s);

	if (s->amsgs < 2 * cap) {
		s->amsgs = s->amsgs == 0 ? imap_msgs_hint(s) : s->amsgs * 2;
		if (s->amsgs > 2 * cap)
			s->amsgs = 2 * cap;
		s->msgs = xreallocarray(s->msgs, s->amsgs, sizeof *s->msgs);
		return (0);
	}
	imap_msgs_dedup(s);
	if (s->nmsgs <= cap)
		return (0);
	imap_log(s, LOG_LVL_ERROR, "the server's answer to UID FETCH (UID "
	    "RFC822.SIZE) lists more than %zu different UIDs while the folder "
	    "has %u messages (EXISTS): a server bug; this folder is not "
	    "fetched", cap, s->exists);
	imap_status(s, EXIT_PROTOCOL);
	s->folder_failed = 1;
	free(s->msgs);
	s->msgs = NULL;
	s->nmsgs = s->amsgs = 0;
	return (-1);
}

/* Notes what the sizes pass says of one message; on Gmail, whether it
 * was delivered before from another label (X-GM-MSGID, size and
 * Message-ID all as logged). */
static void
imap_msg_note(struct imap_session *s, struct imap_msg *m,
    const struct imap_response *r, uint32_t uid, uint64_t size,
    const char *msgid)
{
	const struct imap_node	*n;

	m->uid = uid;
	m->size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	m->seq = r->has_number ? r->number : 0;
	m->gmid = 0;
	if (s->gm_loaded && (n = imap_parse_fetch_item(r, "X-GM-MSGID")) !=
	    NULL && n->type == IMAP_NODE_NUMBER)
		m->gmid = n->num;
	m->gm_known = imap_gm_known(s, m->gmid, msgid, size);
}

/* An untagged FETCH completed. With a body: stage the message. */
static void
imap_fetch_untagged(struct imap_session *s, const struct imap_response *r)
{
	const struct imap_node	*n;
	uint32_t		 uid = 0;
	char			 fbuf[8], *cause, *msgid, *final;
	unsigned char		 digest[MSGIDS_DIGEST_LEN];
	struct log_ctx		 mctx = s->ctx;
	struct imap_staged	*st;
	uint64_t		 size, bytes;
	int			 rc;

	if ((n = imap_parse_fetch_item(r, "UID")) != NULL)
		imap_parse_node_u32(n, &uid);
	if (s->state == IMAP_S_SIZES) {
		if (s->folder_failed)
			return;		/* imap_msgs_room gave up */
		if (uid == 0 || (s->suspect_pass ?
		    !uidset_has(&s->suspect, uid) : (uid <= s->sf->last_uid &&
		    !uidset_has(&s->missing, uid))))
			return;
		if (uid > s->max_seen_uid && !s->suspect_pass)
			s->max_seen_uid = uid;
		size = imap_fetch_size(r);
		msgid = imap_fetch_msgid(s, r);
		if (s->uidv_changed) {
			/* Maybe delivered before the change: the content
			 * will tell (imap_verified). */
			if (msgids_set_has(&s->known, msgid, size))
				uidset_add(&s->verify, uid);
		}
		if (s->nmsgs == s->amsgs && imap_msgs_room(s) != 0) {
			free(msgid);
			return;
		}
		imap_msg_note(s, &s->msgs[s->nmsgs++], r, uid, size, msgid);
		free(msgid);
		return;
	}
	if ((n = imap_parse_fetch_item(r, "BODY[]")) != NULL &&
	    n->type == IMAP_NODE_NIL) {
		/* Not delivered: the checkpoint asks for it again. */
		mctx.uid = uid;
		/* A suspect's is in imap_suspect_nil_log's one warning. */
		log_msg(s->suspect_pass ? LOG_LVL_DEBUG : LOG_LVL_ERROR, &mctx,
		    "the server sent BODY[] NIL instead of the message; "
		    "asking for it again next time");
		imap_status(s, EXIT_PROTOCOL);
		/* Before or after another copy under this UID, the server's
		 * word on it is unreliable: no server action this round. */
		imap_body_other(s, &mctx);
		if (uid != 0 && uidset_has(&s->batch, uid))
			uidset_add(&s->ambiguous, uid);
		return;
	}
	mctx.uid = uid;
	if (s->body_over != 0) {
		imap_body_too_big(s, r, &mctx, s->body_over);
		s->body_over = 0;
		return;
	}
	if (s->dlv == NULL && !s->dlv_failed)
		return;		/* no body: a flag update, say */
	if (s->dlv_failed) {
		log_msg(LOG_LVL_ERROR, &mctx, "%s", s->dlv_cause);
		maildir_deliver_abort(s->dlv);
		s->dlv = NULL;
		s->folder_failed = 1;
		imap_status(s, EXIT_LOCAL);
		return;
	}
	/* A final lone CR is left out of the checksum: it shows in the
	 * size. */
	if (crlf_finish(&s->crlf) &&
	    imap_body_write(s, "\r", 1, &cause) != 0) {
		log_msg(LOG_LVL_ERROR, &mctx, "%s", cause);
		free(cause);
		maildir_deliver_abort(s->dlv);
		s->dlv = NULL;
		s->folder_failed = 1;
		imap_status(s, EXIT_LOCAL);
		return;
	}
	msgids_digest_final(s->digest, digest);
	if (uid == 0 || !uidset_has(&s->batch, uid) ||
	    imap_body_repeat(s, uid, &mctx, digest)) {
		maildir_deliver_abort(s->dlv);
		s->dlv = NULL;
		return;
	}
	if (imap_to_verify(s, r, uid) && imap_verified(s, r, &mctx, digest))
		return;
	if (uidset_has(&s->recognised, uid))
		imap_body_other(s, &mctx);	/* other bytes than before */
	bytes = maildir_delivery_size(s->dlv);
	s->f_bytes += bytes;
	/* Every 64th stage fsyncs the batch so far: our time, not the
	 * server's (conn_local_work_done). */
	rc = maildir_deliver_stage(s->dlv, imap_local_flags(s,
	    imap_parse_fetch_item(r, "FLAGS"), fbuf), &final, &cause);
	conn_local_work_done(s->conn);
	if (rc != 0) {
		s->dlv = NULL;
		log_msg(LOG_LVL_ERROR, &mctx, "%s", cause);
		free(cause);
		/* The whole batch is rolled back by the Maildir. */
		uidset_clear(&s->delivered);
		s->folder_failed = 1;
		imap_status(s, EXIT_LOCAL);
		return;
	}
	s->dlv = NULL;
	uidset_add(&s->delivered, uid);
	s->staged = xreallocarray(s->staged, s->nstaged + 1, sizeof *s->staged);
	st = &s->staged[s->nstaged++];
	st->uid = uid;
	st->size = imap_fetch_size(r);
	st->lit = s->body_lit;
	st->bytes = bytes;
	st->final = final;
	st->msgid = imap_fetch_msgid(s, r);
	st->gmid = imap_msg_gmid(s, uid);
	st->flags = imap_staged_flags(s, r);
	memcpy(st->digest, digest, sizeof st->digest);
	if (imap_hdr_was_cut(s, r))
		log_msg(LOG_LVL_NOTICE, &mctx, "its Message-ID header is "
		    "longer than %d KiB: taken as absent (after a UIDVALIDITY "
		    "change this message would arrive again)",
		    IMAP_HDR_MAX / 1024);
	log_msg(LOG_LVL_DEBUG, &mctx, "staged");
}

/*
 * The state machine.
 */

static void	imap_sizes_send_items(struct imap_session *, const char *);

/* The sizes pass: what is new, and the missing UIDs again; in a matching
 * pass (UIDVALIDITY changed) with the Message-IDs; on Gmail with the
 * X-GM-MSGIDs. */
static void
imap_sizes_send(struct imap_session *s)
{
	/* On Gmail the Message-ID confirms what the X-GM-MSGID says. */
	if (s->gm_loaded)
		imap_sizes_send_items(s, "UID RFC822.SIZE "
		    "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] X-GM-MSGID");
	else
		imap_sizes_send_items(s, s->uidv_changed ? "UID RFC822.SIZE "
		    "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]" : "UID RFC822.SIZE");
}

/* imap_sizes_send with the items to ask. */
static void
imap_sizes_send_items(struct imap_session *s, const char *items)
{
	char		*set;

	s->missing_asked = 0;
	if (s->suspect_pass) {
		/* A bounded line: those past it wait for a later session
		 * (imap_suspect_sized). */
		s->suspect_first = imap_suspect_start(s);
		s->suspect_asked = s->suspect_first;
		set = uidset_format(&s->suspect, &s->suspect_asked,
		    IMAP_SET_RANGES);
		imap_send(s, "UID FETCH %s (%s)", set, items);
		free(set);
		return;
	}
	if (uidset_empty(&s->missing)) {
		imap_send(s, "UID FETCH %u:* (%s)", s->sf->last_uid + 1,
		    items);
		return;
	}
	set = uidset_format(&s->missing, &s->missing_asked, IMAP_SET_RANGES);
	imap_send(s, "UID FETCH %s,%u:* (%s)", set, s->sf->last_uid + 1,
	    items);
	free(set);
}

/* Sends what a state needs and logs the transition. */
static void
imap_enter(struct imap_session *s, enum imap_state next)
{
	log_msg(LOG_LVL_DEBUG, &s->ctx, "%s -> %s", imap_state_names[s->state],
	    imap_state_names[next]);
	s->state = next;
	/* A SEARCH answer's queue belongs to that command: flushed at its
	 * tagged answer (imap_search_flush), dropped otherwise. */
	s->search_q.n = 0;
	switch (next) {
	case IMAP_S_CAPABILITY:
	case IMAP_S_AUTH_CAPS:
		imap_send(s, "CAPABILITY");
		break;
	case IMAP_S_STARTTLS:
		imap_send(s, "STARTTLS");
		break;
	case IMAP_S_COMPRESS:
		imap_send(s, "COMPRESS DEFLATE");
		break;
	case IMAP_S_ENABLE:
		s->enable_sent = 1;
		imap_send(s, "ENABLE CONDSTORE");
		break;
	case IMAP_S_ROOT:
		imap_send(s, "LIST \"\" \"\"");
		break;
	case IMAP_S_NAMESPACE:
		imap_send(s, "NAMESPACE");
		break;
	case IMAP_S_ROLES:
		imap_send(s, "LIST \"\" \"*\"%s", (s->caps &
		    IMAP_CAP_SPECIAL_USE) && !s->roles_plain ?
		    " RETURN (SPECIAL-USE)" : "");
		break;
	case IMAP_S_ID:
		s->id_sent = 1;
		imap_send(s, "ID (\"name\" \"mailfetchd\" \"version\" \"%s\")",
		    PACKAGE_VERSION);
		break;
	case IMAP_S_AUTH:
		imap_auth_start(s);
		break;
	case IMAP_S_SIZES:
		/* This asks for everything new: announcements so far are
		 * answered. */
		s->wake = 0;
		s->seq_stale = 0;
		s->gone_stage = IMAP_GONE_UNASKED;
		s->top_asked = 0;
		s->first_top = s->first_top_seq = 0;
		uidset_clear(&s->queried);
		uidset_clear(&s->found);
		uidset_clear(&s->unsized);
		if (s->in_loop)
			clock_gettime(CLOCK_MONOTONIC, &s->f_start);
		imap_sizes_send(s);
		break;
	case IMAP_S_IDLE:
		imap_send(s, "IDLE");
		break;
	case IMAP_S_LOGOUT:
		s->closing = 1;
		evtimer_del(s->ev_idle);
		imap_timeout_restore(s);
		imap_send(s, "LOGOUT");
		/* From here the server may close, with or without TLS
		 * close_notify (Cyrus closes right after LOGOUT's OK, and the
		 * EOF can reach us before the OK is parsed): nothing we still
		 * wait for could be lost. */
		conn_expect_eof(s->conn);
		break;
	case IMAP_S_DONE:
		s->closing = 1;
		break;
	default:
		break;
	}
}

/* After the greeting or a CAPABILITY: TLS first, then ID, then login. */
static void
imap_proceed(struct imap_session *s)
{
	if (s->ac->tls == TLS_STARTTLS && !conn_is_tls(s->conn)) {
		if (!s->caps_known) {
			imap_enter(s, IMAP_S_CAPABILITY);
			return;
		}
		if (!(s->caps & IMAP_CAP_STARTTLS)) {
			imap_fail(s, EXIT_NETWORK, "the server does not offer "
			    "STARTTLS; refusing to log in without TLS "
			    "(tls = starttls)");
			return;
		}
		imap_enter(s, IMAP_S_STARTTLS);
		return;
	}
	if (!s->caps_known) {
		imap_enter(s, IMAP_S_CAPABILITY);
		return;
	}
	if ((s->caps & IMAP_CAP_ID) && !s->id_sent) {
		imap_enter(s, IMAP_S_ID);
		return;
	}
	imap_enter(s, IMAP_S_AUTH);
}

/* Logged in with the capabilities known: resolve the folders. An IDLE
 * session needs the IDLE capability, else the owner polls instead. */
static void
imap_folders_start(struct imap_session *s)
{
	if (s->mode == IMAP_MODE_IDLE && !(s->caps & IMAP_CAP_IDLE)) {
		imap_log(s, LOG_LVL_DEBUG, "the server does not offer IDLE");
		s->result.no_idle = 1;
		imap_enter(s, IMAP_S_LOGOUT);
		return;
	}
	if (s->stopping) {
		imap_enter(s, IMAP_S_LOGOUT);
		return;
	}
	/* Only what mirror needs turned on (RFC 7162: the server then adds
	 * MODSEQ to every FETCH answer). */
	if (imap_flags_wanted(s) && (s->caps & IMAP_CAP_CONDSTORE) &&
	    (s->caps & IMAP_CAP_ENABLE) && !s->enable_sent) {
		imap_enter(s, IMAP_S_ENABLE);
		return;
	}
	imap_enter(s, IMAP_S_ROOT);
}

/* Logged in with the capabilities known: COMPRESS=DEFLATE first when the
 * server offers it and the account wants it (RFC 4978: after
 * authentication, once), then the folders. Not on loopback: there the
 * server's deflate is the bottleneck (about 14 MB/s for Dovecot, ten times
 * slower than sending the mail as it is) and saves nothing. */
static void
imap_logged_in(struct imap_session *s)
{
	if ((s->caps & IMAP_CAP_COMPRESS) && !s->compressed &&
	    (s->ac->compress == COMPRESS_ALWAYS ||
	    (s->ac->compress == COMPRESS_YES &&
	    !conn_peer_is_loopback(s->conn)))) {
		imap_enter(s, IMAP_S_COMPRESS);
		return;
	}
	imap_folders_start(s);
}

/* Logged in: capabilities (again), then the folders. */
static void
imap_authenticated(struct imap_session *s, const struct imap_response *r)
{
	s->authed = 1;
	log_msg(LOG_LVL_DEBUG, &s->ctx, "logged in as %s", s->ac->user);
	if (r->code == IMAP_CODE_CAPABILITY)
		imap_caps_from(s, r);
	else {
		s->caps_known = 0;
		imap_enter(s, IMAP_S_AUTH_CAPS);
		return;
	}
	imap_logged_in(s);
}

/* The greeting: OK, PREAUTH or BYE. */
static void
imap_greeting(struct imap_session *s, const struct imap_response *r)
{
	char	*text;

	if (r->type != IMAP_RESP_UNTAGGED || r->status == IMAP_STATUS_NONE) {
		imap_fail(s, EXIT_PROTOCOL, "not an IMAP server: bad greeting");
		return;
	}
	if (r->status == IMAP_STATUS_BYE || r->status != IMAP_STATUS_OK) {
		text = imap_server_text(r);
		if (r->status == IMAP_STATUS_PREAUTH)
			imap_fail(s, EXIT_NETWORK, "the server greets with "
			    "PREAUTH (already logged in) before any TLS or "
			    "login; refusing it: %s", text);
		else
			imap_fail(s, EXIT_PROTOCOL, "the server refuses the "
			    "connection: %s", text);
		free(text);
		return;
	}
	if (r->code == IMAP_CODE_CAPABILITY)
		imap_caps_from(s, r);
	imap_proceed(s);
}

/* A tagged response that ended a command other than in the states below. */
static void
imap_tagged_fail(struct imap_session *s, const struct imap_response *r,
    const char *what)
{
	char	*text = imap_server_text(r);

	imap_fail(s, EXIT_PROTOCOL, "%s failed: %s", what, text);
	free(text);
}

static void
imap_tagged(struct imap_session *s, const struct imap_response *r)
{
	int	 ok = r->status == IMAP_STATUS_OK;
	char	*text;

	if (strcmp(r->tag, s->tag) != 0) {
		imap_fail(s, EXIT_PROTOCOL, "server answered a command that "
		    "was not sent (tag %s)", r->tag);
		return;
	}
	imap_pace_end(s);
	if (imap_search_flush(s) != 0)
		return;
	switch (s->state) {
	case IMAP_S_CAPABILITY:
		if (!ok) {
			imap_tagged_fail(s, r, "CAPABILITY");
			return;
		}
		s->caps_known = 1;
		imap_proceed(s);
		break;
	case IMAP_S_STARTTLS:
		if (!ok) {
			/* A TLS failure like a missing STARTTLS, not a
			 * protocol error: same status, same advice. */
			text = imap_server_text(r);
			imap_fail(s, EXIT_NETWORK, "STARTTLS refused by the "
			    "server; refusing to log in without TLS "
			    "(tls = starttls): %s", text);
			free(text);
			return;
		}
		imap_enter(s, IMAP_S_TLS);
		/* Everything learnt in clear text is forgotten. */
		s->caps = 0;
		s->caps_known = 0;
		if (conn_starttls(s->conn) != 0)
			imap_fail(s, EXIT_NETWORK, "%s", conn_error(s->conn));
		break;
	case IMAP_S_ID:
		imap_enter(s, IMAP_S_AUTH);	/* ID's answer does not matter */
		break;
	case IMAP_S_AUTH:
		if (!ok) {
			const char *hint = provider_hint(PROTO_IMAP, r->text,
			    r->code_name);

			text = imap_server_text(r);
			if (r->code == IMAP_CODE_UNAVAILABLE)
				s->result.hint = SCHEDULE_HINT_UNAVAILABLE;
			else if (r->code == IMAP_CODE_INUSE)
				s->result.hint = SCHEDULE_HINT_IN_USE;
			else if (strcasestr(text, "too many simultaneous") != NULL)
				s->result.hint = SCHEDULE_HINT_TOO_MANY_CONNS;
			imap_fail(s, r->code == IMAP_CODE_UNAVAILABLE ?
			    EXIT_NETWORK : EXIT_AUTH, "login as %s refused: %s%s%s",
			    s->ac->user, text, hint != NULL ? " -- " : "",
			    hint != NULL ? hint : "");
			free(text);
			return;
		}
		imap_authenticated(s, r);
		break;
	case IMAP_S_AUTH_CAPS:
		if (!ok) {
			imap_tagged_fail(s, r, "CAPABILITY");
			return;
		}
		s->caps_known = 1;
		imap_logged_in(s);
		break;
	case IMAP_S_COMPRESS:
		if (!ok) {
			/* Optional: go on uncompressed. */
			text = imap_server_text(r);
			imap_log(s, LOG_LVL_DEBUG, "COMPRESS refused: %s",
			    text);
			free(text);
			s->compressed = -1;
			imap_folders_start(s);
			break;
		}
		/* The parser has drained the OK line; conn_compress refuses
		 * anything left over after it. */
		if (conn_compress(s->conn) != 0) {
			imap_fail(s, EXIT_NETWORK, "%s", conn_error(s->conn));
			return;
		}
		s->compressed = 1;
		imap_folders_start(s);
		break;
	case IMAP_S_ROOT:
		if (!ok) {
			text = imap_server_text(r);
			imap_log(s, LOG_LVL_WARNING, "LIST \"\" \"\" refused "
			    "(folder names are sent with '/'): %s", text);
			free(text);
			s->delim = 0;
		}
		imap_root_answered(s);
		break;
	case IMAP_S_NAMESPACE:
		if (!ok) {
			/* Announced but refused: as without it. */
			folder_ns_clear(&s->ns);
			imap_log(s, LOG_LVL_DEBUG, "NAMESPACE refused");
			imap_ns_probe_next(s);
			break;
		}
		imap_root_done(s);
		break;
	case IMAP_S_NSPROBE:
		imap_ns_probe_done(s);
		break;
	case IMAP_S_ROLES:
		imap_roles_done(s, r, ok);
		break;
	case IMAP_S_LIST:
		if (!ok) {
			text = imap_server_text(r);
			imap_log(s, LOG_LVL_ERROR, "LIST \"%s\" failed: %s",
			    s->ac->folders[s->conf_idx].remote, text);
			free(text);
			imap_listed_clear(s);
		}
		imap_list_done(s);
		break;
	case IMAP_S_TRASH_STATUS:
		imap_trash_status_done(s, ok);
		break;
	case IMAP_S_STATUS:
		imap_status_done(s, ok);
		break;
	case IMAP_S_ENABLE:
		if (!s->condstore)
			log_msg(LOG_LVL_NOTICE, &s->ctx, "CONDSTORE not "
			    "enabled: every flag sync fetches every "
			    "delivered message's flags");
		imap_folders_start(s);
		break;
	case IMAP_S_FLAGS:
		imap_flags_done(s, r, ok);
		break;
	case IMAP_S_SELECT:
		if (!ok) {
			text = imap_server_text(r);
			imap_folder_fail(s, EXIT_PROTOCOL, "cannot select the "
			    "folder: %s", text);
			free(text);
			return;
		}
		imap_selected(s);
		break;
	case IMAP_S_SEARCH:
		if (!ok) {
			imap_folder_fail(s, EXIT_PROTOCOL, "UID SEARCH failed");
			return;
		}
		s->unseen_searched = 1;
		imap_pass_begin(s);
		break;
	case IMAP_S_SIZES:
		if (!ok && imap_gm_refused(s, r))
			break;
		if (!ok) {
			text = imap_server_text(r);
			imap_folder_fail(s, EXIT_PROTOCOL, "UID FETCH of sizes "
			    "failed: %s", text);
			free(text);
			return;
		}
		if (s->folder_failed) {
			imap_folder_done(s);	/* logged when it failed */
			return;
		}
		imap_sizes_done(s);
		break;
	case IMAP_S_SEARCH_MISSING:
	case IMAP_S_SEARCH_GONE:
		if (!ok) {
			/* A refusal proves nothing gone (it may be a
			 * transient): nothing was queried, all stays owed. */
			text = imap_server_text(r);
			imap_log(s, LOG_LVL_WARNING, "UID SEARCH %s refused "
			    "(%s): the UIDs asked for again that the server "
			    "did not list stay owed, asked for again on the "
			    "next run", s->state == IMAP_S_SEARCH_GONE ? "ALL" :
			    "UID", text);
			free(text);
			imap_gone_refused(s);
		}
		imap_sizes_done(s);
		break;
	case IMAP_S_SIZES_TOP:
		if (!ok) {
			/* No highest UID: imap_first_bound says so. */
			text = imap_server_text(r);
			imap_log(s, LOG_LVL_WARNING, "UID FETCH * refused: %s",
			    text);
			free(text);
			s->first_top = 0;
		}
		imap_sizes_done(s);
		break;
	case IMAP_S_FETCH:
		if (s->dlv != NULL) {
			maildir_deliver_abort(s->dlv);
			s->dlv = NULL;
		}
		if (!ok || s->folder_failed) {
			text = imap_server_text(r);
			/* Nothing of this batch becomes visible: closing the
			 * Maildir discards what was staged. */
			imap_folder_fail(s, ok ? EXIT_LOCAL : EXIT_PROTOCOL,
			    "fetching messages failed%s%s; this batch will be "
			    "fetched again next time", ok ? "" : ": ",
			    ok ? "" : text);
			free(text);
			return;
		}
		imap_checkpoint(s);
		break;
	case IMAP_S_COPY:
	case IMAP_S_MOVE:
		if (!ok)
			imap_trash_refused(s, r);
		else if (imap_trash_bound_ask(s) != 0)
			;	/* imap_trash_bound_done goes on */
		else if (s->state == IMAP_S_COPY)
			imap_after_copy(s);
		else
			imap_actions(s);
		break;
	case IMAP_S_TRASH_CREATE:
		imap_trash_created(s, r, ok);
		break;
	case IMAP_S_TRASH_BOUND:
		imap_trash_bound_done(s, ok);
		break;
	case IMAP_S_STORE:
	case IMAP_S_EXPUNGE:
		if (!ok) {
			text = imap_server_text(r);
			/* The pending set stays in the state: retried on the
			 * next run. */
			imap_folder_fail(s, EXIT_PROTOCOL, "marking or removing "
			    "delivered messages on the server failed (retried "
			    "next time): %s", text);
			free(text);
			return;
		}
		if (s->state == IMAP_S_STORE)
			imap_after_store(s);
		else
			imap_actions(s);
		break;
	case IMAP_S_SEARCH_DELETED:
		if (ok && uidset_count(&s->unseen) > 0) {
			struct uidset	others;
			int		ours;

			/* Range by range (imap_undelivered says why). */
			uidset_init(&others);
			uidset_subtract(&others, &s->unseen, &s->pending);
			ours = uidset_empty(&others);
			uidset_clear(&others);
			if (ours) {
				imap_enter(s, IMAP_S_EXPUNGE);
				imap_send(s, "EXPUNGE");
				return;
			}
		}
		imap_log(s, LOG_LVL_WARNING, "the server has no UIDPLUS and "
		    "other messages are flagged \\Deleted; delivered messages "
		    "are flagged \\Deleted but not expunged");
		imap_actions(s);
		break;
	case IMAP_S_IDLE:
	case IMAP_S_IDLE_DONE:
		if (!ok) {
			imap_tagged_fail(s, r, "IDLE");
			return;
		}
		imap_timeout_restore(s);
		if (s->stopping)
			imap_enter(s, IMAP_S_LOGOUT);
		else if (imap_idle_trash_stale(s))
			imap_enter(s, IMAP_S_LOGOUT);
		else if (imap_idle_blocked(s)) {
			/* Nothing is fetched: whatever is new is still new
			 * when fetching is allowed again. */
			s->wake = 1;
			imap_enter(s, IMAP_S_IDLE);
		} else if (imap_idle_reopen(s) == 0)
			imap_pass_begin(s);
		break;
	case IMAP_S_LOGOUT:
		imap_enter(s, IMAP_S_DONE);
		break;
	default:
		imap_fail(s, EXIT_PROTOCOL, "unexpected tagged response in "
		    "state %s", imap_state_names[s->state]);
		break;
	}
}

/* Where the answer to our UID SEARCH goes in this state; NULL when none
 * was sent. */
static struct uidset *
imap_search_set(struct imap_session *s)
{
	switch (s->state) {
	case IMAP_S_SEARCH:
	case IMAP_S_SEARCH_DELETED:
		return (&s->unseen);
	case IMAP_S_SEARCH_MISSING:
	case IMAP_S_SEARCH_GONE:
		return (&s->found);
	default:
		return (NULL);
	}
}

/* Most distinct UIDs an honest answer to UID SEARCH can name: what the
 * folder holds (imap_msgs_cap), no more than the UIDs below UIDNEXT
 * with a margin for mail that arrives meanwhile, and at most
 * IMAP_SEARCH_NEW_MAX: EXISTS alone is the server's word, and one that
 * said 4,000,000,000 held the run as long as it streamed counting-up
 * UIDs (review r18 08). */
static size_t
imap_search_cap(const struct imap_session *s)
{
	size_t	cap = imap_msgs_cap(s);

	if (s->uidnext > 0 && (size_t)s->uidnext - 1 + IMAP_MSGS_SLACK < cap)
		cap = (size_t)s->uidnext - 1 + IMAP_MSGS_SLACK;
	return (cap < IMAP_SEARCH_NEW_MAX ? cap : IMAP_SEARCH_NEW_MAX);
}

/* SEARCH data: taken only in answer to our UID SEARCH, and up to
 * IMAP_SEARCH_MAX ranges; unsolicited SEARCH data (RFC 9051 allows it only
 * as an answer) is dropped, so a server streaming it, during IDLE or
 * anywhere, costs no memory. */
static void
imap_search_untagged(struct imap_session *s, const struct imap_response *r)
{
	struct uidset		*set = imap_search_set(s);
	const struct imap_node	*n;
	uint32_t		 v;
	size_t			 i;

	if (set == NULL) {
		log_msg(LOG_LVL_DEBUG, &s->ctx, "unsolicited SEARCH data in"
		    " state %s ignored", imap_state_names[s->state]);
		return;
	}
	for (i = 0; (n = imap_parse_node_at(r->args, i)) != NULL; i++) {
		if (imap_parse_node_u32(n, &v) != 0)
			continue;
		/* Progress for the pacing: no more new UIDs than the folder
		 * can hold (a server may count up without end, and say
		 * any EXISTS). One repeated while still queued counts again,
		 * within that bound. */
		if (!uidset_has(set, v) && ++s->search_new <=
		    imap_search_cap(s))
			s->pace_new = 1;
		/* UID SEARCH ALL: only whether the queried UIDs exist. */
		if (s->state == IMAP_S_SEARCH_GONE &&
		    !uidset_has(&s->queried, v))
			continue;
		uidset_batch_add(&s->search_q, set, v);
		if (imap_search_over(s, set))
			return;
	}
}

/* The answer's set holds too many ranges: the session fails (1). */
static int
imap_search_over(struct imap_session *s, const struct uidset *set)
{
	if (set->n <= IMAP_SEARCH_MAX)
		return (0);
	imap_fail(s, EXIT_PROTOCOL, "the answer to UID SEARCH holds more than "
	    "%d UID ranges: refusing it", IMAP_SEARCH_MAX);
	return (1);
}

/* The UID SEARCH answered: its UIDs still queued join their set, before
 * anything reads it. 1 when that made too many ranges (failed). */
static int
imap_search_flush(struct imap_session *s)
{
	struct uidset	*set = imap_search_set(s);

	if (set == NULL)
		return (0);
	uidset_batch_flush(&s->search_q, set);
	return (imap_search_over(s, set));
}

/* FNV-1a of an alert's text: alerts are told apart by it alone, so
 * that a session keeps 8 bytes per alert, not its text. */
static uint64_t
imap_alert_hash(const char *text)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (; *text != '\0'; text++)
		h = (h ^ (unsigned char)*text) * 0x100000001b3ULL;
	return (h);
}

/* An untagged [ALERT]: logged once per text, and at most IMAP_ALERT_MAX
 * texts a session, then one line that says the rest are not: a server
 * streaming alerts wrote a warning per line (megabytes a second). */
static void
imap_alert(struct imap_session *s, const struct imap_response *r)
{
	char		*text = imap_server_text(r);
	uint64_t	 h = imap_alert_hash(text);
	size_t		 i;

	for (i = 0; i < s->nalerts; i++) {
		if (s->alerts[i] == h) {
			free(text);	/* said already */
			return;
		}
	}
	if (s->nalerts < IMAP_ALERT_MAX) {
		s->alerts[s->nalerts++] = h;
		imap_log(s, LOG_LVL_WARNING, "server alert: %s", text);
	} else if (!s->alerts_muted) {
		s->alerts_muted = 1;
		imap_log(s, LOG_LVL_WARNING, "the server sent more than %d "
		    "different alerts: further ones in this session are "
		    "not logged", IMAP_ALERT_MAX);
	}
	free(text);
}

/* Untagged data that matters in the current state. */
static void
imap_untagged(struct imap_session *s, const struct imap_response *r)
{
	const struct imap_node	*n;
	uint32_t		 v;
	char			*text;

	if (r->status == IMAP_STATUS_BYE) {
		if (s->state == IMAP_S_LOGOUT)
			return;
		text = imap_server_text(r);
		if (s->mode == IMAP_MODE_IDLE && s->in_loop) {
			/* Servers end long sessions (restarts, IDLE limits):
			 * the owner reconnects. */
			imap_log(s, LOG_LVL_NOTICE, "the server ended the "
			    "session: %s", text);
			imap_status(s, EXIT_NETWORK);
			s->closing = 1;
			imap_enter(s, IMAP_S_DONE);
		} else
			imap_fail(s, EXIT_PROTOCOL, "the server closed the "
			    "session: %s", text);
		free(text);
		return;
	}
	if (r->status == IMAP_STATUS_OK || r->status == IMAP_STATUS_NO) {
		if (r->code == IMAP_CODE_ALERT)
			imap_alert(s, r);
		if (r->code == IMAP_CODE_UIDVALIDITY)
			s->uidvalidity = (uint32_t)r->code_num;
		if (r->code == IMAP_CODE_UIDNEXT)
			s->uidnext = (uint32_t)r->code_num;
		if (r->code == IMAP_CODE_HIGHESTMODSEQ &&
		    s->state == IMAP_S_SELECT)
			imap_flags_highest(s, r);
		if (r->code == IMAP_CODE_NOMODSEQ && s->state == IMAP_S_SELECT)
			s->highestmodseq = 0;
		if (r->code == IMAP_CODE_CAPABILITY)
			imap_caps_from(s, r);
		return;
	}
	switch (r->data) {
	case IMAP_DATA_CAPABILITY:
		imap_caps_from(s, r);
		break;
	case IMAP_DATA_EXISTS:
		s->exists = r->number;
		imap_idle_wake(s);
		break;
	case IMAP_DATA_RECENT:
		if (r->number > 0)
			imap_idle_wake(s);
		break;
	case IMAP_DATA_EXPUNGE:
		s->seq_stale = 1;	/* later numbers moved down */
		if (r->number <= s->select_left && s->select_left > 0)
			s->select_left--;	/* one there at the SELECT */
		break;
	case IMAP_DATA_LIST:
		if (s->state == IMAP_S_LIST || s->state == IMAP_S_ROLES)
			imap_list_untagged(s, r);
		else if (s->state == IMAP_S_NSPROBE && r->mailbox != NULL &&
		    imap_ns_probe_answer(s, r->mailbox, r->delim))
			s->ns_probe_delim = r->delim;
		else if (s->state == IMAP_S_ROOT && !s->delim_known) {
			/* The first answer says it; any more are noise. */
			s->delim = r->delim;
			s->delim_known = 1;
		}
		break;
	case IMAP_DATA_NAMESPACE:
		if (s->state == IMAP_S_NAMESPACE)
			imap_ns_answer(s, r);
		break;
	case IMAP_DATA_STATUS:
		if (s->state == IMAP_S_STATUS)
			imap_status_untagged(s, r, s->folders[s->cur].remote);
		else if (s->state == IMAP_S_TRASH_STATUS ||
		    s->state == IMAP_S_TRASH_BOUND)
			imap_status_untagged(s, r, imap_trash_name(s));
		break;
	case IMAP_DATA_SEARCH:
		imap_search_untagged(s, r);
		break;
	case IMAP_DATA_ENABLED:
		if (s->state == IMAP_S_ENABLE &&
		    imap_parse_list_has(r->args, "CONDSTORE"))
			s->condstore = 1;
		break;
	case IMAP_DATA_FETCH:
		if (s->state == IMAP_S_SIZES || s->state == IMAP_S_FETCH)
			imap_fetch_untagged(s, r);
		else if (s->state == IMAP_S_SIZES_TOP)
			imap_first_top_untagged(s, r);
		else if (s->state == IMAP_S_FLAGS)
			imap_flags_untagged(s, r);
		else if (s->sf != NULL &&
		    (n = imap_parse_fetch_item(r, "UID")) != NULL &&
		    imap_parse_node_u32(n, &v) == 0 && v > s->sf->last_uid)
			imap_idle_wake(s);
		break;
	default:
		break;
	}
}

/* One complete response. */
static void
imap_response(struct imap_session *s, const struct imap_response *r)
{
	if (s->state == IMAP_S_GREETING) {
		imap_greeting(s, r);
		return;
	}
	switch (r->type) {
	case IMAP_RESP_TAGGED:
		imap_tagged(s, r);
		break;
	case IMAP_RESP_UNTAGGED:
		imap_untagged(s, r);
		break;
	case IMAP_RESP_CONTINUATION:
		if (s->state == IMAP_S_IDLE) {
			imap_idle_started(s);
			break;
		}
		/* The "+" that asks for the response. */
		if (s->state == IMAP_S_AUTH && s->sasl_pending != NULL) {
			if (conn_printf(s->conn, "%s\r\n", s->sasl_pending) != 0)
				imap_fail(s, EXIT_NETWORK, "%s",
				    conn_error(s->conn));
			xfree_secret(s->sasl_pending);
			s->sasl_pending = NULL;
			s->sasl_ir_sent = 1;
			break;
		}
		/* An AUTHENTICATE that failed after the initial response
		 * (XOAUTH2 sends its error as a challenge): answer with an
		 * empty line so the server ends it with NO. */
		if (s->state == IMAP_S_AUTH && s->sasl_ir_sent) {
			if (conn_write(s->conn, "\r\n", 2) != 0)
				imap_fail(s, EXIT_NETWORK, "%s",
				    conn_error(s->conn));
			break;
		}
		if (s->state != IMAP_S_AUTH)
			imap_fail(s, EXIT_PROTOCOL, "unexpected continuation "
			    "request in state %s", imap_state_names[s->state]);
		break;
	}
}

/* Whether a FETCH response brings what our UID FETCH asked for, for a
 * message not answered yet: the sizes pass, a new highest UID with its
 * RFC822.SIZE (servers answer in UID order) among those it takes (above
 * last_uid or missing: "n:*" also names the highest old one, which a
 * server may send again and again); the body FETCH, the BODY[] of a UID
 * of the batch, the first time (marked answered). */
static int
imap_fetch_is_data(struct imap_session *s, const struct imap_response *r)
{
	const struct imap_node	*n;
	uint32_t		 uid = 0;

	if ((n = imap_parse_fetch_item(r, "UID")) == NULL ||
	    imap_parse_node_u32(n, &uid) != 0 || uid == 0)
		return (0);
	if (s->state == IMAP_S_SIZES)
		return (uid > s->max_seen_uid && (uid > s->sf->last_uid ||
		    uidset_has(&s->missing, uid)) &&
		    imap_parse_fetch_item(r, "RFC822.SIZE") != NULL);
	if (s->state != IMAP_S_FETCH ||
	    imap_parse_fetch_item(r, "BODY[]") == NULL ||
	    !uidset_has(&s->batch, uid) || uidset_has(&s->answered, uid))
		return (0);
	uidset_add(&s->answered, uid);
	return (1);
}

/*
 * Whether a whole response is data for the pacing (conn_progress_response):
 * only a message the command in progress asked for (its size in the sizes
 * pass, its body in the body FETCH), and only once, shows the server at
 * work, so that a slow store sending each message whole with pauses is
 * not cut (bounded by the batch, or by EXISTS). Anything else is a
 * note, which passes a window at most CONN_NOTE_WINDOWS times in a row:
 * status lines ("* OK still working"), continuations, the untagged data a
 * server may send at any time (EXISTS, RECENT, EXPUNGE, a FETCH of flags
 * alone, a repeat of a message already received): a server dripping
 * "* 5 EXISTS" inside a body FETCH that never completes would else hold
 * the account forever. SEARCH UIDs new to the answer (up to what the
 * folder holds) and LIST names taken (not the same as the line before;
 * a listing is capped) are new results (s->pace_new, set as they are
 * taken): their windows pass by the byte floor, so an honest big answer
 * is not cut, and count as notes below it (one new UID or name a window,
 * a UID set that stays one range, would else hold the account as long as
 * it dripped). Results sent before are notes at any rate (review r13 03).
 */
static int
imap_response_is_data(struct imap_session *s, const struct imap_response *r)
{
	if (r->type != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE)
		return (0);
	switch (r->data) {
	case IMAP_DATA_FETCH:
		return (imap_fetch_is_data(s, r));
	default:
		return (0);
	}
}

/* Tells the connection's pacing what came (conn_progress_response): a
 * message asked for, before it is handled; else, once handled, new
 * results (SEARCH UIDs, LIST names: s->pace_new) or a note. */
static void
imap_response_paced(struct imap_session *s, const struct imap_response *r)
{
	int	data = imap_response_is_data(s, r);

	if (data)
		conn_progress_response(s->conn, CONN_RESP_DATA);
	s->pace_new = 0;
	imap_response(s, r);
	if (!data)
		conn_progress_response(s->conn, s->pace_new ? CONN_RESP_NEW :
		    CONN_RESP_NOTE);
}

/* A batch of a SEARCH line's numbers: new results or a note for the
 * pacing, like the whole response. */
static void
imap_search_paced(struct imap_session *s)
{
	s->pace_new = 0;
	imap_search_untagged(s, imap_parse_response(s->parser));
	conn_progress_response(s->conn, s->pace_new ? CONN_RESP_NEW :
	    CONN_RESP_NOTE);
}

/* Feeds everything buffered to the parser. */
static void
imap_read(struct imap_session *s)
{
	struct evbuffer		*in;
	struct evbuffer_iovec	 v;
	size_t			 used, len;
	const void		*chunk;
	char			*cause;
	int			 ev, last;

	/* The input buffer is looked up each time: STARTTLS puts a new one
	 * in place. */
	while (!s->closing && (in = conn_input(s->conn)) != NULL &&
	    evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		ev = imap_parse_feed(s->parser, v.iov_base, v.iov_len, &used,
		    &cause);
		conn_progress(s->conn, used, imap_pace_inside(s));
		/* Chunks point into the buffer: drained once written. Anything
		 * else is copied by the parser, and is drained before it is
		 * handled, so that STARTTLS finds nothing unread left over. */
		if (ev != IMAP_PARSE_CHUNK)
			evbuffer_drain(in, used);
		switch (ev) {
		case IMAP_PARSE_ERROR:
			imap_fail(s, EXIT_PROTOCOL, "bad response from the "
			    "server: %s", cause);
			free(cause);
			return;
		case IMAP_PARSE_LITERAL:
			imap_literal_begin(s);
			break;
		case IMAP_PARSE_CHUNK:
			chunk = imap_parse_chunk(s->parser, &len, &last);
			/* The budget counts what came, kept or not. */
			if (s->lit == IMAP_LIT_BODY ||
			    s->lit == IMAP_LIT_DISCARD)
				s->f_down += len;
			if (s->lit == IMAP_LIT_BODY)
				imap_body_chunk(s, chunk, len);
			else if (s->lit == IMAP_LIT_HEADER)
				imap_hdr_chunk(s, chunk, len);
			break;
		case IMAP_PARSE_SEARCH:
			/* Numbers of a long SEARCH line, in batches: into the
			 * UID set, a range set, so a line of any length
			 * costs memory by its ranges, up to the cap. */
			imap_search_paced(s);
			break;
		case IMAP_PARSE_RESPONSE:
			imap_response_paced(s, imap_parse_response(s->parser));
			break;
		default:
			break;
		}
		if (ev == IMAP_PARSE_CHUNK)
			evbuffer_drain(in, used);
	}
	/* Idling may last hours: keep no read buffer meanwhile. */
	if (s->state == IMAP_S_IDLING && !s->closing)
		conn_input_trim(s->conn);
}

/* Ends the session from the loop, where the owner may free it. */
static void
imap_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session	*s = arg;

	(void)fd;
	(void)what;
	/* A folder that failed alone counts as a partial failure; when
	 * every folder failed, nothing worked: the server refused them. */
	if (s->status == EXIT_PARTIAL && s->result.folders_ok == 0)
		s->status = EXIT_PROTOCOL;
	s->result.status = s->status;
	s->done(s, s->done_arg);
}

static void
imap_finish_schedule(struct imap_session *s)
{
	struct timeval	zero = { 0, 0 };

	event_base_once(s->base, -1, EV_TIMEOUT, imap_finish_cb, s, &zero);
}

/* The session ends. An agent still running is waited for (within its
 * mda_timeout; imap_mda_done ends the session then): the hand-over does
 * not need the server, and an agent killed after it took the message
 * would hand it over again next time. */
static void
imap_finish(struct imap_session *s)
{
	struct log_ctx	ctx = s->ctx;

	if (s->state == IMAP_S_MAX)
		return;		/* already finishing */
	s->state = IMAP_S_MAX;
	if (s->mda == NULL) {
		imap_finish_schedule(s);
		return;
	}
	ctx.uid = s->staged[s->mda_next].uid;
	log_msg(LOG_LVL_NOTICE, &ctx, "the session ended while the message "
	    "was being handed over: waiting for the delivery agent (at most "
	    "mda_timeout, %us) to record its outcome; the server is told "
	    "next time", s->ac->mda_timeout);
}

static void
imap_conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct imap_session	*s = arg;

	(void)c;
	if (s->state == IMAP_S_MAX)
		return;
	switch (ev) {
	case CONN_EV_CONNECTED:
		log_msg(LOG_LVL_DEBUG, &s->ctx, "connected to %s%s%s",
		    conn_peer(s->conn), conn_is_tls(s->conn) ? ", " : "",
		    conn_is_tls(s->conn) ? conn_tls_info(s->conn) : "");
		/* A connection that stays silent for hours: let the kernel
		 * notice a peer that vanished. */
		if (s->mode == IMAP_MODE_IDLE)
			conn_set_keepalive(s->conn);
		imap_enter(s, IMAP_S_GREETING);
		break;
	case CONN_EV_TLS_READY:
		log_msg(LOG_LVL_DEBUG, &s->ctx, "TLS: %s",
		    conn_tls_info(s->conn));
		imap_enter(s, IMAP_S_CAPABILITY);
		break;
	case CONN_EV_INPUT:
		imap_read(s);
		break;
	case CONN_EV_CLOSED:
		if (s->mode == IMAP_MODE_IDLE && s->in_loop &&
		    (s->state == IMAP_S_IDLING || s->state == IMAP_S_IDLE ||
		    s->state == IMAP_S_IDLE_DONE)) {
			/* A restart or an IDLE limit: the owner reconnects. */
			imap_log(s, LOG_LVL_NOTICE, "the server closed the "
			    "connection while idling");
			imap_status(s, EXIT_NETWORK);
		} else if (s->state != IMAP_S_DONE && s->state != IMAP_S_LOGOUT)
			imap_fail(s, EXIT_NETWORK, "the server closed the "
			    "connection in state %s",
			    imap_state_names[s->state]);
		s->state = IMAP_S_DONE;
		break;
	case CONN_EV_ERROR:
	case CONN_EV_TIMEOUT:
		if (ev == CONN_EV_ERROR && s->mode == IMAP_MODE_IDLE &&
		    s->in_loop && s->state == IMAP_S_IDLING) {
			/* The server went away (a restart, often without
			 * close_notify): the owner reconnects. */
			imap_log(s, LOG_LVL_NOTICE, "connection lost while "
			    "idling: %s", conn_error(s->conn) != NULL ?
			    conn_error(s->conn) : "error");
			imap_status(s, EXIT_NETWORK);
		} else if (s->state != IMAP_S_DONE)
			imap_fail(s, EXIT_NETWORK, "%s%s",
			    ev == CONN_EV_TIMEOUT ? "timeout: " : "",
			    conn_error(s->conn) != NULL ? conn_error(s->conn) :
			    "no answer from the server");
		s->state = IMAP_S_DONE;
		break;
	}
	if (s->state == IMAP_S_DONE)
		imap_finish(s);
}

/* Copies the mode and its strings. */
static void
imap_options_copy(struct imap_session *s, const struct imap_options *o)
{
	size_t	 i;

	if (o == NULL)
		return;
	s->mode = o->mode;
	s->delivered_cb = o->delivered;
	s->may_fetch_cb = o->may_fetch;
	if (o->idle_folder != NULL) {
		s->idle_folder = xstrdup(o->idle_folder);
		s->ctx.folder = s->idle_folder;
	}
	if (o->nskip == 0)
		return;
	s->nskip = o->nskip;
	s->skip_conf = xcalloc(o->nskip, sizeof *s->skip_conf);
	s->skip_wire = xcalloc(o->nskip, sizeof *s->skip_wire);
	/* skip_wire once the server's separator is known (imap_root). */
	for (i = 0; i < o->nskip; i++)
		s->skip_conf[i] = xstrdup(o->skip_folders[i]);
}

struct imap_session *
imap_session_new(struct event_base *base, struct evdns_base *dns,
    const struct account_conf *ac, struct state *st,
    const struct imap_options *opts, imap_done_cb done, void *arg)
{
	struct imap_session		*s;
	struct imap_parse_limits	 lim;
	struct conn_params		 cp;

	s = xcalloc(1, sizeof *s);
	imap_options_copy(s, opts);
	s->ev_idle = evtimer_new(base, imap_idle_timer_cb, s);
	s->ev_stop = evtimer_new(base, imap_stop_timer_cb, s);
	s->base = base;
	s->dns = dns;
	s->ac = ac;
	s->st = st;
	s->done = done;
	s->done_arg = arg;
	s->ctx.account = ac->name;
	s->status = EXIT_NOTHING_NEW;
	uidset_init(&s->unseen);
	uidset_init(&s->batch);
	uidset_init(&s->delivered);
	uidset_init(&s->mda_refused);
	uidset_init(&s->passed);
	uidset_init(&s->recognised);
	uidset_init(&s->verify);
	uidset_init(&s->ambiguous);
	uidset_init(&s->missing);
	uidset_init(&s->queried);
	uidset_init(&s->found);
	uidset_init(&s->unsized);
	uidset_init(&s->pending);
	memset(&lim, 0, sizeof lim);
	/* No cap on a literal's size here: the session streams bodies and
	 * skips one over max_message_size by itself (imap_body_begin), so
	 * that one message, whatever its RFC822.SIZE said, never ends the
	 * session; anything else is buffered within the parser's caps. */
	lim.max_literal = UINT64_MAX;
	s->parser = imap_parse_new(&lim);
	s->ids = NULL;
	memset(&cp, 0, sizeof cp);
	cp.host = ac->host;
	cp.port = ac->port;
	cp.tls = ac->tls;
	cp.ca_file = ac->ca_file;
	cp.fingerprint = ac->fingerprint;
	cp.timeout_sec = ac->timeout;
	cp.name = ac->name;
	s->conn = conn_new(base, dns, opts != NULL ? opts->tls : NULL, &cp,
	    imap_conn_cb, s);
	return (s);
}

/* Connects; a failure ends the session. */
static void
imap_connect(struct imap_session *s)
{
	if (conn_connect(s->conn) != 0) {
		imap_fail(s, EXIT_NETWORK, "%s", conn_error(s->conn));
		imap_finish(s);
	}
}

/* The secret from the job: kept for the login, then connect. */
static void
imap_secret_cb(char *secret, int status, char *cause, void *arg)
{
	struct imap_session	*s = arg;

	secret_job_free(s->sjob);
	s->sjob = NULL;
	if (s->state != IMAP_S_CONNECTING) {
		/* Stopped meanwhile. */
		xfree_secret(secret);
		free(cause);
		return;
	}
	if (secret == NULL) {
		imap_secret_failed(s, status, cause);
		imap_finish(s);
		return;
	}
	s->secret = secret;
	imap_connect(s);
}

void
imap_session_start(struct imap_session *s)
{
	char	*cause;

	if ((s->ids = msgids_open(state_dir(s->st), s->ac->name,
	    &cause)) == NULL) {
		imap_log(s, LOG_LVL_WARNING, "%s (a UIDVALIDITY change cannot "
		    "be recovered without it)", cause);
		free(cause);
	}
	s->state = IMAP_S_CONNECTING;
	/* A command or an OAuth2 refresh may take long: it runs beside the
	 * loop, before connecting (the server would not wait for it). */
	if (secret_needs_job(s->ac)) {
		s->sjob = secret_job_start(s->base, s->ac, imap_secret_cb, s);
		return;
	}
	imap_connect(s);
}

int
imap_session_awaiting_secret(const struct imap_session *s)
{
	return (s->sjob != NULL);
}

void
imap_session_progress(const struct imap_session *s, unsigned long *done,
    unsigned long *total, uint64_t *bytes)
{
	unsigned long	now;

	now = s->f_msgs + uidset_count(&s->delivered);
	*done = s->result.messages + now;
	*total = s->result.messages + (s->nmsgs > now ? s->nmsgs : now);
	*bytes = s->result.bytes + s->f_bytes;
}

void
imap_session_budget(struct imap_session *s, fetch_budget_cb cb, void *arg)
{
	s->budget_cb = cb;
	s->budget_arg = arg;
}

uint64_t
imap_session_downloaded(const struct imap_session *s)
{
	/* An IDLE session reported its ended rounds (delivered_cb). */
	if (s->mode == IMAP_MODE_IDLE)
		return (s->f_down);
	return (s->result.downloaded + s->f_down);
}

const struct imap_result *
imap_session_result(const struct imap_session *s)
{
	return (&s->result);
}

struct hook_files *
imap_session_files(struct imap_session *s)
{
	return (&s->newfiles);
}

void
imap_session_hook(struct imap_session *s, struct hook *h)
{
	s->hook = h;
}

/* Ends the session politely; see imap.h. */
void
imap_session_stop(struct imap_session *s)
{
	struct timeval	tv = { IMAP_STOP_WAIT, 0 };

	if (s->stopping || s->state == IMAP_S_MAX)
		return;
	s->stopping = 1;
	evtimer_add(s->ev_stop, &tv);
	switch (s->state) {
	case IMAP_S_IDLING:
		imap_idle_leave(s, IMAP_STOP_WAIT);
		break;
	case IMAP_S_CONNECTING:
	case IMAP_S_GREETING:
	case IMAP_S_CAPABILITY:
	case IMAP_S_STARTTLS:
	case IMAP_S_TLS:
		/* Not logged in: nothing to say goodbye to. */
		s->closing = 1;
		imap_enter(s, IMAP_S_DONE);
		break;
	default:
		/* The command running ends first; every path out of it
		 * looks at s->stopping and logs out. */
		break;
	}
	if (s->state == IMAP_S_DONE)
		imap_finish(s);
}

unsigned int
imap_session_agent_wait(struct imap_session *s)
{
	if (s->mda == NULL)
		return (0);
	s->closing = 1;
	imap_finish(s);		/* it waits for the agent */
	return (mda_stop_wait(s->ac));
}

/* Re-checks an idling connection after a suspend; see imap.h. */
void
imap_session_check(struct imap_session *s)
{
	switch (s->state) {
	case IMAP_S_IDLING:
		log_msg(LOG_LVL_DEBUG, &s->ctx, "checking the connection");
		imap_idle_leave(s, IMAP_CHECK_WAIT);
		break;
	case IMAP_S_IDLE:
	case IMAP_S_IDLE_DONE:
		conn_set_timeout(s->conn, IMAP_CHECK_WAIT);
		break;
	default:
		break;
	}
	if (s->state == IMAP_S_DONE)
		imap_finish(s);
}

int
imap_session_idling(const struct imap_session *s)
{
	return (s->state == IMAP_S_IDLING);
}

void
imap_session_free(struct imap_session *s)
{
	struct log_ctx	ctx;
	size_t		i;

	if (s == NULL)
		return;
	if (s->mda != NULL) {
		ctx = s->ctx;
		if (s->mda_next < s->nstaged)
			ctx.uid = s->staged[s->mda_next].uid;
		mda_job_cancel(s->mda, &ctx);
	}
	uidset_clear(&s->mda_refused);
	uidset_batch_clear(&s->search_q);
	maildir_deliver_abort(s->dlv);
	imap_folder_reset(s);
	imap_listed_clear(s);
	for (i = 0; i < s->nfolders; i++) {
		free(s->folders[i].remote);
		free(s->folders[i].display);
		free(s->folders[i].local);
	}
	free(s->folders);
	hook_files_clear(&s->newfiles);
	free(s->dlv_cause);
	xfree_secret(s->sasl_pending);
	secret_job_free(s->sjob);
	xfree_secret(s->secret);
	free(s->scratch);
	free(s->hdr);
	msgids_digest_free(s->digest);
	imap_parse_free(s->parser);
	msgids_close(s->ids);
	msgids_set_clear(&s->gm_known);
	conn_free(s->conn);
	event_free(s->ev_idle);
	event_free(s->ev_stop);
	for (i = 0; i < s->nskip; i++) {
		free(s->skip_conf[i]);
		free(s->skip_wire[i]);
	}
	free(s->skip_conf);
	free(s->skip_wire);
	free(s->trash_wire);
	free(s->trash_name);
	for (i = 0; i < FOLDER_ROLE_MAX; i++)
		free(s->role_wire[i]);
	folder_ns_clear(&s->ns);
	free(s->ns_probe);
	free(s->ns_probe_wire);
	free(s->idle_folder);
	free(s);
}
