/* imap_folder.c: one folder: SELECT, what is new (the sizes pass, the
 * matching pass after a UIDVALIDITY change, the suspects and the missing
 * UIDs), fetching in batches, the intent journal and its recovery, and the
 * server actions (mark_read, keep = no, the trash).
 * The session and its design: imap.c. */
#include "imap_p.h"

/*
 * One folder: SELECT, what is new, fetch in batches, actions.
 */

void
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
void
imap_relink_clear(struct imap_session *s)
{
	free(s->relink_uids);
	free(s->relink_digests);
	s->relink_uids = NULL;
	s->relink_digests = NULL;
	s->nrelink = 0;
}

void
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
	s->exists_left = 0;
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
void
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
void
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
void
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
void printflike(3, 4)
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
int
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
int
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
int
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
size_t
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
void
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
void
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
int
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
void
imap_store_pending(struct imap_session *s)
{
	char	*text;

	text = uidset_format(&s->pending, NULL, 0);
	state_folder_set_pending(s->sf, text);
	free(text);
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
void
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
void
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
void
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

/* After SELECT: decide what to fetch. */
void
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

/* The sizes pass's UIDs (s->msgs sorted, none filtered out yet). */
static void
imap_msgs_listed(const struct imap_session *s, struct uidset *out)
{
	size_t	i;

	for (i = 0; i < s->nmsgs; i++)
		uidset_add(out, s->msgs[i].uid);
}

/* Sorts the sizes pass's list by UID and drops repeated answers. */
void
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

/* The X-GM-MSGID the sizes pass gave uid (s->msgs is sorted), 0 if none. */
uint64_t
imap_msg_gmid(struct imap_session *s, uint32_t uid)
{
	const struct imap_msg	*m, key = { .uid = uid };

	if (!s->gm_loaded || s->nmsgs == 0)
		return (0);
	m = bsearch(&key, s->msgs, s->nmsgs, sizeof *s->msgs, imap_msg_cmp);
	return (m != NULL ? m->gmid : 0);
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

/* What the message numbered seq is, now that its line came: EXPUNGEs
 * move select_left and exists_left down as they come, so deciding later
 * from a number noted now would take an old message for one announced
 * since (review r28 02). */
enum imap_seq_age
imap_seq_age(const struct imap_session *s, uint32_t seq)
{
	if (seq <= s->select_left)
		return (IMAP_AGE_OLD);
	return (seq <= s->exists_left ? IMAP_AGE_NEW : IMAP_AGE_PAST);
}

/* The messages the sizes pass listed that were there at the SELECT (a
 * sequence number up to select_left when listed): how many, and in *top
 * the highest UID. Mail announced since is new mail: it neither makes a
 * short listing whole nor goes into the first fetch's bound, or it would
 * never be fetched (review r26 01). A line numbered past every EXISTS
 * sets *past: nothing tells whether it is old or new (review r28 01). */
static size_t
imap_first_listed(const struct imap_session *s, uint32_t *top, int *past)
{
	size_t	i, n = 0;

	*top = 0;
	*past = 0;
	for (i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].age == IMAP_AGE_PAST)
			*past = 1;
		if (s->msgs[i].age != IMAP_AGE_OLD)
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
	s->first_top = s->first_top_old = 0;
	imap_enter(s, IMAP_S_SIZES_TOP);
	imap_send(s, "UID FETCH * (UID)");
	return (1);
}

/* The highest UID there at the SELECT, from UID FETCH *'s answer line
 * naming uid as message seq, told as the line comes (imap_seq_age): the
 * UID it names, or, when that message arrived since (announced by an
 * EXISTS) and is the only one (the next number: it is the last), the UID
 * below it, as every older message's UID is lower; 0 when nothing tells
 * (several arrived, or numbered past every EXISTS: the next run asks
 * again). */
static uint32_t
imap_first_top_old(const struct imap_session *s, uint32_t uid, uint32_t seq)
{
	if (s->first_top_age == IMAP_AGE_OLD)
		return (uid);
	if (s->first_top_age == IMAP_AGE_NEW && seq == s->select_left + 1)
		return (uid - 1);
	return (0);
}

/* The answer to UID FETCH * (UID): the highest UID named. */
void
imap_first_top_untagged(struct imap_session *s, const struct imap_response *r)
{
	const struct imap_node	*n;
	uint32_t		 uid = 0, seq = r->has_number ? r->number : 0;

	if ((n = imap_parse_fetch_item(r, "UID")) != NULL &&
	    imap_parse_node_u32(n, &uid) == 0 && uid > s->first_top) {
		s->first_top = uid;
		s->first_top_age = imap_seq_age(s, seq);
		s->first_top_old = imap_first_top_old(s, uid, seq);
	}
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
int
imap_first_bound(struct imap_session *s, size_t listed, uint32_t top,
    int past)
{
	uint32_t	old;

	if (s->sf->first_until != UINT32_MAX)
		return (0);	/* UIDNEXT, or no first fetch */
	if (past) {
		imap_folder_fail(s, EXIT_PROTOCOL, "the server gives no "
		    "UIDNEXT and lists messages numbered past the %u it "
		    "announced (EXISTS): the first fetch cannot tell what was "
		    "there before it; nothing fetched, asking again next time",
		    s->exists_left);
		return (-1);
	}
	if (imap_first_short(s, listed)) {
		if ((old = s->first_top_old) == 0) {
			imap_folder_fail(s, EXIT_PROTOCOL, "the server gives "
			    "no UIDNEXT and listed %zu of the %u messages the "
			    "folder holds, and %s: the first fetch cannot tell "
			    "what was there before it; nothing fetched, asking "
			    "again next time", listed, s->select_exists,
			    s->first_top == 0 ? "UID FETCH * named no UID" :
			    s->first_top_age == IMAP_AGE_PAST ? "UID FETCH * "
			    "named a message numbered past those announced" :
			    "more mail arrived meanwhile");
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
int
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
long long
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
void
imap_sizes_done(struct imap_session *s)
{
	uint64_t	max = s->ac->max_message_size;
	size_t		i, o = 0, nver = 0, ngm = 0, sure, nold;
	struct uidset	listed, unlisted, never;
	unsigned long	nheld = 0;
	long long	first = 0, now = (long long)time(NULL);
	uint32_t	old_top;
	int		past;

	if (s->suspect_pass) {
		imap_suspect_sized(s);
		return;
	}
	imap_msgs_dedup(s);
	uidset_init(&listed);
	imap_msgs_listed(s, &listed);
	nold = imap_first_listed(s, &old_top, &past);
	if (imap_missing_check(s, &listed) || imap_first_top_ask(s, nold)) {
		uidset_clear(&listed);
		return;
	}
	/* Bound before the filter below: mail listed that arrived since
	 * the SELECT is above it, fetched now (review r26 01). */
	if (imap_first_bound(s, nold, old_top, past) != 0) {
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
uint64_t
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
void
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
uint32_t
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
void
imap_undelivered(struct imap_session *s, const struct uidset *in,
    struct uidset *out)
{
	struct uidset	rest;

	uidset_init(&rest);
	uidset_subtract(&rest, in, &s->delivered);
	uidset_subtract(out, &rest, &s->passed);
	uidset_clear(&rest);
}

/* The journaled batch's Message-IDs, with the digests of their content,
 * into the msgids log, before the first file becomes visible: once one
 * is in new/, a mail reader may delete or refile it before the state
 * records the batch, and the recovery then finds it nowhere and has no
 * file to digest; logged only then, the message would come back after a
 * UIDVALIDITY change. Not before the journal: a message killed in tmp/
 * unjournaled is fetched again, and its logged digest would pass it over
 * after a change. */
void
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
void
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
int
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
void
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


/* Step 5 and 6 for the batch made durable (or taken by the agent). */
void
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
void
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
