/* imap_body.c: message bodies: the body FETCH answers, their literals
 * streamed into tmp/ files, the lies about sizes, the checkpoint per batch.
 * The session and its design: imap.c. */
#include "imap_p.h"

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
void
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
int
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
uint32_t
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
uint32_t
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
int
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
int
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
void
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
void
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
void
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
void
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
uint64_t
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
int
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
size_t
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
	m->age = imap_seq_age(s, m->seq);
	m->gmid = 0;
	if (s->gm_loaded && (n = imap_parse_fetch_item(r, "X-GM-MSGID")) !=
	    NULL && n->type == IMAP_NODE_NUMBER)
		m->gmid = n->num;
	m->gm_known = imap_gm_known(s, m->gmid, msgid, size);
}

/* An untagged FETCH completed. With a body: stage the message. */
void
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
