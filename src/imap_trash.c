/* imap_trash.c: the trash of keep = no: which folder it is (its
 * SPECIAL-USE role or trash_folder), creating it, refusing to fetch it, and
 * a folder that becomes or stops being the trash (what it owes then).
 * The session and its design: imap.c. */
#include "imap_p.h"

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
int
imap_is_own_trash(const struct imap_session *s, const char *remote)
{
	return (!s->ac->keep && s->trash_wire != NULL && !s->trash_default &&
	    imap_trash_eq(s, remote, s->trash_wire));
}

/* Whether keep = no moves the selected folder's delivered messages to
 * the trash. Not the server's own \Trash folder, fetched by name or
 * role: deleting there is what deleting means (the configured
 * trash_folder is refused instead, imap_own_trash_refused). */
int
imap_moves_to_trash(const struct imap_session *s)
{
	return (s->trash_wire != NULL && !(s->trash_default &&
	    imap_trash_eq(s, s->folders[s->cur].remote, s->trash_wire)));
}

/* How messages name the trash: the default one is not a trash_folder the
 * user set (review r10 07). */
const char *
imap_trash_what(const struct imap_session *s)
{
	return (s->trash_default ? "the server's \\Trash folder" :
	    "trash_folder");
}

/* A listed folder that is the trash_folder, with keep = no: a pattern
 * passes over it; a folder named is refused, naming both. */
void
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
void
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

/* The trash's folder record: named as the server spells it, or in
 * another ASCII case, which the refusal (imap_trash_eq) and
 * state_trashed_has take for the trash too (review r26 16); NULL when it
 * was never fetched. The other case only for a trash_folder spelled by
 * the user: a trash by role (or the server's \Trash) is named as the
 * server's LIST spells it, so a folder of exactly that name exists, and
 * a record in another case is another folder of a case-sensitive server
 * ("Bin" and "bin"): marked, its bound would be raised after each move
 * into the trash over its own mail, lost for good (review r28 03). */
static struct state_folder *
imap_trash_record(struct imap_session *s)
{
	struct state_folder	*sf;
	size_t			 i;

	if (s->ac->keep || s->trash_wire == NULL)
		return (NULL);
	if ((sf = state_folder_get(s->st, s->trash_wire, 0)) != NULL)
		return (sf);
	if (s->trash_default || s->ac->trash_folder == NULL ||
	    folder_role_of_conf(s->ac->trash_folder) > FOLDER_ROLE_NONE)
		return (NULL);
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
struct state_folder *
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
	sf->trash_bounded = 1;
	if (sf->first_mode != STATE_FIRST_NEW) {
		sf->first_mode = STATE_FIRST_NEW;
		sf->first_time = (long long)time(NULL);
	}
	return (0);
}

/* The name the trash's STATUS asks for: its folder record's, as the
 * folder was fetched (a trash_folder in another case names the same
 * folder on a case-insensitive server). */
const char *
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
int
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
void
imap_trash_bound_done(struct imap_session *s, int ok)
{
	struct state_folder	*sf = imap_trash_marked(s);

	if (sf != NULL && ok && s->st_uidvalidity == sf->uidvalidity &&
	    s->st_uidnext > 0 && s->st_uidnext <= UINT32_MAX) {
		if (s->st_uidnext - 1 > sf->last_uid)
			sf->last_uid = (uint32_t)(s->st_uidnext - 1);
		sf->trash_bounded = 1;	/* covers an older mark's moves */
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
void
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
void
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

/* A folder mailfetchd moved delivered mail into as the trash, in this or
 * an earlier run (imap_trash_remember): a pattern's match not fetched.
 * Unless the pattern fetched it before it became the trash and it still
 * owes mail (review r26 12): marked (imap_trash_mark), or its "new" pass
 * since not through; what was moved there lies under its bound
 * (imap_trash_resume_bound), what it held before is in its missing set. */
const char *
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
void
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

/* A mark an older version wrote (no "bounded" in the state): nothing
 * raised its bound after its moves, so this SELECT's UIDNEXT bounds what
 * was moved there, as that version did; else what it moved there would
 * be delivered again (review r28 04). Without UIDNEXT the bound stays
 * open: the highest UID listed now (imap_first_bound). */
static void
imap_trash_resume_old(struct imap_session *s)
{
	if (s->uidnext == 0) {
		imap_log(s, LOG_LVL_INFO, "this folder was the trash since "
		    "it was last fetched (keep = no moves delivered mail "
		    "there): only mail arriving from now on is fetched (the "
		    "server gives no UIDNEXT: above the highest UID it lists "
		    "now), and what it held before it became the trash");
		return;
	}
	s->sf->first_until = s->uidnext - 1 > s->sf->last_uid ?
	    s->uidnext - 1 : s->sf->last_uid;
	imap_log(s, LOG_LVL_INFO, "this folder was the trash since it was "
	    "last fetched (keep = no moves delivered mail there; marked by "
	    "an older version): only mail arriving from now on is fetched "
	    "(UID > %u), and what it held before it became the trash",
	    s->sf->first_until);
}

/* A folder fetched before that was the trash since (imap_trash_mark):
 * the "new" filter passes over what keep = no may have moved there, up
 * to the bound recorded after the moves (its last_uid, the trash's
 * UIDNEXT after each session's last move there): all above it is
 * fetched, whenever this SELECT comes (review r26 02). What it held
 * before it became the trash is in its missing set: still fetched. */
void
imap_trash_resume_bound(struct imap_session *s)
{
	const char	*remote = s->folders[s->cur].remote;

	if (s->sf->first_until != UINT32_MAX ||
	    s->sf->first_mode != STATE_FIRST_NEW ||
	    !state_trashed_has(s->st, remote))
		return;
	imap_trash_bound_check(s);
	if (!s->sf->trash_bounded) {
		imap_trash_resume_old(s);
		return;
	}
	s->sf->trash_bounded = 0;
	s->sf->first_until = s->sf->last_uid;
	imap_log(s, LOG_LVL_INFO, "this folder was the trash since it was "
	    "last fetched (keep = no moves delivered mail there): mail above "
	    "UID %u is fetched (above what was moved there), and what it "
	    "held before it became the trash", s->sf->first_until);
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
void
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
void
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
