/* imap_mirror.c: local_flags = mirror: the server's flags of what was
 * delivered, applied to the Maildir files after a folder's fetch.
 * The session and its design: imap.c. */
#include "imap_p.h"

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
int
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
void
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
void
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
void
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
void
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
void
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
