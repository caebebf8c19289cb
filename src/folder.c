/* folder.c: folder names between configuration, server and Maildir
 * (folder.h). Pure functions: no I/O, no session. */
#include "folder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "imap_parse.h"
#include "log.h"
#include "xmalloc.h"

char *
folder_conf_to_wire(const char *conf, int delim, char **cause)
{
	char	*mapped, *p, *wire;

	/* The separators first: '/' and every delimiter a server uses are
	 * printable ASCII, which modified UTF-7 leaves as they are. */
	mapped = xstrdup(conf);
	if (delim != 0 && delim != '/') {
		for (p = mapped; *p != '\0'; p++) {
			if (*p == '/')
				*p = delim;
		}
	}
	wire = imap_parse_mutf7_encode(mapped, cause);
	free(mapped);
	return (wire);
}

/* One namespace descriptor ("prefix" "delim" ...) of a NAMESPACE
 * response into ns. */
static void
folder_ns_add(struct folder_ns *ns, const struct imap_node *desc)
{
	const char	*wire, *d;
	char		*utf8, *cause, *p;
	int		 delim;

	if (ns->n >= FOLDER_NS_MAX ||
	    (wire = imap_parse_node_str(imap_parse_node_at(desc, 0),
	    NULL)) == NULL || strlen(wire) > FOLDER_LOCAL_MAX) {
		ns->partial = 1;
		return;
	}
	d = imap_parse_node_str(imap_parse_node_at(desc, 1), NULL);
	delim = d != NULL && strlen(d) == 1 ? (unsigned char)d[0] : 0;
	if ((utf8 = imap_parse_mutf7_decode(wire, strlen(wire),
	    &cause)) == NULL) {
		free(cause);
		ns->partial = 1;
		return;
	}
	for (p = utf8; delim != 0 && *p != '\0'; p++) {
		if (*p == delim)
			*p = '/';
	}
	ns->prefix[ns->n] = utf8;
	ns->delim[ns->n++] = delim;
}

void
folder_ns_parse(struct folder_ns *ns, const struct imap_response *r)
{
	const struct imap_node	*kind, *desc;
	size_t			 i, j;

	if (r->skipped != NULL) {
		folder_ns_unreadable(ns);
		return;
	}
	folder_ns_clear(ns);
	for (i = 0; i < 3; i++) {
		kind = imap_parse_node_at(r->args, i);
		for (j = 0; (desc = imap_parse_node_at(kind, j)) != NULL; j++)
			folder_ns_add(ns, desc);
		if (i == 0)
			ns->npersonal = ns->n;
	}
	ns->parsed = 1;
}

/* The namespace with the longest prefix conf begins with (or equals,
 * without the trailing separator), compared without case when nocase is
 * set; -1 for none. */
static int
folder_ns_find(const struct folder_ns *ns, const char *conf, int nocase)
{
	size_t	i, len, best = 0;
	int	found = -1;

	for (i = 0; i < ns->n; i++) {
		len = strlen(ns->prefix[i]);
		if (len > 0 && ns->prefix[i][len - 1] == '/' &&
		    strlen(conf) == len - 1)
			len--;		/* the prefix's own folder */
		if ((nocase ? strncasecmp(conf, ns->prefix[i], len) :
		    strncmp(conf, ns->prefix[i], len)) != 0 ||
		    (found >= 0 && len <= best))
			continue;	/* the first of equal ones */
		found = (int)i;
		best = len;
	}
	return (found);
}

int
folder_ns_delim(const struct folder_ns *ns, const char *conf, int dflt)
{
	int	i = folder_ns_find(ns, conf, 0);

	return (i < 0 ? dflt : ns->delim[i]);
}

/* Whether a folder (in the configuration's spelling, conf) in no
 * namespace a NAMESPACE answer named, or in a personal one, is the
 * user's own. */
static int
folder_ns_personal_conf(const struct folder_ns *ns, const char *conf)
{
	int	i;

	if (!ns->parsed)
		return (conf[0] != '#');
	i = folder_ns_find(ns, conf, 1);
	if (i >= 0 && (size_t)i >= ns->npersonal)
		return (0);
	if (!ns->partial)
		return (1);
	/* A namespace left out may hold any folder but a top-level one. */
	return ((i >= 0 && ns->prefix[i][0] != '\0') ||
	    strchr(conf, '/') == NULL);
}

int
folder_ns_personal(const struct folder_ns *ns, const char *wire, int delim)
{
	char	*conf, *cause, *p;
	int	 mine;

	if ((conf = imap_parse_mutf7_decode(wire, strlen(wire),
	    &cause)) == NULL) {
		free(cause);
		conf = xstrdup(wire);
	}
	for (p = conf; delim != 0 && *p != '\0'; p++) {
		if (*p == delim)
			*p = '/';
	}
	mine = folder_ns_personal_conf(ns, conf);
	free(conf);
	return (mine);
}

