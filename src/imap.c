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
#include "imap_p.h"

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

/* A state's name, for the log. */
const char *
imap_state_name(enum imap_state st)
{
	return (imap_state_names[st]);
}



static size_t	imap_search_cap(const struct imap_session *);
static int	imap_search_over(struct imap_session *, const struct uidset *);
static int	imap_search_flush(struct imap_session *);

/* Records an outcome; the session's status is the worst one. */
void
imap_status(struct imap_session *s, int status)
{
	if (s->status == EXIT_NOTHING_NEW || s->status == EXIT_NEW_MAIL)
		s->status = status;
}

/* Logs with the account (and folder) as context. */
void printflike(3, 0)
imap_vlog(struct imap_session *s, enum log_level level, const char *fmt,
    va_list ap)
{
	char	*msg;

	if (vasprintf(&msg, fmt, ap) == -1)
		fatalx("imap: out of memory");
	log_msg(level, &s->ctx, "%s", msg);
	free(msg);
}

void printflike(3, 4)
imap_log(struct imap_session *s, enum log_level level, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	imap_vlog(s, level, fmt, ap);
	va_end(ap);
}

/* The server's text, made safe for logs; caller frees. */
char *
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
void printflike(3, 4)
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
void printflike(2, 3)
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
void
imap_pace_end(struct imap_session *s)
{
	s->cmd_open = 0;
	conn_progress(s->conn, 0, 0);
}

/* Sends UID SEARCH with a fresh result set: only in the state it enters
 * is untagged SEARCH data taken (imap_search_untagged). */
void
imap_search(struct imap_session *s, enum imap_state state, const char *key)
{
	uidset_clear(&s->unseen);
	imap_enter(s, state);
	imap_send(s, "UID SEARCH %s", key);
}

/* Quotes a mailbox name for a command; NULL (and the folder fails) when
 * it cannot be quoted. Caller frees. */
char *
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
void
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
		s->first_top = s->first_top_old = 0;
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
void
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
		s->exists = s->exists_left = r->number;
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
		if (s->exists_left > 0)
			s->exists_left--;
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
void
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

void
imap_finish_schedule(struct imap_session *s)
{
	struct timeval	zero = { 0, 0 };

	event_base_once(s->base, -1, EV_TIMEOUT, imap_finish_cb, s, &zero);
}

/* The session ends. An agent still running is waited for (within its
 * mda_timeout; imap_mda_done ends the session then): the hand-over does
 * not need the server, and an agent killed after it took the message
 * would hand it over again next time. */
void
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
