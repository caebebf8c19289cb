/* provider.c: the provider presets and the refusal-text hints. Every number
 * says where it comes from; where a provider publishes no figure the field
 * is 0 (no limit applied) and the comment says so, rather than guessing.
 * Servers use implicit TLS (993, 995) wherever offered: RFC 8314 section
 * 3.3 prefers it to STARTTLS. */
#include "provider.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

#define MIN(x)	((x) * 60U)
#define MB(x)	((uint64_t)(x) * 1000 * 1000)	/* providers' "MB": the
						 * smaller reading */

static const struct provider provider_table[] = {
	/*
	 * Servers and settings: https://support.google.com/mail/answer/7126229
	 * App passwords: https://support.google.com/accounts/answer/185833
	 * Daily budgets, "Download via IMAP 2500 MB", "Download via POP
	 * 1250 MB" per day: https://support.google.com/a/answer/1071518
	 * (published for Google Workspace; Google publishes none for free
	 * accounts, we apply the same).
	 * 15 simultaneous IMAP connections per account: the figure current
	 * guides give (e.g. Lifewire, "Know the Simultaneous Gmail IMAP
	 * Connection Limit"); Google's own old page said 10
	 * (mail.google.com/support/bin/answer.py?answer=97150, 2008). The
	 * reserve of 5 leaves room for a phone and a desktop client.
	 * Minimum poll interval 10 minutes: the project's policy (doc/DESIGN.md,
	 * issue 5); Google publishes no polling figure we could find.
	 */
	{ "gmail", { "googlemail", "google", NULL }, "Gmail",
	  { "imap.gmail.com", 993, TLS_IMPLICIT },
	  { "pop.gmail.com", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, MIN(10), 15, 5, MB(2500), MB(1250), 0,
	  PROVIDER_OAUTH_OFFERED,
	  "IMAP access: Gmail settings > See all settings > Forwarding and "
	  "POP/IMAP > Enable IMAP (for POP: Enable POP there); then an app "
	  "password (needs 2-Step Verification) or OAuth2",
	  "https://support.google.com/mail/answer/7126229",
	  "separator '/'; special-use attributes in LIST (the XLIST-era "
	  "\\AllMail and \\Spam count too); the "
	  "special folders are under \"[Gmail]/\" (\"[Google Mail]/\" in some "
	  "countries) in the account's language: name them by role "
	  "('\\Junk', '\\Sent', '\\All')",
	  "labels are folders: a message under several labels, and in All "
	  "Mail, is delivered once, into the first configured folder that "
	  "holds it (X-GM-MSGID); patterns leave out \\All, \\Junk and "
	  "\\Trash; keep = no moves to the \\Trash folder ([Gmail]/Trash), "
	  "which deletes the message from every label" },
	/*
	 * Servers and "enable IMAP first":
	 * https://yandex.com/support/mail/mail-clients.html
	 * App passwords:
	 * https://yandex.com/support/passport/authorization/app-passwords.html
	 * No connection or download limit published. IDLE re-issued every
	 * 4 minutes: Yandex drops idle connections after about 5 (observed,
	 * issue 5; no published figure).
	 */
	{ "yandex", { "yandex.ru", "ya.ru", NULL }, "Yandex Mail",
	  { "imap.yandex.com", 993, TLS_IMPLICIT },
	  { "pop.yandex.com", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, 0, 0, 0, 0, 0, MIN(4),
	  PROVIDER_OAUTH_OFFERED,
	  "Mail settings > Email clients: allow access from the "
	  "imap.yandex.ru server via IMAP (or POP3) with app passwords; "
	  "create an app password in Yandex ID > Security",
	  "https://yandex.com/support/mail/mail-clients.html",
	  "separator '|' (write '/' in the configuration); special-use "
	  "attributes in LIST, names in the account's language (\"Спам\" is "
	  "\\Junk, \"Отправленные\" \\Sent, \"Удалённые\" \\Trash): name "
	  "them by role",
	  "IDLE connections dropped after about 5 minutes (re-issued every 4)" },
	/*
	 * Servers: https://help.mail.ru/mail/mailer/popsmtp
	 * "Passwords for external applications":
	 * https://help.mail.ru/mail/security/protection/external
	 * (both not re-checked in this session). No limits published.
	 */
	{ "mailru", { "mail.ru", NULL }, "Mail.ru",
	  { "imap.mail.ru", 993, TLS_IMPLICIT },
	  { "pop.mail.ru", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, 0, 0, 0, 0, 0, 0,
	  PROVIDER_OAUTH_OFFERED,
	  "Settings > All settings > Mail programs: allow access by "
	  "IMAP/POP3; Security > Passwords for external applications: create "
	  "one and use it here",
	  "https://help.mail.ru/mail/mailer/popsmtp",
	  "separator '/'; special-use attributes in LIST, names in the "
	  "account's language (\"Спам\" is \\Junk, \"Корзина\" \\Trash): "
	  "name them by role",
	  NULL },
	/*
	 * Servers and the "mail clients" switch: help.rambler.ru, section
	 * "Mail clients" (not re-checked in this session). No limits
	 * published.
	 */
	{ "rambler", { "rambler.ru", NULL }, "Rambler Mail",
	  { "imap.rambler.ru", 993, TLS_IMPLICIT },
	  { "pop.rambler.ru", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, 0, 0, 0, 0, 0, 0,
	  PROVIDER_OAUTH_NONE,
	  "Settings > Mail programs: switch on \"Access to the mailbox via "
	  "mail clients\"",
	  "https://help.rambler.ru/mail/",
	  NULL, NULL },
	/*
	 * Servers, "POP & IMAP access is disabled by default", "Outlook.com
	 * requires the use of Modern Auth / OAuth2":
	 * https://support.microsoft.com/en-us/office/pop-imap-and-smtp-settings-8361e398-8af4-4e97-b147-6c6c4ac95353
	 * Microsoft 365 (Exchange Online) uses the same servers; basic auth
	 * is off there too. No per-account figure published for mail clients.
	 */
	{ "outlook", { "office365", "hotmail", "microsoft365" },
	  "Outlook.com / Microsoft 365",
	  { "outlook.office365.com", 993, TLS_IMPLICIT },
	  { "outlook.office365.com", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, 0, 0, 0, 0, 0, 0,
	  PROVIDER_OAUTH_REQUIRED,
	  "Outlook.com: Settings > Mail > Forwarding and IMAP > \"Let devices "
	  "and apps use IMAP\" (or POP); Microsoft 365: the admin enables "
	  "IMAP/POP for the mailbox; OAuth2 (token_command) is required",
	  "https://support.microsoft.com/en-us/office/pop-imap-and-smtp-"
	  "settings-8361e398-8af4-4e97-b147-6c6c4ac95353",
	  "separator '/'; special-use attributes in LIST, names in the "
	  "mailbox's language (\"Junk Email\" is \\Junk, \"Deleted Items\" "
	  "\\Trash, \"Sent Items\" \\Sent): name them by role",
	  "OAuth2 only; keep = no deletes; trash_folder = '\\Trash' moves "
	  "to \"Deleted Items\" instead" },
	/*
	 * Servers: https://help.yahoo.com/kb/SLN4075.html
	 * App passwords: https://help.yahoo.com/kb/SLN15241.html
	 * (not re-checked in this session). No limits published.
	 */
	{ "yahoo", { "ymail", NULL }, "Yahoo Mail",
	  { "imap.mail.yahoo.com", 993, TLS_IMPLICIT },
	  { "pop.mail.yahoo.com", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, 0, 0, 0, 0, 0, 0,
	  PROVIDER_OAUTH_OFFERED,
	  "Account info > Account security > Generate app password, and use "
	  "it here",
	  "https://help.yahoo.com/kb/SLN4075.html",
	  NULL, NULL },
	/*
	 * https://support.apple.com/en-us/102525 ("iCloud Mail server
	 * settings"): IMAP only, user name "the name part of your iCloud
	 * email address", an app-specific password. No limits published.
	 */
	{ "icloud", { "me.com", "mac.com", NULL }, "iCloud Mail",
	  { "imap.mail.me.com", 993, TLS_IMPLICIT },
	  { NULL, 0, TLS_IMPLICIT },
	  PROVIDER_USER_LOCALPART, 0, 0, 0, 0, 0, 0,
	  PROVIDER_OAUTH_NONE,
	  "appleid.apple.com > Sign-In and Security > App-Specific Passwords: "
	  "generate one (needs two-factor authentication)",
	  "https://support.apple.com/en-us/102525",
	  NULL, NULL },
	/*
	 * https://support.gmx.com/pop-imap/ (gmx.com; gmx.net accounts use
	 * imap.gmx.net / pop.gmx.net). No limits published.
	 */
	{ "gmx", { "gmx.com", NULL }, "GMX",
	  { "imap.gmx.com", 993, TLS_IMPLICIT },
	  { "pop.gmx.com", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, 0, 0, 0, 0, 0, 0,
	  PROVIDER_OAUTH_NONE,
	  "Settings > POP3 & IMAP: enable access to this account via POP3 "
	  "and IMAP",
	  "https://support.gmx.com/pop-imap/",
	  NULL, NULL },
	/*
	 * https://www.fastmail.help/hc/en-us/articles/1500000278342
	 * ("Server names and ports"); app passwords are required for
	 * third-party clients. No limits published.
	 */
	{ "fastmail", { NULL }, "Fastmail",
	  { "imap.fastmail.com", 993, TLS_IMPLICIT },
	  { "pop.fastmail.com", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, 0, 0, 0, 0, 0, 0,
	  PROVIDER_OAUTH_OFFERED,
	  "Settings > Privacy & Security > Integrations > New app password "
	  "(access: IMAP/POP)",
	  "https://www.fastmail.help/hc/en-us/articles/1500000278342",
	  "separator '/'; SPECIAL-USE (Cyrus): \"Spam\" is \\Junk, \"Trash\" "
	  "\\Trash, \"Sent\" \\Sent, \"Archive\" \\Archive",
	  NULL },
	/*
	 * https://help.aol.com/articles/how-do-i-use-other-email-applications-to-send-and-receive-my-aol-mail
	 * (not re-checked in this session). No limits published.
	 */
	{ "aol", { NULL }, "AOL Mail",
	  { "imap.aol.com", 993, TLS_IMPLICIT },
	  { "pop.aol.com", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, 0, 0, 0, 0, 0, 0,
	  PROVIDER_OAUTH_OFFERED,
	  "Account info > Account security > Generate app password",
	  "https://help.aol.com/articles/how-do-i-use-other-email-"
	  "applications-to-send-and-receive-my-aol-mail",
	  NULL, NULL },
	/*
	 * https://www.zoho.com/mail/help/imap-access.html (zoho.com data
	 * centre; zoho.eu and others use imap.zoho.eu etc.). No limits
	 * published.
	 */
	{ "zoho", { NULL }, "Zoho Mail",
	  { "imap.zoho.com", 993, TLS_IMPLICIT },
	  { "pop.zoho.com", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, 0, 0, 0, 0, 0, 0,
	  PROVIDER_OAUTH_OFFERED,
	  "Settings > Mail Accounts > IMAP (or POP): enable access; an "
	  "application-specific password when two-factor authentication is on",
	  "https://www.zoho.com/mail/help/imap-access.html",
	  NULL, NULL },
	/*
	 * https://kb.mailbox.org (server names and ports; not re-checked in
	 * this session). IDLE re-issued every 4 minutes: issue 5 lists
	 * mailbox.org among servers dropping IDLE early (no published
	 * figure).
	 */
	{ "mailbox.org", { "mailboxorg", NULL }, "mailbox.org",
	  { "imap.mailbox.org", 993, TLS_IMPLICIT },
	  { "pop3.mailbox.org", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, 0, 0, 0, 0, 0, MIN(4),
	  PROVIDER_OAUTH_NONE,
	  "nothing: IMAP and POP3 are on by default",
	  "https://kb.mailbox.org/",
	  NULL, NULL },
	/*
	 * https://posteo.de/en/help/how-do-i-set-up-posteo-in-an-email-client-pop3-imap-and-smtp
	 * (not re-checked in this session). No limits published.
	 */
	{ "posteo", { NULL }, "Posteo",
	  { "posteo.de", 993, TLS_IMPLICIT },
	  { "posteo.de", 995, TLS_IMPLICIT },
	  PROVIDER_USER_ADDRESS, 0, 0, 0, 0, 0, 0,
	  PROVIDER_OAUTH_NONE,
	  "nothing: IMAP and POP3 are on by default",
	  "https://posteo.de/en/help",
	  NULL, NULL },
};

/* Which protocols a hint is about. */
#define HINT_IMAP	0x1
#define HINT_POP3	0x2
#define HINT_ANY	(HINT_IMAP | HINT_POP3)

/* One row of the hints table: a substring of the server's text, or a
 * response code (or both); the first matching row wins. */
struct provider_hint {
	unsigned int	 protos;
	const char	*code;		/* NULL: any */
	const char	*text;		/* NULL: any */
	const char	*hint;
};

static const char hint_app_password[] =
    "the provider requires an app password (or OAuth2) for mail programs: "
    "create one in the account's security settings and use it instead of "
    "the account password";
static const char hint_basic_auth_off[] =
    "password login is switched off for this account (Microsoft: basic "
    "authentication blocked): use OAuth2 (auth = xoauth2 with "
    "token_command)";
static const char hint_imap_off[] =
    "IMAP access is disabled in the account's web settings: enable it "
    "there (see mailfetchd --providers), or check the password";
static const char hint_pop3_off[] =
    "POP3 access is disabled in the account's web settings: enable it "
    "there (see mailfetchd --providers), or check the password";
static const char hint_too_many[] =
    "too many simultaneous connections to this account: close other "
    "clients or lower max_connections";
static const char hint_web_login[] =
    "the provider locked the account after suspicious activity: log in "
    "once through its web page (and confirm it was you), then retry";
static const char hint_locked[] =
    "the account is locked or suspended at the provider: log in through "
    "its web page to see why";

/*
 * Texts as servers send them (case-insensitive substrings):
 * Gmail "[ALERT] Application-specific password required",
 * "Your account is not enabled for IMAP use", "[ALERT] Please log in via
 * your web browser", POP3 "[AUTH] Web login required"; Outlook
 * "BasicAuthBlocked", "AUTHENTICATE failed."; Yandex "LOGIN Invalid
 * credentials or IMAP is disabled", POP3 "login failure or POP3 disabled";
 * Gmail/Yahoo/others "Too many simultaneous connections". Codes: RFC 5530
 * (IMAP) and RFC 2449/3206 (POP3).
 */
static const struct provider_hint provider_hints[] = {
	{ HINT_ANY, NULL, "application-specific password", hint_app_password },
	{ HINT_ANY, NULL, "app password", hint_app_password },
	{ HINT_ANY, NULL, "application password", hint_app_password },
	{ HINT_ANY, NULL, "BasicAuthBlocked", hint_basic_auth_off },
	{ HINT_ANY, NULL, "basic authentication is disabled",
	  hint_basic_auth_off },
	{ HINT_IMAP, NULL, "AUTHENTICATE failed", "Outlook/Microsoft 365 "
	  "refuse password login: use OAuth2 (auth = xoauth2 with "
	  "token_command); elsewhere, check user and password" },
	{ HINT_IMAP, NULL, "not enabled for IMAP", hint_imap_off },
	{ HINT_IMAP, NULL, "IMAP is disabled", hint_imap_off },
	{ HINT_IMAP, NULL, "IMAP access is disabled", hint_imap_off },
	{ HINT_IMAP, NULL, "IMAP disabled", hint_imap_off },
	{ HINT_IMAP, NULL, "IMAP access disabled", hint_imap_off },
	{ HINT_POP3, NULL, "not enabled for POP", hint_pop3_off },
	{ HINT_POP3, NULL, "POP3 disabled", hint_pop3_off },
	{ HINT_POP3, NULL, "POP3 is disabled", hint_pop3_off },
	{ HINT_POP3, NULL, "POP access is disabled", hint_pop3_off },
	{ HINT_POP3, NULL, "POP3 access is disabled", hint_pop3_off },
	{ HINT_ANY, NULL, "too many simultaneous connections", hint_too_many },
	{ HINT_ANY, NULL, "too many connections", hint_too_many },
	{ HINT_ANY, NULL, "maximum number of connections", hint_too_many },
	{ HINT_ANY, NULL, "log in via your web browser", hint_web_login },
	{ HINT_ANY, NULL, "web login required", hint_web_login },
	{ HINT_ANY, NULL, "suspicious", hint_web_login },
	{ HINT_ANY, NULL, "account is locked", hint_locked },
	{ HINT_ANY, NULL, "account locked", hint_locked },
	{ HINT_ANY, NULL, "account is disabled", hint_locked },
	{ HINT_ANY, NULL, "account suspended", hint_locked },
	{ HINT_ANY, NULL, "account is suspended", hint_locked },
	{ HINT_IMAP, "AUTHENTICATIONFAILED", NULL, "wrong user name or "
	  "password (the server says the credentials are bad; some providers "
	  "also say this when IMAP is off or an app password is needed)" },
	{ HINT_IMAP, "UNAVAILABLE", NULL, "the server is temporarily "
	  "unavailable (not a password problem); will retry later" },
	{ HINT_IMAP, "AUTHORIZATIONFAILED", NULL, "the credentials are right "
	  "but this user may not use this mailbox" },
	{ HINT_IMAP, "EXPIRED", NULL, "the password has expired: change it "
	  "through the provider's web page" },
	{ HINT_IMAP, "PRIVACYREQUIRED", NULL, "the server wants an encrypted "
	  "connection: use tls = implicit or starttls" },
	{ HINT_IMAP, "CONTACTADMIN", NULL, "the server asks you to contact "
	  "the mail administrator" },
	{ HINT_IMAP, "LIMIT", NULL, "a server limit was reached (often "
	  "connections or bandwidth); will back off" },
	{ HINT_IMAP, "INUSE", NULL, "the mailbox is in use by another client; "
	  "will retry later" },
	{ HINT_POP3, "IN-USE", NULL, "the mailbox is in use by another POP3 "
	  "client; will retry later" },
	{ HINT_POP3, "LOGIN-DELAY", NULL, "the server allows logins only so "
	  "often: raise poll_interval" },
	{ HINT_POP3, "SYS/TEMP", NULL, "temporary server problem (not a "
	  "password problem); will retry later" },
	{ HINT_POP3, "SYS/PERM", NULL, "permanent server-side problem with "
	  "this account: check the provider's web page" },
	{ HINT_POP3, "AUTH", NULL, "wrong user name or password (the server "
	  "says the credentials are bad)" },
};

const struct provider *
provider_find(const char *name)
{
	const struct provider	*p;
	size_t			 i, j;

	if (name == NULL)
		return (NULL);
	for (i = 0; i < nitems(provider_table); i++) {
		p = &provider_table[i];
		if (strcasecmp(p->name, name) == 0)
			return (p);
		for (j = 0; j < nitems(p->aliases) && p->aliases[j] != NULL;
		    j++) {
			if (strcasecmp(p->aliases[j], name) == 0)
				return (p);
		}
	}
	return (NULL);
}

const struct provider *
provider_get(size_t i)
{
	if (i >= nitems(provider_table))
		return (NULL);
	return (&provider_table[i]);
}

size_t
provider_count(void)
{
	return (nitems(provider_table));
}

/* Orders names for provider_names(). */
static int
provider_cmp_names(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

char *
provider_names(void)
{
	const char	*names[nitems(provider_table)];
	char		*s, *t;
	size_t		 i;

	for (i = 0; i < nitems(provider_table); i++)
		names[i] = provider_table[i].name;
	qsort(names, nitems(names), sizeof names[0], provider_cmp_names);
	s = xstrdup(names[0]);
	for (i = 1; i < nitems(names); i++) {
		xasprintf(&t, "%s, %s", s, names[i]);
		free(s);
		s = t;
	}
	return (s);
}

const struct provider_server *
provider_server(const struct provider *p, enum config_proto proto)
{
	const struct provider_server	*s;

	s = proto == PROTO_POP3 ? &p->pop3 : &p->imap;
	return (s->host != NULL ? s : NULL);
}

unsigned int
provider_default_connections(const struct provider *p)
{
	if (p->max_conn == 0)
		return (0);
	if (p->conn_reserve >= p->max_conn)
		return (1);
	return (p->max_conn - p->conn_reserve);
}

uint64_t
provider_daily_limit(const struct provider *p, enum config_proto proto)
{
	return (proto == PROTO_POP3 ? p->pop3_daily : p->imap_daily);
}

const char *
provider_user_name(enum provider_user u)
{
	return (u == PROVIDER_USER_LOCALPART ? "local part (before '@')" :
	    "full address");
}

const char *
provider_oauth_name(enum provider_oauth o)
{
	switch (o) {
	case PROVIDER_OAUTH_OFFERED:
		return ("password (often an app password) or OAuth2");
	case PROVIDER_OAUTH_REQUIRED:
		return ("OAuth2 required (xoauth2, token_command)");
	default:
		return ("password (often an app password)");
	}
}

/* The tls = value of a server (config.c has the same names; repeated so
 * this module links without config.c). */
static const char *
provider_tls_name(enum config_tls tls)
{
	switch (tls) {
	case TLS_STARTTLS:
		return ("starttls");
	case TLS_NONE:
		return ("none");
	default:
		return ("implicit");
	}
}

/* Prints "label: host:port tls" or "label: not offered". */
static void
provider_print_server(FILE *f, const char *label,
    const struct provider_server *s)
{
	if (s->host == NULL)
		fprintf(f, "  %-8s not offered\n", label);
	else
		fprintf(f, "  %-8s %s:%u %s\n", label, s->host, s->port,
		    provider_tls_name(s->tls));
}

/* Prints the limits line of one preset. */
static void
provider_print_limits(FILE *f, const struct provider *p)
{
	const char	*sep = "";

	fprintf(f, "  %-8s ", "limits:");
	if (p->min_poll != 0) {
		fprintf(f, "poll at most every %us", p->min_poll);
		sep = "; ";
	}
	if (p->max_conn != 0) {
		fprintf(f, "%s%u IMAP connections (default max_connections "
		    "%u)", sep, p->max_conn, provider_default_connections(p));
		sep = "; ";
	}
	if (p->imap_daily != 0) {
		fprintf(f, "%sIMAP %llu bytes/day", sep,
		    (unsigned long long)p->imap_daily);
		sep = "; ";
	}
	if (p->pop3_daily != 0) {
		fprintf(f, "%sPOP3 %llu bytes/day", sep,
		    (unsigned long long)p->pop3_daily);
		sep = "; ";
	}
	if (p->idle_interval != 0) {
		fprintf(f, "%sIDLE re-issued every %us", sep, p->idle_interval);
		sep = "; ";
	}
	fprintf(f, "%s\n", *sep == '\0' ? "none published" : "");
}

/* Servers people host themselves: no preset (host = ...), but folder
 * conventions worth knowing before writing folder names. */
static const struct {
	const char	*title;
	const char	*folders;
} provider_self_hosted[] = {
	{ "Dovecot",
	  "separator '/' or '.' as the admin set it (the Maildir++ layout "
	  "without a namespace separator: '.'); SPECIAL-USE, on the folders "
	  "the admin gave a special_use (most distributions: Drafts, Junk, "
	  "Trash, Sent)" },
	{ "Cyrus IMAP",
	  "separator '/' and folders beside INBOX (Cyrus 3's defaults, "
	  "unixhierarchysep and altnamespace); on Cyrus 2 or where the admin "
	  "turned them off, separator '.' and folders under INBOX "
	  "(\"INBOX.Sent\", written \"INBOX/Sent\"); SPECIAL-USE (3.x) on "
	  "the folders created with a use or marked by the admin" },
	{ "Courier-IMAP",
	  "separator '.', every folder under INBOX (\"INBOX.Trash\", written "
	  "\"INBOX/Trash\"); special-use attributes depend on the version: "
	  "--diagnose lists the roles the server has, else name the folders" },
};

/* The folders lines of a preset, when it has them. */
static void
provider_print_folders(FILE *f, const struct provider *p)
{
	if (p->folders != NULL)
		fprintf(f, "  %-8s %s\n", "folders:", p->folders);
	if (p->quirks != NULL)
		fprintf(f, "  %-8s %s\n", "quirks:", p->quirks);
}

static void
provider_print_self_hosted(FILE *f)
{
	size_t	i;

	fputs("\nServers without a preset (set host = \"...\"); folder "
	    "names are written with '/' between levels on every server, "
	    "and a name beginning with '\\' is a special-use role "
	    "('\\Junk'). The separator and the roles are read from the "
	    "server at each login: what follows is what to expect, and "
	    "--diagnose shows what a server says:\n", f);
	for (i = 0; i < nitems(provider_self_hosted); i++)
		fprintf(f, "%s\n  %-8s %s\n", provider_self_hosted[i].title,
		    "folders:", provider_self_hosted[i].folders);
}

void
provider_print_list(FILE *f)
{
	const struct provider	*p;
	size_t			 i, j;

	for (i = 0; i < nitems(provider_table); i++) {
		p = &provider_table[i];
		fprintf(f, "%s%s (%s", i == 0 ? "" : "\n", p->name, p->title);
		for (j = 0; j < nitems(p->aliases) && p->aliases[j] != NULL;
		    j++)
			fprintf(f, "%s%s", j == 0 ? "; also " : ", ",
			    p->aliases[j]);
		fputs(")\n", f);
		provider_print_server(f, "imap:", &p->imap);
		provider_print_server(f, "pop3:", &p->pop3);
		fprintf(f, "  %-8s %s\n", "user:",
		    provider_user_name(p->user_form));
		fprintf(f, "  %-8s %s\n", "auth:", provider_oauth_name(p->oauth));
		provider_print_limits(f, p);
		provider_print_folders(f, p);
		fprintf(f, "  %-8s %s\n", "enable:", p->enable);
		fprintf(f, "  %-8s %s\n", "source:", p->source);
	}
	provider_print_self_hosted(f);
}

const char *
provider_hint(enum config_proto proto, const char *text, const char *code)
{
	const struct provider_hint	*h;
	unsigned int			 want;
	size_t				 i;

	want = proto == PROTO_POP3 ? HINT_POP3 : HINT_IMAP;
	for (i = 0; i < nitems(provider_hints); i++) {
		h = &provider_hints[i];
		if ((h->protos & want) == 0)
			continue;
		if (h->code != NULL && (code == NULL ||
		    strcasecmp(h->code, code) != 0))
			continue;
		if (h->text != NULL && (text == NULL ||
		    strcasestr(text, h->text) == NULL))
			continue;
		return (h->hint);
	}
	return (NULL);
}