char *
folder_ns_conf_to_wire(const struct folder_ns *ns, const char *conf,
    int dflt, char **cause)
{
	return (folder_conf_to_wire(conf, folder_ns_delim(ns, conf, dflt),
	    cause));
}

char *
folder_ns_guess(const char *conf)
{
	const char	*slash = strchr(conf, '/');

	if (conf[0] != '#' || slash == NULL || slash == conf + 1 ||
	    strcspn(conf, "*%") < (size_t)(slash - conf))
		return (NULL);	/* not a name: a pattern in its first level */
	return (xstrndup(conf, slash - conf));
}

int
folder_ns_has(const struct folder_ns *ns, const char *prefix)
{
	size_t	i, len = strlen(prefix);

	for (i = 0; i < ns->n; i++) {
		if (strncmp(ns->prefix[i], prefix, len) == 0 &&
		    strcmp(ns->prefix[i] + len, "/") == 0)
			return (1);
	}
	return (0);
}

void
folder_ns_set(struct folder_ns *ns, const char *prefix, int delim)
{
	if (ns->n >= FOLDER_NS_MAX || strlen(prefix) > FOLDER_LOCAL_MAX) {
		ns->partial = 1;
		return;
	}
	xasprintf(&ns->prefix[ns->n], "%s/", prefix);
	ns->delim[ns->n++] = delim;
}

void
folder_ns_clear(struct folder_ns *ns)
{
	size_t	i;

	for (i = 0; i < ns->n; i++)
		free(ns->prefix[i]);
	ns->n = ns->npersonal = 0;
	ns->parsed = ns->partial = 0;
}

void
folder_ns_unreadable(struct folder_ns *ns)
{
	folder_ns_clear(ns);
	ns->parsed = ns->partial = 1;
}

/* Decoded modified UTF-7 is valid UTF-8, but may hold control characters
 * (a server may encode them): those (C0, DEL, C1) and '\' become \ooo
 * escapes, so that the name prints as one line that says what it is. */
static char *
folder_printable(const char *utf8)
{
	const unsigned char	*u = (const unsigned char *)utf8;
	char			*out, *o;
	size_t			 i;

	out = o = xmalloc(strlen(utf8) * 4 + 1);
	for (i = 0; u[i] != '\0'; i++) {
		if (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f) {
			o += sprintf(o, "\\%03o\\%03o", u[i], u[i + 1]);
			i++;
		} else if (u[i] < 0x20 || u[i] == 0x7f || u[i] == '\\')
			o += sprintf(o, "\\%03o", u[i]);
		else
			*o++ = u[i];
	}
	*o = '\0';
	return (out);
}

char *
folder_wire_to_utf8(const char *wire, int *bad)
{
	char	*utf8, *out, *cause;

	*bad = 0;
	if ((utf8 = imap_parse_mutf7_decode(wire, strlen(wire),
	    &cause)) == NULL) {
		free(cause);
		*bad = 1;
		return (log_sanitize(wire, strlen(wire), FOLDER_LOCAL_MAX));
	}
	out = folder_printable(utf8);
	free(utf8);
	return (out);
}

char *
folder_conf_mutf7_hint(const char *conf)
{
	const char	*amp;
	char		*utf8, *cause, *out;

	for (amp = strchr(conf, '&'); amp != NULL && amp[1] == '-';
	    amp = strchr(amp + 2, '&'))
		;
	if (amp == NULL)
		return (NULL);		/* no encoded run */
	if ((utf8 = imap_parse_mutf7_decode(conf, strlen(conf),
	    &cause)) == NULL) {
		free(cause);
		return (NULL);
	}
	out = folder_printable(utf8);
	free(utf8);
	return (out);
}

/* Whether the component starting at utf8[i] is "." or "..". */
static int
folder_dot_component(const char *utf8, size_t i, int delim)
{
	size_t	n = 0;

	while (utf8[i + n] == '.')
		n++;
	if (n == 0 || n > 2)
		return (0);
	return (utf8[i + n] == '\0' || (delim != 0 && utf8[i + n] == delim));
}

char *
folder_local_name(const char *utf8, int delim)
{
	size_t	 n = strlen(utf8), i, o = 0;
	char	*out;
	int	 start = 1;

	if (n > FOLDER_LOCAL_MAX)
		return (NULL);
	out = xmalloc(n * 2 + 2);
	for (i = 0; i < n; i++) {
		unsigned char c = utf8[i];

		if (delim != 0 && c == (unsigned char)delim)
			c = '/';
		else if (c == '/')
			c = '_';	/* a '/' that is not the separator */
		if (c < 0x20 || c == 0x7f)
			c = '_';
		if (start && c == '.' && folder_dot_component(utf8, i, delim))
			out[o++] = '_';
		if (c == '/' && (start || i + 1 == n))
			c = '_';	/* empty component */
		out[o++] = c;
		start = c == '/';
	}
	out[o] = '\0';
	return (out);
}

