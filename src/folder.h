/* folder.h: the one mapping of folder names between the configuration,
 * the IMAP server and the local Maildir.
 *
 * Three spellings of one folder:
 *   configuration  UTF-8, always (never taken as already encoded), with
 *                  '/' as the hierarchy separator whatever the server
 *                  uses ("Lists/dev", "INBOX/Корзина", "Tom&Jerry");
 *   wire           what the server lists and is sent: modified UTF-7
 *                  (RFC 3501 5.1.3) with the server's own separator
 *                  ("Lists|dev", "INBOX.&BBoEPgRABDcEOAQ9BDA-",
 *                  "Tom&-Jerry");
 *   local          the Maildir++ folder maildir_open takes: UTF-8 with
 *                  '/' as separator ("Lists/dev"); maildir.c makes it
 *                  ".Lists.dev" on disk.
 * A configured name maps to the same local name as the server's folder it
 * names (folder_local_name(wire) == the configured name for a name that
 * uses '/'), so a folder made ahead of the session (fetch.c) and the
 * folder the session delivers to are one directory.
 *
 * The server's separator is learnt from LIST "" "" (RFC 3501 6.3.8)
 * before any configured name is sent; 0 means a flat server (no
 * hierarchy). A server may use another separator in another namespace
 * (RFC 2342: personal '.', "#shared/" with '/'): where it announces
 * NAMESPACE, a configured name inside a namespace's prefix is sent with
 * that namespace's separator (struct folder_ns). A configured name that spells the server's own separator
 * ("INBOX.Lists" on a '.' server) reaches the same folder, since that
 * character is sent as it is. A '/' inside a server folder's name (a
 * server whose separator is not '/') cannot be configured by name: a
 * pattern reaches it, and its local name has '_' for that '/'. */
#ifndef MAILFETCHD_FOLDER_H
#define MAILFETCHD_FOLDER_H

#include <stddef.h>

/* Longest local folder name made from a server name. */
#define FOLDER_LOCAL_MAX	200

/* The namespaces of a NAMESPACE response (RFC 2342), personal, other
 * users' and shared alike: each prefix in the configuration's spelling
 * (UTF-8, its separator as '/') with the namespace's separator. At most
 * FOLDER_NS_MAX are kept (a hostile server may send any number). */
#define FOLDER_NS_MAX	16
struct folder_ns {
	char	*prefix[FOLDER_NS_MAX];
	int	 delim[FOLDER_NS_MAX];
	size_t	 n;
	size_t	 npersonal;	/* the first ones: the user's own */
	int	 parsed;	/* from a NAMESPACE answer */
	int	 partial;	/* a namespace was left out (past
				 * FOLDER_NS_MAX, a bad prefix) or the
				 * answer was unreadable: a folder no kept
				 * prefix names may be in it */
};
struct imap_response;
/* Replaces ns with the namespaces of a NAMESPACE response; a prefix that
 * is not modified UTF-7 or longer than FOLDER_LOCAL_MAX is left out (ns
 * is then partial), and an answer that could not be read (r->skipped)
 * is folder_ns_unreadable. */
void	 folder_ns_parse(struct folder_ns *ns, const struct imap_response *r);
/* The separator for the configured name conf: that of the namespace with
 * the longest prefix conf begins with (or equals, without the trailing
 * separator), else dflt (the LIST "" "" one). */
int	 folder_ns_delim(const struct folder_ns *ns, const char *conf,
	    int dflt);
/* Whether the server folder wire (listed with the separator delim) is
 * the user's own: not under the prefix of an "other users" or "shared"
 * namespace, compared without case (a server may list "Public/Trash"
 * under the prefix "public/"); its longest matching prefix is a personal
 * one, or none matches. Where a namespace was left out (ns->partial),
 * only a folder under a personal prefix that is not "", or a top-level
 * folder, is (review r11 07: fail closed). Without a NAMESPACE answer,
 * every folder is but one whose first level begins with '#' (RFC 2342's
 * convention for other namespaces). A special-use role names the user's
 * own folder: keep = no must not move mail into a public \Trash (review
 * r10 08). */
int	 folder_ns_personal(const struct folder_ns *ns, const char *wire,
	    int delim);
/* conf as folder_conf_to_wire sends it, with the separator
 * folder_ns_delim gives it. */
char	*folder_ns_conf_to_wire(const struct folder_ns *ns, const char *conf,
	    int dflt, char **cause);
/* Without NAMESPACE: the prefix of the other namespace a configured name
 * is in by RFC 3501 5.1.2's convention, a first level beginning with '#'
 * ("#shared" for "#shared/team"), which LIST "" "#shared" tells the
 * separator of; NULL for any other name (and a first level with '*' or
 * '%'). Caller frees. */
char	*folder_ns_guess(const char *conf);
/* Whether ns has a namespace of that prefix (as folder_ns_guess gives
 * it: its folders are under prefix + "/"). */
int	 folder_ns_has(const struct folder_ns *ns, const char *prefix);
/* Adds the namespace prefix + "/" with separator delim (nothing past
 * FOLDER_NS_MAX or FOLDER_LOCAL_MAX bytes). */
