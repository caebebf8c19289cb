/* imap_gm.c: Gmail (X-GM-EXT-1): one message under several labels is
 * delivered once, by its X-GM-MSGID kept in the msgids log.
 * The session and its design: imap.c. */
#include "imap_p.h"

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
int
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

/* One message's X-GM-MSGID into the log and the set (sorted by the
 * caller). */
void
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
void
imap_gm_logged(struct imap_session *s)
{
	size_t	 i;

	for (i = 0; i < s->nstaged; i++)
		imap_gm_log_one(s, &s->staged[i]);
	msgids_set_sort(&s->gm_known);
}

/* On Gmail, what the account delivered before, once per session; without
 * it (log unreadable) every label's copy is delivered, as elsewhere. */
void
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
int
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
