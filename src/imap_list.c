/* imap_list.c: the folders: LIST, namespaces, SPECIAL-USE roles, which
 * server folders the configuration selects and their local names.
 * The session and its design: imap.c. */
#include "imap_p.h"

/*
 * Folders.
 */

/* Whether two server (wire) names are one folder (folder_name_eq). */
int
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
char *
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

void
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
int
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
int
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

/* Whether the session needs the server's special-use folders: a folder
 * configured by its role (one an IDLE session holds too: a pattern here
 * must pass over it); a pattern on a server with SPECIAL-USE, which may
 * mark \All, \Junk and \Trash only for LIST ... RETURN (SPECIAL-USE). */
int
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
void
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
void
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
void
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
int
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
void
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
void
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
void
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

/* The trash and the roles are known: a fetched folder that becomes the
 * trash has its UIDNEXT asked first (imap_trash_status_done), then the
 * configured folders' LISTs. */
void
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
void
imap_lists_go(struct imap_session *s)
{
	imap_trash_remember(s);
	s->conf_idx = 0;
	imap_list_next(s);
}

/* LIST for the next configured folder, or on to the first folder. */
void
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

/* The LIST answers for configured folder conf_idx are in: resolve it. */
void
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
void
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