void	 folder_ns_set(struct folder_ns *ns, const char *prefix, int delim);
/* Whether two folder names are one folder: the same bytes, or the same
 * but for the case of INBOX as their first hierarchy level (RFC 3501
 * 5.1: INBOX in any case is the INBOX, and a name that starts with it
 * and the separator delim is under it: Dovecot lists "inbox/Trash" as
 * "INBOX/Trash"). delim 0: no hierarchy, only a bare INBOX. */
int	 folder_name_eq(const char *a, const char *b, int delim);
/* The NAMESPACE answer could not be read: no namespace is known, and
 * ns is partial (folder_ns_personal fails closed). */
void	 folder_ns_unreadable(struct folder_ns *ns);
/* Frees the prefixes; ns is empty again. */
void	 folder_ns_clear(struct folder_ns *ns);

/* The configured name conf as sent to a server whose separator is delim:
 * each '/' becomes delim, then modified UTF-7 ('&' is "&-"). NULL with
 * *cause (caller frees) when conf is not valid UTF-8. Caller frees. */
char	*folder_conf_to_wire(const char *conf, int delim, char **cause);
/* A server's (wire) name as UTF-8 for the user: modified UTF-7 decoded,
 * the server's separator kept. A name that is not valid modified UTF-7
 * is returned as sent with control and 8-bit bytes escaped, and *bad set
 * to 1. Caller frees. */
char	*folder_wire_to_utf8(const char *wire, int *bad);
/* The local (Maildir++) name of a server folder whose UTF-8 name is utf8
 * and separator delim: delim becomes '/', a '/' that is not the separator
 * and control characters '_', and "." or ".." components are prefixed
 * with '_' so that nothing climbs out of the Maildir. NULL when longer
 * than FOLDER_LOCAL_MAX. Caller frees. */
char	*folder_local_name(const char *utf8, int delim);

/* For the error about a configured name the server does not have: the
 * name decoded, when it reads as modified UTF-7 with an encoded run
 * ("Entw&APw-rfe" is "Entwürfe"; such names were once sent as they were
 * written); NULL otherwise. Caller frees. */
char	*folder_conf_mutf7_hint(const char *conf);

struct imap_node;
/* The special-use attribute (RFC 6154; Gmail's older XLIST names too) of
 * a folder that a pattern does not fetch: \All (Gmail's All Mail holds
 * every message of every label once more), \Junk, \Trash; NULL for any
 * other folder. flags is the LIST answer's attribute list. A folder named
 * in the configuration is fetched whatever its attributes. */
const char *folder_pattern_excluded(const struct imap_node *flags);

/* Special-use roles (RFC 6154). A configured folder name that begins
 * with '\' names a role, not a folder: "\Junk" is whatever folder the
 * server's LIST gives the \Junk attribute ("Спам" on Yandex,
 * "[Gmail]/Spam" on Gmail in English), so that one configuration works in
 * every language. A real folder whose name begins with '\' is written
 * with that '\' doubled ("\\Odd" is the folder "\Odd"). In the file, a
 * '\' inside double quotes is libconfuse's escape: folder "\\Junk" or
 * folder '\Junk' (mailfetchd.conf(5)). */
enum folder_role {
	FOLDER_ROLE_NONE = 0,
	FOLDER_ROLE_ALL,
	FOLDER_ROLE_ARCHIVE,
	FOLDER_ROLE_DRAFTS,
	FOLDER_ROLE_FLAGGED,
	FOLDER_ROLE_JUNK,
	FOLDER_ROLE_SENT,
	FOLDER_ROLE_TRASH,
	FOLDER_ROLE_MAX,
};
/* The role a configured name names: FOLDER_ROLE_NONE for a name that
 * does not begin with '\' or begins with "\\" (a real folder, see
 * folder_conf_unescape), -1 for an unknown role. Case-insensitive, as
 * IMAP attributes are. */
int		 folder_role_of_conf(const char *conf);
/* A configured folder name with a leading "\\" made "\", else as it
 * is. Points into conf. */
const char	*folder_conf_unescape(const char *conf);
/* "\Junk" and so on; "" for FOLDER_ROLE_NONE or out of range. */
const char	*folder_role_name(int role);
/* "\All, \Archive, ... or \Trash", for messages. */
const char	*folder_role_names(void);
/* The roles a LIST answer's attribute list gives a folder, as bits
 * (1 << role); Gmail's XLIST-era names count too (\AllMail is \All,
 * \Spam \Junk, \Starred \Flagged). */
unsigned int	 folder_roles_of(const struct imap_node *flags);

/* Whether one of the configured folders (not the patterns, which pass
 * over the \Trash folder) is the server folder wire: by name, spelled
 * as the session sends it (ns, delim), or by a role resolved to it (role_wire[],
 * NULL where the server has none). keep = no's default trash must not be
 * one (review r10 01): what is moved there would be fetched again. */
struct folder_conf;
int	 folder_conf_fetches(const struct folder_conf *folders, size_t n,
	    char *const role_wire[], const struct folder_ns *ns, int delim,
	    const char *wire);

/* The role (\All, \Junk or \Trash) whose resolved folder (role_wire[],
 * from the session's LIST ... RETURN (SPECIAL-USE)) is wire, else NULL:
 * a pattern passes over it as over a folder its own LIST marks so
 * (folder_pattern_excluded), since a server may mark the roles only in
 * the answer to RETURN (SPECIAL-USE) (RFC 6154; review r10 02). */
const char	*folder_role_excluded(char *const role_wire[],
		    const char *wire);

#endif