const char *
folder_pattern_excluded(const struct imap_node *flags)
{
	static const char *const excluded[] = { "\\All", "\\Junk",
	    "\\Trash", "\\AllMail", "\\Spam" };
	size_t	i;

	for (i = 0; i < sizeof excluded / sizeof *excluded; i++) {
		if (imap_parse_list_has(flags, excluded[i]))
			return (excluded[i]);
	}
	return (NULL);
}

/* The role names, indexed by enum folder_role, and Gmail's older (XLIST)
 * attribute for the same role, which its LIST still sends. */
static const struct {
	const char	*name;
	const char	*xlist;
} folder_roles[FOLDER_ROLE_MAX] = {
	[FOLDER_ROLE_NONE] =	{ "", NULL },
	[FOLDER_ROLE_ALL] =	{ "\\All", "\\AllMail" },
	[FOLDER_ROLE_ARCHIVE] =	{ "\\Archive", NULL },
	[FOLDER_ROLE_DRAFTS] =	{ "\\Drafts", NULL },
	[FOLDER_ROLE_FLAGGED] =	{ "\\Flagged", "\\Starred" },
	[FOLDER_ROLE_JUNK] =	{ "\\Junk", "\\Spam" },
	[FOLDER_ROLE_SENT] =	{ "\\Sent", NULL },
	[FOLDER_ROLE_TRASH] =	{ "\\Trash", NULL },
};

int
folder_role_of_conf(const char *conf)
{
	int	role;

	if (conf[0] != '\\' || conf[1] == '\\')
		return (FOLDER_ROLE_NONE);
	for (role = FOLDER_ROLE_NONE + 1; role < FOLDER_ROLE_MAX; role++) {
		if (strcasecmp(conf, folder_roles[role].name) == 0)
			return (role);
	}
	return (-1);
}

const char *
folder_conf_unescape(const char *conf)
{
	return (conf[0] == '\\' && conf[1] == '\\' ? conf + 1 : conf);
}

const char *
folder_role_name(int role)
{
	if (role <= FOLDER_ROLE_NONE || role >= FOLDER_ROLE_MAX)
		return ("");
	return (folder_roles[role].name);
}

const char *
folder_role_names(void)
{
	return ("\\All, \\Archive, \\Drafts, \\Flagged, \\Junk, \\Sent or "
	    "\\Trash");
}

unsigned int
folder_roles_of(const struct imap_node *flags)
{
	unsigned int	roles = 0;
	int		role;

	for (role = FOLDER_ROLE_NONE + 1; role < FOLDER_ROLE_MAX; role++) {
		if (imap_parse_list_has(flags, folder_roles[role].name) ||
		    (folder_roles[role].xlist != NULL &&
		    imap_parse_list_has(flags, folder_roles[role].xlist)))
			roles |= 1u << role;
	}
	return (roles);
}

int
folder_name_eq(const char *a, const char *b, int delim)
{
	if (strcmp(a, b) == 0)
		return (1);
	if (strncasecmp(a, "INBOX", 5) != 0 || strncasecmp(b, "INBOX", 5) != 0)
		return (0);
	return ((a[5] == '\0' || (delim != 0 && a[5] == delim)) &&
	    strcmp(a + 5, b + 5) == 0);
}

int
folder_conf_fetches(const struct folder_conf *folders, size_t n,
    char *const role_wire[], const struct folder_ns *ns, int delim,
    const char *wire)
{
	char	*m, *cause;
	size_t	 i;
	int	 eq;

	for (i = 0; i < n; i++) {
		if (folders[i].is_pattern)
			continue;
		if (folders[i].role != FOLDER_ROLE_NONE)
			m = role_wire[folders[i].role] == NULL ? NULL :
			    xstrdup(role_wire[folders[i].role]);
		else if ((m = folder_ns_conf_to_wire(ns, folder_conf_unescape(
		    folders[i].remote), delim, &cause)) == NULL)
			free(cause);
		if (m == NULL)
			continue;
		eq = folder_name_eq(m, wire, delim);
		free(m);
		if (eq)
			return (1);
	}
	return (0);
}

const char *
folder_role_excluded(char *const role_wire[], const char *wire)
{
	static const int	 roles[] = { FOLDER_ROLE_ALL, FOLDER_ROLE_JUNK,
	    FOLDER_ROLE_TRASH };
	size_t			 i;

	for (i = 0; i < sizeof roles / sizeof *roles; i++) {
		if (role_wire[roles[i]] != NULL &&
		    strcmp(role_wire[roles[i]], wire) == 0)
			return (folder_role_name(roles[i]));
	}
	return (NULL);
}
