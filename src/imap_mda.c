/* imap_mda.c: deliver = mda | lmtp for IMAP: each staged message of a
 * batch handed to the agent in turn and recorded before the next.
 * The session and its design: imap.c. */
#include "imap_p.h"

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

/* The agent took staged message i: recorded and saved. -1 when the
 * session failed. */
int
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

void
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
void
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
void
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
size_t
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

/* The COPY to the trash folder is acknowledged: only now are the
 * originals flagged \Deleted (then expunged as with keep = no). A second
 * COPY after a crash in between leaves a duplicate in the trash, never a
 * loss. */
void
imap_after_copy(struct imap_session *s)
{
	char	*set;

	set = imap_slice_again(s);
	imap_enter(s, IMAP_S_STORE);
	imap_send(s, "UID STORE %s +FLAGS.SILENT (\\Seen \\Deleted)", set);
	free(set);
}

/* After the \Deleted STORE: expunge exactly our messages. */
void
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
