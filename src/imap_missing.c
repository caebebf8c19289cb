/* imap_missing.c: the messages a folder still owes: missing UIDs (left
 * out of a body FETCH), unlisted ones (left out of the sizes pass), suspects
 * (lied about) and the proof that one is gone (UID SEARCH).
 * The session and its design: imap.c. */
#include "imap_p.h"

/* The suspect range the next pass starts at: the first from suspect_next
 * on, or the first of all when none is (the rotation wraps). */
size_t
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
void
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
int
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

/* Writes the in-memory missing set into the state record. */
void
imap_missing_save(struct imap_session *s)
{
	char	*text;

	text = uidset_format(&s->missing, NULL, 0);
	state_folder_set_missing(s->sf, text);
	free(text);
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
int
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
void
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
int
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
void
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
void
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
void
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
void
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
void
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
void
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
void
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
void
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
int
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

/* The batch is durable: its messages leave the missing set, and those it
 * asked for but did not get (expunged meanwhile, or a server bug such as
 * BODY[] NIL) join it, named in a warning, to be asked for again; a
 * message really gone is then simply not listed, and dropped. */
void
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
void
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
void
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

/* uid leaves the missing set (it may be one asked for again). */
void
imap_missing_drop(struct imap_session *s, uint32_t uid)
{
	imap_set_drop(&s->missing, uid);
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
int
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
