/* imap_journal.c: the intent journal of a folder's batches (steps 3
 * to 5 of the durability order in imap.c): its entries, and the recovery
 * that finishes a killed run's deliveries before anything is fetched.
 * The session and its design: imap.c. */
#include "imap_p.h"

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
char *
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
void
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
int
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
