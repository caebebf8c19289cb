/* config.c: the configuration file. libconfuse parses it; this file declares
 * the schema, checks every value while libconfuse still knows the line it
 * came from (so each error reads "FILE:LINE: what (hint)"), and converts the
 * result into the plain structs of config.h. No libconfuse type leaves it. */
#include "config.h"
#include "shard.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <confuse.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cmdline.h"
#include "lmtp.h"
#include "mda.h"
#include "folder.h"
#include "provider.h"
#include "xmalloc.h"

#define CONFIG_MAX_ERRORS	20	/* then stop: the rest is noise */
#define CONFIG_LOCAL_MAX	200	/* bytes in a local folder name */
#define CONFIG_NAME_MAX		64	/* bytes in an account name */
#define CONFIG_SOCKET_MAX	108	/* sizeof(sun_path) on Linux */
#define CONFIG_MAX_CONN		1000
#define CONFIG_MAX_DURATION	(365L * 86400)
#define CONFIG_MAX_SIZE		(1024L * 1024 * 1024 * 1024)
#define CONFIG_MIN_POLL		10
#define CONFIG_MIN_IDLE		60
#define CONFIG_MAX_IDLE		(29 * 60)	/* RFC 2177: "at least every 29
						 * minutes" */
#define CONFIG_MAX_FILE		(4 * 1024 * 1024)

/* libconfuse takes end of file as the end of any open section, so a
 * missing '}' would go unnoticed. A statement only valid at the top level
 * is appended to the input: inside a section it is an unknown option,
 * which config_errfn turns into "missing '}'". */
#define CONFIG_SENTINEL		"\001end"

#define CONFIG_DEF_POLL		300
#define CONFIG_DEF_TIMEOUT	60
#define CONFIG_DEF_MSGSIZE	(256L * 1024 * 1024)
#define CONFIG_DEF_MAXCONN	64
/* Well under RFC 2177's 29 minutes: real servers drop IDLE after 5 to 23
 * minutes, and home routers forget idle TCP sessions too. */
#define CONFIG_DEF_IDLE		600
#define CONFIG_DEF_HOOK_TIMEOUT	60
#define CONFIG_DEF_MDA_TIMEOUT	300

/* One error message and the line it is about, for sorting. */
struct config_msg {
	int		 line;
	char		*text;		/* "FILE:LINE: message" */
};

/* Where an option of the account being parsed was set, so that a check
 * needing the whole section can still name the offending line. */
struct config_line {
	const cfg_t	*sec;
	const char	*name;		/* libconfuse's copy, lives with sec */
	int		 line;
};

/* What one parse collects. libconfuse's callbacks carry no user pointer,
 * so the parse in progress is a static; its lexer is not reentrant
 * either. */
struct config_parse {
	struct config_msg	*errors;
	unsigned int		 nerrors;
	struct config_line	*lines;
	size_t			 nlines;
	char			**warnings;	/* "FILE:LINE: ..." */
	size_t			 nwarnings;
	int			 last_line;	/* of the real input */
	int			 eof_seen;	/* reported the end once */
};
static struct config_parse *config_ctx;

static const char *config_proto_names[] = { "imap", "pop3" };
static const char *config_tls_names[] = { "implicit", "starttls", "none" };
static const char *config_flags_names[] = { "new", "seen", "mirror" };
static const char *config_compress_names[] = { "no", "yes", "always" };
static const char *config_first_names[] = { "all", "unseen", "new" };
static const char *config_deliver_names[] = { "maildir", "mda", "lmtp" };
/* Index i is the bit 1 << i: AUTH_PLAIN ... AUTH_APOP. */
static const char *config_auth_names[] = {
	"plain", "login", "xoauth2", "oauthbearer", "apop"
};
static const char *config_level_names[] = {
	"error", "warning", "notice", "info", "debug"
};

static int	config_parse_proto(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_parse_tls(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_parse_flags(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_parse_first(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_parse_deliver(cfg_t *, cfg_opt_t *, const char *,
		    void *);
static void	config_convert_deliver(cfg_t *, struct account_conf *);
static int	config_parse_compress(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_parse_level(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_parse_auth(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_parse_port(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_parse_count(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_parse_duration(cfg_t *, cfg_opt_t *, const char *,
		    void *);
static int	config_parse_size(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_valid_name(const char *);

static cfg_opt_t config_folder_opts[] = {
	CFG_STR("local", NULL, CFGF_NODEFAULT),
	/* No defaults: unset means "inherit from the account". */
	CFG_BOOL("idle", cfg_false, CFGF_NODEFAULT),
	CFG_BOOL("mark_read", cfg_false, CFGF_NODEFAULT),
	CFG_INT_CB("deliver", DELIVER_MAILDIR, CFGF_NODEFAULT,
	    config_parse_deliver),
	CFG_END()
};

/* The oauth2 { } section of an account: presets fill what it leaves out
 * (see config_oauth2_presets). */
static cfg_opt_t config_oauth2_opts[] = {
	CFG_STR("provider", NULL, CFGF_NODEFAULT),
	CFG_STR("client_id", NULL, CFGF_NODEFAULT),
	CFG_STR("client_secret_file", NULL, CFGF_NODEFAULT),
	CFG_STR("token_url", NULL, CFGF_NODEFAULT),
	CFG_STR("device_url", NULL, CFGF_NODEFAULT),
	CFG_STR("auth_url", NULL, CFGF_NODEFAULT),
	CFG_STR("scope", NULL, CFGF_NODEFAULT),
	CFG_INT("redirect_port", 0, CFGF_NONE),
	CFG_STR("ca_file", NULL, CFGF_NODEFAULT),
	CFG_END()
};

/*
 * OAuth2 presets, from the providers' published documentation:
 * - Google, "OAuth 2.0 for Mobile & Desktop Apps"
 *   (https://developers.google.com/identity/protocols/oauth2/native-app):
 *   authorisation endpoint https://accounts.google.com/o/oauth2/v2/auth,
 *   token endpoint https://oauth2.googleapis.com/token, loopback redirect
 *   (http://127.0.0.1:PORT) with PKCE; Gmail's IMAP/POP scope is
 *   https://mail.google.com/ (https://developers.google.com/gmail/imap/
 *   xoauth2-protocol). Google's device flow
 *   (https://oauth2.googleapis.com/device/code, "OAuth 2.0 for TV and
 *   Limited-Input Device Applications") accepts only a limited set of
 *   scopes, which does not include https://mail.google.com/: the preset
 *   has no device_url, so --oauth2-setup uses the loopback flow.
 * - Microsoft identity platform, "Authenticate an IMAP, POP or SMTP
 *   connection using OAuth" (https://learn.microsoft.com/en-us/exchange/
 *   client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-
 *   application-by-using-oauth): scopes
 *   https://outlook.office.com/IMAP.AccessAsUser.All and
 *   .../POP.AccessAsUser.All, plus offline_access for a refresh token;
 *   endpoints https://login.microsoftonline.com/common/oauth2/v2.0/
 *   {devicecode,token,authorize} (device authorisation grant preferred:
 *   public clients need no secret and no local browser).
 */
struct config_oauth2_preset {
	const char	*name;
	enum config_oauth2_provider provider;
	const char	*token_url;
	const char	*device_url;
	const char	*auth_url;
	const char	*scope;
};
static const struct config_oauth2_preset config_oauth2_presets[] = {
	{ "custom", OAUTH2_PROVIDER_CUSTOM, NULL, NULL, NULL, NULL },
	{ "google", OAUTH2_PROVIDER_GOOGLE,
	  "https://oauth2.googleapis.com/token",
	  NULL,
	  "https://accounts.google.com/o/oauth2/v2/auth",
	  "https://mail.google.com/" },
	{ "microsoft", OAUTH2_PROVIDER_MICROSOFT,
	  "https://login.microsoftonline.com/common/oauth2/v2.0/token",
	  "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
	  "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
	  "https://outlook.office.com/IMAP.AccessAsUser.All "
	  "https://outlook.office.com/POP.AccessAsUser.All offline_access" },
};

static cfg_opt_t config_account_opts[] = {
	CFG_INT_CB("protocol", 0, CFGF_NODEFAULT, config_parse_proto),
	CFG_STR("host", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("port", 0, CFGF_NODEFAULT, config_parse_port),
	/* No defaults where a provider preset may fill the value: unset
	 * must stay distinguishable from set (explicit wins). */
	CFG_INT_CB("tls", TLS_IMPLICIT, CFGF_NODEFAULT, config_parse_tls),
	CFG_BOOL("allow_insecure", cfg_false, CFGF_NONE),
	CFG_STR("ca_file", NULL, CFGF_NODEFAULT),
	CFG_STR("fingerprint", NULL, CFGF_NODEFAULT),
	CFG_STR("user", NULL, CFGF_NODEFAULT),
	CFG_STR("password_file", NULL, CFGF_NODEFAULT),
	CFG_STR("password_command", NULL, CFGF_NODEFAULT),
	CFG_STR("token_command", NULL, CFGF_NODEFAULT),
	CFG_STR("password", NULL, CFGF_NODEFAULT),
	CFG_STR_LIST_CB("auth", NULL, CFGF_NODEFAULT, config_parse_auth),
	CFG_STR("maildir", NULL, CFGF_NODEFAULT),
	CFG_BOOL("keep", cfg_true, CFGF_NONE),
	CFG_BOOL("mark_read", cfg_false, CFGF_NONE),
	CFG_INT_CB("local_flags", LOCAL_FLAGS_NEW, CFGF_NONE,
	    config_parse_flags),
	CFG_INT_CB("first_fetch", FIRST_FETCH_ALL, CFGF_NONE,
	    config_parse_first),
	CFG_STR("trash_folder", NULL, CFGF_NODEFAULT),
	CFG_BOOL("idle", cfg_false, CFGF_NONE),
	CFG_INT_CB("idle_interval", CONFIG_DEF_IDLE, CFGF_NODEFAULT,
	    config_parse_duration),
	CFG_INT_CB("compress", COMPRESS_YES, CFGF_NONE, config_parse_compress),
	CFG_INT_CB("poll_interval", CONFIG_DEF_POLL, CFGF_NODEFAULT,
	    config_parse_duration),
	CFG_BOOL("poll_interval_override", cfg_false, CFGF_NONE),
	CFG_INT_CB("timeout", CONFIG_DEF_TIMEOUT, CFGF_NONE,
	    config_parse_duration),
	CFG_INT_CB("max_message_size", CONFIG_DEF_MSGSIZE, CFGF_NONE,
	    config_parse_size),
	CFG_INT_CB("max_connections", 0, CFGF_NODEFAULT, config_parse_count),
	CFG_INT_CB("daily_limit", 0, CFGF_NODEFAULT, config_parse_size),
	CFG_STR("provider", NULL, CFGF_NODEFAULT),
	CFG_STR("owner", NULL, CFGF_NODEFAULT),
	CFG_STR("new_mail_command", NULL, CFGF_NODEFAULT),
	CFG_STR("failure_command", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("hook_timeout", CONFIG_DEF_HOOK_TIMEOUT, CFGF_NODEFAULT,
	    config_parse_duration),
	CFG_INT_CB("deliver", DELIVER_MAILDIR, CFGF_NONE,
	    config_parse_deliver),
	CFG_STR("mda_command", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("mda_timeout", CONFIG_DEF_MDA_TIMEOUT, CFGF_NONE,
	    config_parse_duration),
	CFG_BOOL("mda_id_header", cfg_false, CFGF_NONE),
	CFG_STR("lmtp", NULL, CFGF_NODEFAULT),
	CFG_STR("lmtp_recipient", NULL, CFGF_NODEFAULT),
	CFG_SEC("folder", config_folder_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	/* MULTI so that an absent section is told apart from an empty one. */
	CFG_SEC("oauth2", config_oauth2_opts, CFGF_MULTI),
	CFG_END()
};

static cfg_opt_t config_root_opts[] = {
	CFG_STR("state_dir", CONFIG_DEFAULT_STATE_DIR, CFGF_NONE),
	CFG_STR("control_socket", NULL, CFGF_NODEFAULT),
	CFG_STR("metrics_file", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("log_level", LOG_LVL_INFO, CFGF_NONE, config_parse_level),
	CFG_INT_CB("max_connections", CONFIG_DEF_MAXCONN, CFGF_NONE,
	    config_parse_count),
	CFG_INT_CB("max_connections_per_host", 0, CFGF_NONE,
	    config_parse_count),
	CFG_BOOL("allow_root", cfg_false, CFGF_NONE),
	CFG_STR("shard", NULL, CFGF_NODEFAULT),
	CFG_STR("new_mail_command", NULL, CFGF_NODEFAULT),
	CFG_STR("failure_command", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("hook_timeout", CONFIG_DEF_HOOK_TIMEOUT, CFGF_NONE,
	    config_parse_duration),
	CFG_SEC("account", config_account_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_BOOL(CONFIG_SENTINEL, cfg_false, CFGF_NODEFAULT),
	CFG_END()
};

/* Formats like vasprintf, aborting on failure as xasprintf does. */
static printflike(1, 0) char *
config_vprintf(const char *fmt, va_list ap)
{
	va_list	 ap2;
	char	*s;
	int	 n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return (xstrdup("unprintable error message"));
	s = xmalloc((size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return (s);
}

/* Formats like asprintf, aborting on failure. */
static printflike(1, 2) char *
config_printf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = config_vprintf(fmt, ap);
	va_end(ap);
	return (s);
}

/* Records one finished message about line (0: the whole file). */
static void
config_add_error(struct config_parse *ctx, int line, char *text)
{
	ctx->errors = xreallocarray(ctx->errors, ctx->nerrors + 1,
	    sizeof *ctx->errors);
	ctx->errors[ctx->nerrors].line = line;
	ctx->errors[ctx->nerrors].text = text;
	ctx->nerrors++;
}

/* The messages in line order (section checks run at the closing brace,
 * after later lines were read), one per line; frees them. */
static char *
config_join_errors(struct config_parse *ctx)
{
	struct config_msg	 m;
	char			*out, *t;
	unsigned int		 i, j;

	for (i = 1; i < ctx->nerrors; i++) {
		m = ctx->errors[i];
		for (j = i; j > 0 && ctx->errors[j - 1].line > m.line; j--)
			ctx->errors[j] = ctx->errors[j - 1];
		ctx->errors[j] = m;
	}
	out = ctx->errors[0].text;
	for (i = 1; i < ctx->nerrors; i++) {
		xasprintf(&t, "%s\n%s", out, ctx->errors[i].text);
		free(out);
		free(ctx->errors[i].text);
		out = t;
	}
	free(ctx->errors);
	ctx->errors = NULL;
	return (out);
}

/* Adds a hint to libconfuse's terse messages. Returns NULL to keep the
 * original. */
static char *
config_rewrite_hint(const char *fmt, const char *msg)
{
	/* Only the untranslated texts are known; others pass unchanged. */
	if (strcmp(fmt, "no such option '%s'") == 0)
		return (config_printf("%s (see mailfetchd.conf(5) for the "
		    "options and where they go)", msg));
	if (strcmp(fmt, "invalid boolean value for option '%s'") == 0)
		return (config_printf("%s (use yes or no)", msg));
	return (NULL);
}

/* Rewrites libconfuse's "found duplicate title" into something that says
 * which kind of section is duplicated. Returns NULL to keep the original. */
static char *
config_rewrite_dup(cfg_t *cfg, const char *fmt, const char *msg)
{
	const char	*title;
	char		*out;

	/* Only the untranslated text is known; others pass unchanged. */
	if (strcmp(fmt, "found duplicate title '%s'") != 0 ||
	    (title = strchr(msg, '\'')) == NULL)
		return (NULL);
	if (strcmp(cfg_name(cfg), "account") == 0)
		xasprintf(&out, "duplicate folder %s in account '%s' (folder "
		    "names must be unique within an account)", title,
		    cfg_title(cfg));
	else
		xasprintf(&out, "duplicate account %s (account names must be "
		    "unique)", title);
	return (out);
}

/* Rewrites what the sentinel caused (past the last real line): a section
 * still open at the end, or a statement cut short. Returns NULL when the
 * message was already given. */
static char *
config_rewrite_eof(cfg_t *cfg, const char *fmt, const char *msg)
{
	struct config_parse	*ctx = config_ctx;

	if (ctx->eof_seen)
		return (NULL);
	ctx->eof_seen = 1;
	cfg->line = ctx->last_line;
	if (strcmp(fmt, "no such option '%s'") == 0 &&
	    strstr(msg, CONFIG_SENTINEL) != NULL && cfg_title(cfg) != NULL)
		return (config_printf("end of file inside %s '%s' (missing "
		    "'}')", cfg_name(cfg), cfg_title(cfg)));
	return (xstrdup("premature end of file"));
}

/* libconfuse's error function: every message, libconfuse's own and ours,
 * becomes "FILE:LINE: message" in the parse's error text. */
static printflike(2, 0) void
config_errfn(cfg_t *cfg, const char *fmt, va_list ap)
{
	char	*msg, *better, *line;
	int	 saved = cfg->line;

	if (config_ctx == NULL)
		return;
	msg = config_vprintf(fmt, ap);
	if (cfg->line > config_ctx->last_line) {
		better = config_rewrite_eof(cfg, fmt, msg);
		if (better == NULL) {
			free(msg);
			return;
		}
	} else if ((better = config_rewrite_dup(cfg, fmt, msg)) == NULL)
		better = config_rewrite_hint(fmt, msg);
	if (better != NULL) {
		free(msg);
		msg = better;
	}
	if (cfg->filename != NULL && cfg->line > 0)
		xasprintf(&line, "%s:%d: %s", cfg->filename, cfg->line, msg);
	else if (cfg->filename != NULL)
		xasprintf(&line, "%s: %s", cfg->filename, msg);
	else
		line = xstrdup(msg);
	config_add_error(config_ctx, cfg->filename != NULL ? cfg->line : 0,
	    line);
	cfg->line = saved;
	free(msg);
}

/* Reports an error at cfg's current line. */
static printflike(2, 3) void
config_error(cfg_t *cfg, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = config_vprintf(fmt, ap);
	va_end(ap);
	cfg_error(cfg, "%s", msg);
	free(msg);
}

/* Reports an error at a given line of cfg's file. */
static printflike(3, 4) void
config_error_at(cfg_t *cfg, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	int	 saved = cfg->line;

	va_start(ap, fmt);
	msg = config_vprintf(fmt, ap);
	va_end(ap);
	cfg->line = line;
	cfg_error(cfg, "%s", msg);
	cfg->line = saved;
	free(msg);
}

/* Callback result: go on (collecting more errors) unless there are already
 * too many. */
static int
config_go_on(void)
{
	if (config_ctx != NULL && config_ctx->nerrors >= CONFIG_MAX_ERRORS)
		return (-1);
	return (0);
}

/* Remembers the line where sec's option name was (last) set. */
static void
config_note_line(const cfg_t *sec, const char *name, int line)
{
	struct config_parse	*ctx = config_ctx;
	size_t			 i;

	for (i = 0; i < ctx->nlines; i++) {
		if (ctx->lines[i].sec == sec &&
		    strcmp(ctx->lines[i].name, name) == 0) {
			ctx->lines[i].line = line;
			return;
		}
	}
	ctx->lines = xreallocarray(ctx->lines, ctx->nlines + 1,
	    sizeof *ctx->lines);
	ctx->lines[ctx->nlines].sec = sec;
	ctx->lines[ctx->nlines].name = name;
	ctx->lines[ctx->nlines].line = line;
	ctx->nlines++;
}

/* The line where sec's option was set, or fallback. */
static int
config_line_of(const cfg_t *sec, const char *name, int fallback)
{
	struct config_parse	*ctx = config_ctx;
	size_t			 i;

	for (i = 0; i < ctx->nlines; i++) {
		if (ctx->lines[i].sec == sec &&
		    strcmp(ctx->lines[i].name, name) == 0)
			return (ctx->lines[i].line);
	}
	return (fallback);
}

/* Forgets the lines of a finished section. */
static void
config_forget_lines(const cfg_t *sec)
{
	struct config_parse	*ctx = config_ctx;
	size_t			 i, n = 0;

	for (i = 0; i < ctx->nlines; i++) {
		if (ctx->lines[i].sec != sec)
			ctx->lines[n++] = ctx->lines[i];
	}
	ctx->nlines = n;
}

/* "a, b or c" from a names table; the caller frees. */
static char *
config_choices(const char **names, size_t n)
{
	char	*s, *t;
	size_t	 i;

	s = xstrdup(names[0]);
	for (i = 1; i < n; i++) {
		xasprintf(&t, "%s%s%s", s, i == n - 1 ? " or " : ", ",
		    names[i]);
		free(s);
		s = t;
	}
	return (s);
}

/* Maps value to its index in names; reports an error and stores -1 when it
 * is none of them. */
static int
config_parse_enum(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result, const char **names, size_t n)
{
	char	*choices;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (strcasecmp(value, names[i]) == 0) {
			*(long *)result = (long)i;
			return (0);
		}
	}
	*(long *)result = -1;
	choices = config_choices(names, n);
	config_error(cfg, "invalid %s '%s' (use %s)", cfg_opt_name(opt), value,
	    choices);
	free(choices);
	return (config_go_on());
}

/* protocol = imap | pop3 */
static int
config_parse_proto(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	return (config_parse_enum(cfg, opt, value, result, config_proto_names,
	    nitems(config_proto_names)));
}

/* tls = implicit | starttls | none */
static int
config_parse_tls(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	return (config_parse_enum(cfg, opt, value, result, config_tls_names,
	    nitems(config_tls_names)));
}

/* local_flags = new | seen | mirror */
static int
config_parse_flags(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	return (config_parse_enum(cfg, opt, value, result, config_flags_names,
	    nitems(config_flags_names)));
}

/* compress = no | yes | always (yes and true, no and false alike) */
static int
config_parse_compress(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	if (strcasecmp(value, "true") == 0 || strcasecmp(value, "on") == 0)
		value = "yes";
	else if (strcasecmp(value, "false") == 0 ||
	    strcasecmp(value, "off") == 0)
		value = "no";
	return (config_parse_enum(cfg, opt, value, result,
	    config_compress_names, nitems(config_compress_names)));
}

/* first_fetch = all | unseen | new */
static int
config_parse_first(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	return (config_parse_enum(cfg, opt, value, result, config_first_names,
	    nitems(config_first_names)));
}

/* deliver = maildir | mda | lmtp */
static int
config_parse_deliver(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	return (config_parse_enum(cfg, opt, value, result,
	    config_deliver_names, nitems(config_deliver_names)));
}

/* log_level = error | warning | notice | info | debug */
static int
config_parse_level(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	return (config_parse_enum(cfg, opt, value, result, config_level_names,
	    nitems(config_level_names)));
}

/* One element of auth = { ... }; the value is kept as written. */
static int
config_parse_auth(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	long	 idx;
	int	 rc;

	rc = config_parse_enum(cfg, opt, value, &idx, config_auth_names,
	    nitems(config_auth_names));
	*(const char **)result = value;
	return (rc);
}

/* Reads a decimal number with an optional one-letter unit from units
 * (case-insensitive), multiplied by the matching factor. Returns 0, or -1
 * on a syntax error or a value above max. */
static int
config_number(const char *s, const char *units, const long *factors,
    long max, long *out)
{
	const char	*u;
	long		 n = 0, factor = 1;

	if (!isdigit((unsigned char)*s))
		return (-1);
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (max - (*s - '0')) / 10)
			return (-1);
		n = n * 10 + (*s - '0');
	}
	if (*s != '\0') {
		if (units == NULL || s[1] != '\0' ||
		    (u = strchr(units, tolower((unsigned char)*s))) == NULL)
			return (-1);
		factor = factors[u - units];
	}
	if (n != 0 && n > max / factor)
		return (-1);
	*out = n * factor;
	return (0);
}

/* port = 1..65535 */
static int
config_parse_port(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	long	n;

	if (config_number(value, NULL, NULL, 65535, &n) == 0 && n > 0) {
		*(long *)result = n;
		return (0);
	}
	config_error(cfg, "invalid port '%s' (use a number from 1 to 65535)",
	    value);
	*(long *)result = 0;
	return (config_go_on());
}

/* max_connections: at least 1 globally, 0 (= the global cap) per account;
 * max_connections_per_host: 0 means no per-host cap. */
static int
config_parse_count(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	int	root = strcmp(cfg_name(cfg), "root") == 0;
	int	host = strcmp(cfg_opt_name(opt), "max_connections_per_host") == 0;
	long	n, min = root && !host ? 1 : 0;

	if (config_number(value, NULL, NULL, CONFIG_MAX_CONN, &n) == 0 &&
	    n >= min) {
		*(long *)result = n;
		return (0);
	}
	config_error(cfg, "invalid %s '%s' (use a number from %ld to %d%s)",
	    cfg_opt_name(opt), value, min, CONFIG_MAX_CONN, host ?
	    "; 0 means no per-host limit" : min == 0 ?
	    "; 0 means the global max_connections" : "");
	*(long *)result = min;
	return (config_go_on());
}

/* Durations: seconds, or a number with s, m, h or d. */
static int
config_parse_duration(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	static const long	 factors[] = { 1, 60, 3600, 86400 };
	const char		*name = cfg_opt_name(opt);
	long			 n, min, max = CONFIG_MAX_DURATION;

	min = strcmp(name, "poll_interval") == 0 ? CONFIG_MIN_POLL : 1;
	if (strcmp(name, "idle_interval") == 0) {
		min = CONFIG_MIN_IDLE;
		max = CONFIG_MAX_IDLE;
	}
	*(long *)result = min;
	if (config_number(value, "smhd", factors, CONFIG_MAX_DURATION,
	    &n) != 0) {
		config_error(cfg, "invalid duration '%s' for %s (use seconds "
		    "or a number with s, m, h or d, e.g. 90, 30s, 5m, 1h; at "
		    "most 365d)", value, name);
		return (config_go_on());
	}
	if (n < min) {
		config_error(cfg, "%s = %s is too short (the minimum is %lds)",
		    name, value, min);
		return (config_go_on());
	}
	if (n > max) {
		config_error(cfg, "%s = %s is too long (the maximum is %lds)",
		    name, value, max);
		return (config_go_on());
	}
	*(long *)result = n;
	return (0);
}

/* Sizes: bytes, or a number with K, M or G (powers of 1024). */
static int
config_parse_size(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	static const long	factors[] = { 1024L, 1024L * 1024,
				    1024L * 1024 * 1024 };
	long			n;

	if (config_number(value, "kmg", factors, CONFIG_MAX_SIZE, &n) == 0) {
		*(long *)result = n;
		return (0);
	}
	config_error(cfg, "invalid size '%s' for %s (use bytes or a number "
	    "with K, M or G, e.g. 1048576, 512K, 256M, 2G; at most 1024G)",
	    value, cfg_opt_name(opt));
	*(long *)result = 0;
	return (config_go_on());
}

/* Normalises "sha256:" + 64 hex digits, with optional colons between byte
 * pairs, to lowercase without colons. Returns NULL if malformed. */
static char *
config_fingerprint(const char *s)
{
	char	out[7 + 64 + 1];
	size_t	n = 0;

	if (strncasecmp(s, "sha256:", 7) != 0)
		return (NULL);
	memcpy(out, "sha256:", 7);
	for (s += 7; *s != '\0'; s++) {
		if (*s == ':') {
			/* Only between two pairs of digits. */
			if (n == 0 || n % 2 != 0 || s[1] == '\0' || s[1] == ':')
				return (NULL);
			continue;
		}
		if (!isxdigit((unsigned char)*s) || n == 64)
			return (NULL);
		out[7 + n++] = (char)tolower((unsigned char)*s);
	}
	if (n != 64)
		return (NULL);
	out[7 + n] = '\0';
	return (xstrdup(out));
}

/* Why a local folder name is unusable, or NULL if it is fine. */
static const char *
config_local_problem(const char *s)
{
	const char	*p;

	if (*s == '\0')
		return ("must not be empty");
	if (strlen(s) > CONFIG_LOCAL_MAX)
		return ("must not be longer than 200 bytes");
	for (p = s; *p != '\0'; p++) {
		if (iscntrl((unsigned char)*p))
			return ("must not contain control characters");
	}
	if (strstr(s, "..") != NULL)
		return ("must not contain '..'");
	if (*s == '/' || s[strlen(s) - 1] == '/' || strstr(s, "//") != NULL)
		return ("must not start or end with '/' or contain '//'");
	/* Maildir++ spells the hierarchy with dots: a level starting with a
	 * dot would not come back as the same name. */
	if (*s == '.' || strstr(s, "/.") != NULL)
		return ("must not start with '.' (nor any level after '/')");
	return (NULL);
}

/* Reports an unusable local folder name at cfg's line; what says where it
 * came from. */
static void
config_check_local(cfg_t *cfg, const char *what, const char *s,
    const char *hint)
{
	const char	*problem;
	char		*safe;

	if ((problem = config_local_problem(s)) == NULL)
		return;
	safe = log_sanitize(s, strlen(s), 64);
	config_error(cfg, "invalid %s '%s': it %s%s", what, safe, problem,
	    hint);
	free(safe);
}

/* Checks a password_file: it exists, is a regular file we can read and
 * that nobody else can read or write. */
static void
config_check_password_file(cfg_t *cfg, const char *path)
{
	struct stat	sb;

	if (stat(path, &sb) != 0) {
		config_error(cfg, "password_file '%s': %s", path,
		    strerror(errno));
		return;
	}
	if (!S_ISREG(sb.st_mode)) {
		config_error(cfg, "password_file '%s' is not a regular file",
		    path);
		return;
	}
	/* As the daemon will open it: with the effective ids. */
	if (faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) != 0) {
		config_error(cfg, "password_file '%s' is not readable: %s", path,
		    strerror(errno));
		return;
	}
	if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		config_error(cfg, "password_file '%s' has mode %04o: it must not "
		    "be readable or writable by group or others (chmod 600 "
		    "'%s')", path, (unsigned int)(sb.st_mode & 07777), path);
	}
}

/* owner = USER: a local user other than root, whose name is a plain file
 * name (it names the owner's state directory, state_dir/owner/USER). */
static void
config_check_owner(cfg_t *cfg, const char *value)
{
	struct passwd	*pw;
	char		*safe;

	if (!config_valid_name(value)) {
		safe = log_sanitize(value, strlen(value), 64);
		config_error(cfg, "invalid owner '%s' (a local user name: "
		    "letters, digits, '.', '-', '_', '@' or '+', not starting "
		    "with '.')", safe);
		free(safe);
		return;
	}
	if ((pw = getpwnam(value)) == NULL) {
		config_error(cfg, "owner '%s': no such local user (see getent "
		    "passwd '%s')", value, value);
		return;
	}
	if (pw->pw_uid == 0)
		config_error(cfg, "owner '%s' is root (uid 0): an owner is the "
		    "unprivileged user the account's mail is written as (to "
		    "fetch as root, leave owner unset and set allow_root = "
		    "yes)", value);
}

/* provider = NAME: one of the presets (mailfetchd --providers). */
static void
config_check_provider(cfg_t *cfg, const char *value)
{
	char	*names, *safe;

	if (provider_find(value) != NULL)
		return;
	names = provider_names();
	safe = log_sanitize(value, strlen(value), 64);
	config_error(cfg, "unknown provider '%s' (use one of %s; or set host, "
	    "port and tls instead)", safe, names);
	free(safe);
	free(names);
}

/* Checks one string option where it is set, so errors carry its line. */
/* A hook command splits into words (hook.h); "" turns a global one off
 * for the account. */
static void
config_check_hook(cfg_t *cfg, const char *name, const char *value)
{
	char	**argv, *cause;

	if (*value == '\0')
		return;
	if (cmdline_split(value, &argv, &cause) != 0) {
		config_error(cfg, "%s: %s", name, cause);
		free(cause);
		return;
	}
	/* Its placeholders, with stand-ins (mda.h). */
	if (strcmp(name, "mda_command") == 0 && cmdline_expand(argv,
	    MDA_KEYS, (const char *const []){ "", "", "", "" }, &cause) != 0) {
		config_error(cfg, "%s: %s", name, cause);
		free(cause);
	}
	cmdline_free(argv);
}

static void
config_check_string(cfg_t *cfg, const char *name, const char *value)
{
	const char	*p;
	char		*fp;

	if (strcmp(name, "password") == 0) {
		config_error(cfg, "inline passwords are not supported yet; use "
		    "password_file or password_command");
	} else if (strcmp(name, "provider") == 0 &&
	    strcmp(cfg->name, "oauth2") != 0) {
		/* An oauth2 section's provider is checked with the section
		 * (google, microsoft, custom). */
		config_check_provider(cfg, value);
	} else if (strcmp(name, "owner") == 0) {
		config_check_owner(cfg, value);
	} else if (strcmp(name, "local") == 0) {
		config_check_local(cfg, "local folder name", value,
		    "");
	} else if (strcmp(name, "new_mail_command") == 0 ||
	    strcmp(name, "failure_command") == 0 ||
	    strcmp(name, "mda_command") == 0) {
		config_check_hook(cfg, name, value);
	} else if (*value == '\0' && strcmp(name, "trash_folder") != 0) {
		/* trash_folder = "": no trash (keep = no deletes). */
		config_error(cfg, "%s must not be empty", name);
	} else if (strcmp(name, "state_dir") == 0 ||
	    strcmp(name, "maildir") == 0 ||
	    strcmp(name, "metrics_file") == 0) {
		if (*value != '/')
			config_error(cfg, "%s must be an absolute path, not '%s'",
			    name, value);
	} else if (strcmp(name, "control_socket") == 0) {
		if (*value != '/')
			config_error(cfg, "%s must be an absolute path, not '%s'",
			    name, value);
		else if (strlen(value) >= CONFIG_SOCKET_MAX)
			config_error(cfg, "%s is too long (a unix socket path "
			    "has at most %d bytes)", name, CONFIG_SOCKET_MAX - 1);
	} else if (strcmp(name, "host") == 0) {
		for (p = value; *p != '\0'; p++) {
			if (isspace((unsigned char)*p) ||
			    iscntrl((unsigned char)*p))
				break;
		}
		if (*p != '\0')
			config_error(cfg, "invalid host name (it contains "
			    "spaces or control characters)");
	} else if (strcmp(name, "ca_file") == 0) {
		if (faccessat(AT_FDCWD, value, R_OK, AT_EACCESS) != 0)
			config_error(cfg, "ca_file '%s': %s", value,
			    strerror(errno));
	} else if (strcmp(name, "fingerprint") == 0) {
		if ((fp = config_fingerprint(value)) == NULL)
			config_error(cfg, "invalid fingerprint '%s' (use "
			    "\"sha256:\" and 64 hex digits, colons allowed "
			    "between bytes)", value);
		free(fp);
	} else if (strcmp(name, "password_file") == 0)
		config_check_password_file(cfg, value);
}

/* Validation callback of every plain option: remembers its line (for the
 * section checks) and checks string values. */
static int
config_validate_opt(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*name = cfg_opt_name(opt);
	const char	*value;

	if (strcmp(cfg_name(cfg), "account") == 0)
		config_note_line(cfg, name, cfg->line);
	if (opt->type == CFGT_STR && !(opt->flags & CFGF_LIST)) {
		value = cfg_opt_getnstr(opt, 0);
		if (value != NULL)
			config_check_string(cfg, name, value);
	}
	return (config_go_on());
}

/* The folder's local name as delivery will use it: local if set, else
 * the remote name; INBOX (either way) is "", the Maildir root. */
static const char *
config_effective_local(cfg_t *folder)
{
	const char	*local = folder_conf_unescape(cfg_title(folder));

	if (cfg_size(folder, "local") > 0)
		local = cfg_getstr(folder, "local");
	return (strcasecmp(local, "INBOX") == 0 ? "" : local);
}

/* Validation callback of a folder section (runs at its closing brace, with
 * cfg the account): the remote name, a usable derived local name, and no
 * two folders of the account delivering to the same local folder. */
static int
config_validate_folder(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t		*f, *other;
	const char	*remote, *local;
	unsigned int	 i, n = cfg_opt_size(opt);
	int		 role;

	f = cfg_opt_getnsec(opt, n - 1);
	remote = cfg_title(f);
	if (config_line_of(cfg, "folder", 0) == 0)
		config_note_line(cfg, "folder", cfg->line);
	if (*remote == '\0') {
		config_error(cfg, "folder name must not be empty (use the "
		    "server's name, e.g. folder \"INBOX\" { })");
		return (config_go_on());
	}
	if ((role = folder_role_of_conf(remote)) < 0) {
		config_error(cfg, "folder '%s': no such special-use role "
		    "(a name beginning with '\\' is one of %s; a folder whose "
		    "name begins with '\\' is written with it doubled: "
		    "folder \"\\\\\\\\%s\")", remote, folder_role_names(),
		    remote + 1);
		return (config_go_on());
	}
	local = config_effective_local(f);
	if (cfg_size(f, "local") == 0 && *local != '\0' &&
	    role == FOLDER_ROLE_NONE && strpbrk(remote, "*%") == NULL)
		config_check_local(cfg, "local folder name derived "
		    "from folder", local, " (set local = \"...\" in the folder)");
	for (i = 0; i + 1 < n; i++) {
		other = cfg_opt_getnsec(opt, i);
		if (strcmp(config_effective_local(other), local) != 0)
			continue;
		config_error(cfg, "folders '%s' and '%s' of account '%s' both "
		    "deliver to local folder '%s' (set a different local = "
		    "\"...\")", cfg_title(other), remote, cfg_title(cfg),
		    *local == '\0' ? "(the Maildir root)" : local);
		break;
	}
	return (config_go_on());
}

/* A host that tls = none may talk to without allow_insecure. */
static int
config_is_loopback(const char *host)
{
	struct in_addr	a4;
	struct in6_addr	a6;

	if (strcasecmp(host, "localhost") == 0)
		return (1);
	if (inet_pton(AF_INET, host, &a4) == 1)
		return ((ntohl(a4.s_addr) >> 24) == 127);
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return (IN6_IS_ADDR_LOOPBACK(&a6));
	return (0);
}

/* An account name is a file name under state_dir and a command line
 * argument: keep it plain. */
static int
config_valid_name(const char *name)
{
	const char	*p;

	if (*name == '\0' || *name == '.' || strlen(name) > CONFIG_NAME_MAX)
		return (0);
	for (p = name; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr("._-@+", *p) == NULL)
			return (0);
	}
	return (1);
}

/* AUTH_* bits of an account's auth list (unknown names were reported). */
static unsigned int
config_auth_bits(cfg_t *sec)
{
	unsigned int	 bits = 0, i;
	size_t		 j;
	const char	*s;

	for (i = 0; i < cfg_size(sec, "auth"); i++) {
		s = cfg_getnstr(sec, "auth", i);
		for (j = 0; j < nitems(config_auth_names); j++) {
			if (strcasecmp(s, config_auth_names[j]) == 0)
				bits |= 1U << j;
		}
	}
	return (bits);
}

/* Reports a required option that is missing. */
static void
config_require(cfg_t *sec, const char *name, const char *hint)
{
	if (cfg_size(sec, name) == 0)
		config_error(sec, "account '%s': %s is required%s",
		    cfg_title(sec), name, hint);
}

/* Exactly one of the three ways to get the secret. */
static void
config_check_secret(cfg_t *sec)
{
	int	n;

	n = (cfg_size(sec, "password_file") > 0) +
	    (cfg_size(sec, "password_command") > 0) +
	    (cfg_size(sec, "token_command") > 0);
	if (n > 0 && cfg_size(sec, "oauth2") > 0)
		config_error(sec, "account '%s': the oauth2 section excludes "
		    "password_file, password_command and token_command "
		    "(remove them, or the section)", cfg_title(sec));
	else if (n == 0 && cfg_size(sec, "oauth2") == 0)
		config_error(sec, "account '%s': a secret is required (set "
		    "password_file, password_command or token_command)",
		    cfg_title(sec));
	else if (n > 1)
		config_error(sec, "account '%s': password_file, "
		    "password_command and token_command exclude each other "
		    "(set only one)", cfg_title(sec));
}

/* An integer option's value, or def when the file does not set it. */
static long
config_int(cfg_t *sec, const char *name, long def)
{
	return (cfg_size(sec, name) > 0 ? cfg_getint(sec, name) : def);
}

/* The preset an account section names, or NULL (none, or unknown: that
 * was reported where it was set). */
static const struct provider *
config_sec_provider(cfg_t *sec)
{
	if (cfg_size(sec, "provider") == 0)
		return (NULL);
	return (provider_find(cfg_getstr(sec, "provider")));
}

/* tls = none sends the password in clear: only to loopback, unless the
 * account says allow_insecure = yes. */
static void
config_check_tls(cfg_t *sec)
{
	const struct provider		*p;
	const struct provider_server	*srv;
	const char			*host;

	if (cfg_size(sec, "tls") == 0 || cfg_getint(sec, "tls") != TLS_NONE ||
	    cfg_getbool(sec, "allow_insecure"))
		return;
	if (cfg_size(sec, "host") > 0)
		host = cfg_getstr(sec, "host");
	else if ((p = config_sec_provider(sec)) != NULL &&
	    (srv = provider_server(p, (enum config_proto)config_int(sec,
	    "protocol", PROTO_IMAP))) != NULL)
		host = srv->host;
	else
		return;
	if (config_is_loopback(host))
		return;
	config_error_at(sec, config_line_of(sec, "tls", sec->line),
	    "account '%s': tls = none would send the password in clear text "
	    "to '%s' (use tls = implicit or starttls; set allow_insecure = "
	    "yes only if the network path is trusted)", cfg_title(sec), host);
}

/* Reports an account error at the line of the option it is about. */
static printflike(3, 4) void
config_error_opt(cfg_t *sec, const char *name, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = config_vprintf(fmt, ap);
	va_end(ap);
	config_error_at(sec, config_line_of(sec, name, sec->line),
	    "account '%s': %s", cfg_title(sec), msg);
	free(msg);
}

/* Whether the account, or one of its folder sections, says deliver = d. */
static int
config_delivers(cfg_t *sec, long d)
{
	cfg_t		*fs;
	unsigned int	 i;

	if (cfg_getint(sec, "deliver") == d)
		return (1);
	for (i = 0; i < cfg_size(sec, "folder"); i++) {
		fs = cfg_getnsec(sec, "folder", i);
		if (cfg_size(fs, "deliver") > 0 && cfg_getint(fs, "deliver") == d)
			return (1);
	}
	return (0);
}

/* deliver = mda needs its command, deliver = lmtp its server (the
 * account's, for every folder that says so); each is used with its own
 * deliver only. */
static void
config_check_deliver(cfg_t *sec)
{
	int	 mda = config_delivers(sec, DELIVER_MDA);
	int	 lmtp = config_delivers(sec, DELIVER_LMTP);
	char	*cause;

	if (!mda && cfg_size(sec, "mda_command") > 0)
		config_error_opt(sec, "mda_command", "mda_command is used only "
		    "with deliver = mda; add it or remove mda_command");
	if (!lmtp && cfg_size(sec, "lmtp") > 0)
		config_error_opt(sec, "lmtp", "lmtp is used only with deliver = "
		    "lmtp; add it or remove lmtp");
	if (mda && (cfg_size(sec, "mda_command") == 0 ||
	    *cfg_getstr(sec, "mda_command") == '\0'))
		config_error_opt(sec, "deliver", "deliver = mda needs "
		    "mda_command = \"COMMAND ARGS\" in the account (e.g. "
		    "\"/usr/bin/procmail -d %%u\")");
	if (lmtp && cfg_size(sec, "lmtp") == 0)
		config_error_opt(sec, "deliver", "deliver = lmtp needs lmtp = "
		    "\"unix:/PATH\" or \"ADDRESS:PORT\" in the account (e.g. "
		    "\"unix:/run/dovecot/lmtp\")");
	else if (lmtp &&
	    lmtp_target_check(cfg_getstr(sec, "lmtp"), &cause) != 0) {
		config_error_opt(sec, "lmtp", "lmtp = %s", cause);
		free(cause);
	}
}

/* What POP3 accounts cannot have. */
static void
config_check_pop3(cfg_t *sec)
{
	if (cfg_getbool(sec, "mark_read"))
		config_error_opt(sec, "mark_read", "mark_read = yes: POP3 has "
		    "no server-side read flag; use local_flags = seen");
	if (cfg_getbool(sec, "idle"))
		config_error_opt(sec, "idle", "idle = yes: POP3 has no IDLE; "
		    "remove it (poll_interval sets how often to check)");
	if (cfg_getint(sec, "local_flags") == LOCAL_FLAGS_MIRROR)
		config_error_opt(sec, "local_flags", "local_flags = mirror "
		    "needs IMAP flags; use new or seen with POP3");
	if (cfg_size(sec, "trash_folder") > 0)
		config_error_opt(sec, "trash_folder", "trash_folder is IMAP "
		    "only; remove it");
	if (cfg_size(sec, "folder") > 0)
		config_error_opt(sec, "folder", "folder sections are IMAP "
		    "only; POP3 has a single mailbox");
}

/* trash_folder takes a role as folder names do (folder.h): an unknown
 * one would else be created on the server as a folder named "\Foo". */
static void
config_check_trash(cfg_t *sec)
{
	const char	*trash;

	if (cfg_size(sec, "trash_folder") == 0 ||
	    (trash = cfg_getstr(sec, "trash_folder")) == NULL ||
	    folder_role_of_conf(trash) >= 0)
		return;
	config_error_opt(sec, "trash_folder", "trash_folder = '%s': no such "
	    "special-use role (a name beginning with '\\' is one of %s; a "
	    "folder whose name begins with '\\' is written with it "
	    "doubled: \"\\\\\\\\%s\")", trash, folder_role_names(),
	    trash + 1);
}

/* The auth list against the protocol and the secret. */
static void
config_check_auth(cfg_t *sec, long proto)
{
	unsigned int	bits = config_auth_bits(sec);
	unsigned int	oauth = AUTH_XOAUTH2 | AUTH_OAUTHBEARER;
	int		token = cfg_size(sec, "token_command") > 0 ||
			    cfg_size(sec, "oauth2") > 0;

	if ((bits & AUTH_APOP) && proto == PROTO_IMAP)
		config_error_opt(sec, "auth", "auth = apop is POP3 only");
	if ((bits & oauth) && !token)
		config_error_opt(sec, "auth", "auth = xoauth2 and oauthbearer "
		    "need token_command");
	if (token && bits != 0 && (bits & oauth) == 0)
		config_error_opt(sec, "auth", "token_command and oauth2 need "
		    "auth = xoauth2 or oauthbearer (or no auth line)");
}

/* Records a warning about line of sec's file; the caller of config_load
 * gets it in config->warnings. */
static printflike(3, 4) void
config_warn_at(cfg_t *sec, int line, const char *fmt, ...)
{
	struct config_parse	*ctx = config_ctx;
	va_list			 ap;
	char			*msg, *text;

	va_start(ap, fmt);
	msg = config_vprintf(fmt, ap);
	va_end(ap);
	xasprintf(&text, "%s:%d: %s", sec->filename != NULL ? sec->filename :
	    "(config)", line, msg);
	free(msg);
	ctx->warnings = xreallocarray(ctx->warnings, ctx->nwarnings + 1,
	    sizeof *ctx->warnings);
	ctx->warnings[ctx->nwarnings++] = text;
}

/* What a provider preset needs from the section: a protocol it offers,
 * and a poll_interval it tolerates (raised later, with a warning here
 * where the line is still known). */
static void
config_check_preset(cfg_t *sec, const struct provider *p, long proto)
{
	long	poll;

	if (proto >= 0 && provider_server(p, (enum config_proto)proto) == NULL)
		config_error_opt(sec, "protocol", "provider %s offers no %s "
		    "(use protocol = %s)", p->name,
		    config_proto_name((enum config_proto)proto),
		    proto == PROTO_POP3 ? "imap" : "pop3");
	if (cfg_size(sec, "poll_interval") == 0 || p->min_poll == 0 ||
	    cfg_getbool(sec, "poll_interval_override"))
		return;
	poll = cfg_getint(sec, "poll_interval");
	if (poll >= (long)p->min_poll)
		return;
	config_warn_at(sec, config_line_of(sec, "poll_interval", sec->line),
	    "account '%s': poll_interval = %lds is below %s's minimum of %us; "
	    "using %us (set poll_interval_override = yes to keep %lds)",
	    cfg_title(sec), poll, p->name, p->min_poll, p->min_poll, poll);
}

/* The preset named by an oauth2 section's provider, or NULL. */
static const struct config_oauth2_preset *
config_oauth2_preset(const char *name)
{
	size_t	i;

	for (i = 0; i < nitems(config_oauth2_presets); i++) {
		if (strcmp(config_oauth2_presets[i].name, name) == 0)
			return (&config_oauth2_presets[i]);
	}
	return (NULL);
}

/* An oauth2 string option, else the preset's value (NULL if neither). */
static const char *
config_oauth2_str(cfg_t *o, const struct config_oauth2_preset *pr,
    const char *name)
{
	if (cfg_size(o, name) > 0)
		return (cfg_getstr(o, name));
	if (pr == NULL)
		return (NULL);
	if (strcmp(name, "token_url") == 0)
		return (pr->token_url);
	if (strcmp(name, "device_url") == 0)
		return (pr->device_url);
	if (strcmp(name, "auth_url") == 0)
		return (pr->auth_url);
	if (strcmp(name, "scope") == 0)
		return (pr->scope);
	return (NULL);
}

/* An endpoint must be https:// (tokens and secrets cross it) and have no
 * blanks or control characters. */
static void
config_oauth2_check_url(cfg_t *o, const char *name, const char *url)
{
	const char	*p;

	if (strncmp(url, "https://", 8) != 0 || url[8] == '\0' ||
	    url[8] == '/') {
		config_error(o, "oauth2 %s must be an https:// URL, not '%s'",
		    name, url);
		return;
	}
	for (p = url; *p != '\0'; p++) {
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) {
			config_error(o, "oauth2 %s contains blanks or control "
			    "characters", name);
			return;
		}
	}
}

/* client_secret_file: a regular file nobody else can read or write. */
static void
config_oauth2_check_secret_file(cfg_t *o, const char *path)
{
	struct stat	sb;

	if (stat(path, &sb) != 0)
		config_error(o, "client_secret_file '%s': %s", path,
		    strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		config_error(o, "client_secret_file '%s' is not a regular "
		    "file", path);
	else if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		config_error(o, "client_secret_file '%s' has mode %04o: it "
		    "must not be readable or writable by group or others "
		    "(chmod 600 '%s')", path, (unsigned int)(sb.st_mode & 07777),
		    path);
}

/* Validation callback of an oauth2 section (at its closing brace, cfg the
 * account): a known provider, a client id, and endpoints for at least one
 * grant flow. */
static int
config_validate_oauth2(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t					*o;
	const struct config_oauth2_preset	*pr = NULL;
	const char				*v, *names[] = { "token_url",
						    "device_url", "auth_url" };
	size_t					 i;
	long					 port;

	o = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	if (cfg_opt_size(opt) > 1) {
		config_error(o, "account '%s': only one oauth2 section is "
		    "allowed", cfg_title(cfg));
		return (config_go_on());
	}
	if (cfg_size(o, "provider") > 0 &&
	    (pr = config_oauth2_preset(cfg_getstr(o, "provider"))) == NULL)
		config_error(o, "unknown oauth2 provider '%s' (use google, "
		    "microsoft or custom)", cfg_getstr(o, "provider"));
	if (cfg_size(o, "client_id") == 0)
		config_error(o, "account '%s': oauth2 client_id is required "
		    "(from the application registered with the provider)",
		    cfg_title(cfg));
	for (i = 0; i < nitems(names); i++) {
		if ((v = config_oauth2_str(o, pr, names[i])) != NULL)
			config_oauth2_check_url(o, names[i], v);
	}
	if (config_oauth2_str(o, pr, "token_url") == NULL)
		config_error(o, "account '%s': oauth2 token_url is required "
		    "(or provider = google or microsoft)", cfg_title(cfg));
	if (config_oauth2_str(o, pr, "device_url") == NULL &&
	    config_oauth2_str(o, pr, "auth_url") == NULL)
		config_error(o, "account '%s': oauth2 needs device_url or "
		    "auth_url for the first grant (or provider = google or "
		    "microsoft)", cfg_title(cfg));
	if (config_oauth2_str(o, pr, "scope") == NULL)
		config_error(o, "account '%s': oauth2 scope is required (or "
		    "provider = google or microsoft)", cfg_title(cfg));
	port = cfg_getint(o, "redirect_port");
	if (port < 0 || port > 65535)
		config_error(o, "oauth2 redirect_port %ld is out of range (1 to "
		    "65535, or 0 for any free port)", port);
	if (cfg_size(o, "client_secret_file") > 0)
		config_oauth2_check_secret_file(o,
		    cfg_getstr(o, "client_secret_file"));
	return (config_go_on());
}

/* Validation callback of an account section (runs at its closing brace,
 * with cfg the root): everything that needs the whole section. */
static int
config_validate_account(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t			*sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const struct provider	*p;
	long			 proto = -1;

	/* sec->line is now the closing brace: checks report there unless
	 * they know the option's own line. */
	if (!config_valid_name(cfg_title(sec)))
		config_error(sec, "invalid account name '%s' (use 1 to 64 "
		    "letters, digits, '.', '-', '_', '@' or '+', not starting "
		    "with '.')", cfg_title(sec));
	config_require(sec, "protocol", " (imap or pop3)");
	/* A provider (even an unknown one, reported already) stands for
	 * the host. */
	if (cfg_size(sec, "provider") == 0)
		config_require(sec, "host", " (or provider = NAME, see "
		    "mailfetchd --providers)");
	config_require(sec, "user", "");
	config_require(sec, "maildir", " (an absolute path)");
	config_check_secret(sec);
	config_check_tls(sec);
	if (cfg_size(sec, "protocol") > 0)
		proto = cfg_getint(sec, "protocol");
	if (proto == PROTO_POP3)
		config_check_pop3(sec);
	config_check_deliver(sec);
	config_check_trash(sec);
	config_check_auth(sec, proto);
	if ((p = config_sec_provider(sec)) != NULL)
		config_check_preset(sec, p, proto);
	config_forget_lines(sec);
	return (config_go_on());
}

/* A cfg_t for the schema with our error function and callbacks. */
static cfg_t *
config_schema(const char *name)
{
	cfg_t		*cfg;
	cfg_opt_t	*o;
	char		 path[64];

	if ((cfg = cfg_init(config_root_opts, CFGF_NONE)) == NULL) {
		fprintf(stderr, "mailfetchd: cfg_init failed\n");
		abort();
	}
	cfg_set_error_function(cfg, config_errfn);
	for (o = config_root_opts; o->name != NULL; o++) {
		if (o->type != CFGT_SEC)
			cfg_set_validate_func(cfg, o->name, config_validate_opt);
	}
	for (o = config_account_opts; o->name != NULL; o++) {
		if (o->type == CFGT_SEC)
			continue;
		snprintf(path, sizeof path, "account|%s", o->name);
		cfg_set_validate_func(cfg, path, config_validate_opt);
	}
	for (o = config_folder_opts; o->name != NULL; o++) {
		snprintf(path, sizeof path, "account|folder|%s", o->name);
		cfg_set_validate_func(cfg, path, config_validate_opt);
	}
	for (o = config_oauth2_opts; o->name != NULL; o++) {
		snprintf(path, sizeof path, "account|oauth2|%s", o->name);
		cfg_set_validate_func(cfg, path, config_validate_opt);
	}
	cfg_set_validate_func(cfg, "account|oauth2", config_validate_oauth2);
	cfg_set_validate_func(cfg, "account|folder", config_validate_folder);
	cfg_set_validate_func(cfg, "account", config_validate_account);
	free(cfg->filename);
	cfg->filename = xstrdup(name);
	return (cfg);
}

/* A string option's value, copied, or NULL when unset. */
static char *
config_dupstr(cfg_t *sec, const char *name)
{
	if (cfg_size(sec, name) == 0 || cfg_getstr(sec, name) == NULL)
		return (NULL);
	return (xstrdup(cfg_getstr(sec, name)));
}

/* The port for a protocol and TLS mode when none is given. */
static unsigned int
config_default_port(enum config_proto proto, enum config_tls tls)
{
	if (proto == PROTO_IMAP)
		return (tls == TLS_IMPLICIT ? 993 : 143);
	return (tls == TLS_IMPLICIT ? 995 : 110);
}

/* Fills the folders of an IMAP account (INBOX when there is no section). */
static void
config_convert_folders(cfg_t *sec, struct account_conf *a)
{
	struct folder_conf	*f;
	cfg_t			*fs;
	unsigned int		 i, n;

	if (a->proto != PROTO_IMAP)
		return;
	n = cfg_size(sec, "folder");
	a->nfolders = n == 0 ? 1 : n;
	a->folders = xcalloc(a->nfolders, sizeof *a->folders);
	if (n == 0) {
		a->folders[0].remote = xstrdup("INBOX");
		a->folders[0].idle = a->idle;
		a->folders[0].mark_read = a->mark_read;
		a->folders[0].deliver = (int)cfg_getint(sec, "deliver");
		return;
	}
	for (i = 0; i < n; i++) {
		fs = cfg_getnsec(sec, "folder", i);
		f = &a->folders[i];
		f->remote = xstrdup(cfg_title(fs));
		f->local = config_dupstr(fs, "local");
		f->idle = cfg_size(fs, "idle") > 0 ?
		    cfg_getbool(fs, "idle") == cfg_true : a->idle;
		f->mark_read = cfg_size(fs, "mark_read") > 0 ?
		    cfg_getbool(fs, "mark_read") == cfg_true : a->mark_read;
		f->deliver = (int)cfg_getint(cfg_size(fs, "deliver") > 0 ? fs :
		    sec, "deliver");
		f->is_pattern = strpbrk(f->remote, "*%") != NULL;
		if ((f->role = folder_role_of_conf(f->remote)) < 0)
			f->role = FOLDER_ROLE_NONE;	/* refused already */
	}
}

/* Fills from the account's provider preset what the section leaves
 * unset (explicit values win), and raises poll_interval to the
 * provider's minimum unless poll_interval_override says not to. */
static void
config_apply_preset(cfg_t *sec, struct account_conf *a)
{
	const struct provider		*p;
	const struct provider_server	*srv;

	if ((p = config_sec_provider(sec)) == NULL ||
	    (srv = provider_server(p, a->proto)) == NULL)
		return;
	a->provider = xstrdup(p->name);
	if (a->host == NULL)
		a->host = xstrdup(srv->host);
	if (cfg_size(sec, "tls") == 0)
		a->tls = srv->tls;
	if (cfg_size(sec, "port") == 0)
		a->port = cfg_size(sec, "tls") == 0 ? srv->port :
		    config_default_port(a->proto, a->tls);
	if (cfg_size(sec, "max_connections") == 0 && a->proto == PROTO_IMAP)
		a->max_connections = provider_default_connections(p);
	if (cfg_size(sec, "daily_limit") == 0)
		a->daily_limit = provider_daily_limit(p, a->proto);
	if (cfg_size(sec, "idle_interval") == 0 && p->idle_interval != 0)
		a->idle_interval = p->idle_interval;
	a->min_poll_interval = p->min_poll;
	if (a->poll_interval < p->min_poll && !a->poll_interval_override)
		a->poll_interval = p->min_poll;
}

/* A validated oauth2 section into an oauth2_conf, presets applied; the
 * token file is set by config_convert, which knows the state directory. */
static struct oauth2_conf *
config_convert_oauth2(cfg_t *sec)
{
	cfg_t					*o;
	const struct config_oauth2_preset	*pr = NULL;
	struct oauth2_conf			*oc;
	const char				*v;

	if (cfg_size(sec, "oauth2") == 0)
		return (NULL);
	o = cfg_getnsec(sec, "oauth2", 0);
	if (cfg_size(o, "provider") > 0)
		pr = config_oauth2_preset(cfg_getstr(o, "provider"));
	oc = xcalloc(1, sizeof *oc);
	oc->provider = pr != NULL ? pr->provider : OAUTH2_PROVIDER_CUSTOM;
	oc->client_id = config_dupstr(o, "client_id");
	oc->client_secret_file = config_dupstr(o, "client_secret_file");
	if ((v = config_oauth2_str(o, pr, "token_url")) != NULL)
		oc->token_url = xstrdup(v);
	if ((v = config_oauth2_str(o, pr, "device_url")) != NULL)
		oc->device_url = xstrdup(v);
	if ((v = config_oauth2_str(o, pr, "auth_url")) != NULL)
		oc->auth_url = xstrdup(v);
	if ((v = config_oauth2_str(o, pr, "scope")) != NULL)
		oc->scope = xstrdup(v);
	oc->redirect_port = (unsigned int)cfg_getint(o, "redirect_port");
	oc->ca_file = config_dupstr(o, "ca_file");
	return (oc);
}

/* Frees an oauth2_conf; NULL is a no-op. */
static void
config_free_oauth2(struct oauth2_conf *oc)
{
	if (oc == NULL)
		return;
	free(oc->client_id);
	free(oc->client_secret_file);
	free(oc->token_url);
	free(oc->device_url);
	free(oc->auth_url);
	free(oc->scope);
	free(oc->ca_file);
	free(oc->token_file);
	free(oc);
}

/* The owner's ids and home, looked up again: validation checked the name.
 * A user removed in between keeps uid and gid -1, which privsep refuses. */
static void
config_convert_owner(cfg_t *sec, struct account_conf *a)
{
	struct passwd	*pw;

	a->owner_uid = (uid_t)-1;
	a->owner_gid = (gid_t)-1;
	if ((a->owner = config_dupstr(sec, "owner")) == NULL)
		return;
	if ((pw = getpwnam(a->owner)) == NULL || pw->pw_uid == 0)
		return;
	a->owner_uid = pw->pw_uid;
	a->owner_gid = pw->pw_gid;
	a->owner_home = xstrdup(pw->pw_dir != NULL && *pw->pw_dir == '/' ?
	    pw->pw_dir : "/");
}

/* One validated account section into an account_conf. */
static void
config_convert_account(cfg_t *sec, struct account_conf *a, const char *file)
{
	a->name = xstrdup(cfg_title(sec));
	a->file = xstrdup(file);
	a->line = sec->line;
	a->proto = (enum config_proto)cfg_getint(sec, "protocol");
	a->host = config_dupstr(sec, "host");
	a->tls = (enum config_tls)config_int(sec, "tls", TLS_IMPLICIT);
	a->port = cfg_size(sec, "port") > 0 ?
	    (unsigned int)cfg_getint(sec, "port") :
	    config_default_port(a->proto, a->tls);
	a->allow_insecure = cfg_getbool(sec, "allow_insecure") == cfg_true;
	a->ca_file = config_dupstr(sec, "ca_file");
	if (cfg_size(sec, "fingerprint") > 0)
		a->fingerprint = config_fingerprint(cfg_getstr(sec,
		    "fingerprint"));
	a->user = config_dupstr(sec, "user");
	a->password_file = config_dupstr(sec, "password_file");
	a->password_command = config_dupstr(sec, "password_command");
	a->token_command = config_dupstr(sec, "token_command");
	a->oauth2 = config_convert_oauth2(sec);
	a->auth_mechs = config_auth_bits(sec);
	a->maildir = config_dupstr(sec, "maildir");
	a->keep = cfg_getbool(sec, "keep") == cfg_true;
	a->mark_read = cfg_getbool(sec, "mark_read") == cfg_true;
	a->local_flags = (enum config_local_flags)cfg_getint(sec,
	    "local_flags");
	a->first_fetch = (enum config_first_fetch)cfg_getint(sec,
	    "first_fetch");
	a->trash_folder = config_dupstr(sec, "trash_folder");
	if (a->trash_folder != NULL && *a->trash_folder == '\0') {
		free(a->trash_folder);
		a->trash_folder = NULL;
		a->trash_none = 1;
	}
	a->idle = cfg_getbool(sec, "idle") == cfg_true;
	a->idle_interval = (unsigned int)config_int(sec, "idle_interval",
	    CONFIG_DEF_IDLE);
	a->compress = (enum config_compress)cfg_getint(sec, "compress");
	a->poll_interval = (unsigned int)config_int(sec, "poll_interval",
	    CONFIG_DEF_POLL);
	a->poll_interval_override = cfg_getbool(sec,
	    "poll_interval_override") == cfg_true;
	a->timeout = (unsigned int)cfg_getint(sec, "timeout");
	a->max_message_size = (uint64_t)cfg_getint(sec, "max_message_size");
	a->max_connections = (unsigned int)config_int(sec, "max_connections",
	    0);
	a->daily_limit = (uint64_t)config_int(sec, "daily_limit", 0);
	config_apply_preset(sec, a);
	config_convert_folders(sec, a);
	config_convert_owner(sec, a);
	config_convert_deliver(sec, a);
}

/* A hook command: the account's, else the global one; "" in the account
 * turns the global one off. NULL: none. */
static char *
config_hook_command(cfg_t *cfg, cfg_t *sec, const char *name)
{
	const char	*s = NULL;

	if (cfg_size(sec, name) > 0)
		s = cfg_getstr(sec, name);
	else if (cfg_size(cfg, name) > 0)
		s = cfg_getstr(cfg, name);
	return (s != NULL && *s != '\0' ? xstrdup(s) : NULL);
}

/* The hooks of an account (hook.h), the global settings as defaults. */
static void
config_convert_hooks(cfg_t *cfg, cfg_t *sec, struct account_conf *a)
{
	a->new_mail_command = config_hook_command(cfg, sec,
	    "new_mail_command");
	a->failure_command = config_hook_command(cfg, sec, "failure_command");
	a->hook_timeout = (unsigned int)config_int(sec, "hook_timeout",
	    cfg_getint(cfg, "hook_timeout"));
}

/* Where the account's messages go (deliver, mda.h). */
static void
config_convert_deliver(cfg_t *sec, struct account_conf *a)
{
	a->deliver = (int)cfg_getint(sec, "deliver");
	a->mda_command = config_dupstr(sec, "mda_command");
	a->mda_timeout = (unsigned int)cfg_getint(sec, "mda_timeout");
	a->mda_id_header = cfg_getbool(sec, "mda_id_header") == cfg_true;
	a->lmtp = config_dupstr(sec, "lmtp");
	a->lmtp_recipient = config_dupstr(sec, "lmtp_recipient");
}

/* The control socket: configured, else in systemd's RuntimeDirectory= (the
 * first of the list, absolute), else in the state directory. */
static void
config_control_socket(cfg_t *cfg, struct config *conf)
{
	const char	*rt;
	size_t		 len;

	if (cfg_size(cfg, "control_socket") > 0) {
		conf->control_socket = xstrdup(cfg_getstr(cfg,
		    "control_socket"));
		return;
	}
	conf->control_socket_default = 1;
	rt = getenv("RUNTIME_DIRECTORY");
	if (rt != NULL && *rt == '/') {
		len = strcspn(rt, ":");
		xasprintf(&conf->control_socket, "%.*s/control", (int)len, rt);
		return;
	}
	xasprintf(&conf->control_socket, "%s/control", conf->state_dir);
}

/* The parsed, error-free cfg_t into a struct config. */
static struct config *
config_convert(cfg_t *cfg, const char *name)
{
	struct config	*conf;
	unsigned int	 i;

	conf = xcalloc(1, sizeof *conf);
	conf->path = xstrdup(name);
	conf->state_dir = xstrdup(cfg_getstr(cfg, "state_dir"));
	config_control_socket(cfg, conf);
	if (cfg_size(cfg, "metrics_file") > 0)
		conf->metrics_file = xstrdup(cfg_getstr(cfg, "metrics_file"));
	conf->log_level = (enum log_level)cfg_getint(cfg, "log_level");
	conf->max_connections = (unsigned int)cfg_getint(cfg,
	    "max_connections");
	conf->max_connections_per_host = (unsigned int)cfg_getint(cfg,
	    "max_connections_per_host");
	conf->allow_root = cfg_getbool(cfg, "allow_root") == cfg_true;
	if (cfg_size(cfg, "shard") > 0)
		conf->shard_spec = xstrdup(cfg_getstr(cfg, "shard"));
	conf->naccounts = cfg_size(cfg, "account");
	if (conf->naccounts > 0)
		conf->accounts = xcalloc(conf->naccounts,
		    sizeof *conf->accounts);
	for (i = 0; i < conf->naccounts; i++) {
		config_convert_account(cfg_getnsec(cfg, "account", i),
		    &conf->accounts[i], name);
		config_convert_hooks(cfg, cfg_getnsec(cfg, "account", i),
		    &conf->accounts[i]);
		if (conf->accounts[i].oauth2 != NULL)
			xasprintf(&conf->accounts[i].oauth2->token_file,
			    "%s/%s.oauth2", conf->state_dir,
			    conf->accounts[i].name);
	}
	return (conf);
}

/* Blanks from p up to (not including) end, keeping newlines. */
static void
config_blank(char *p, const char *end)
{
	for (; p < end; p++) {
		if (*p != '\n')
			*p = ' ';
	}
}

/* Length of a quoted string starting at p (the quote included), as
 * libconfuse's lexer reads it: a backslash takes the next byte, and in
 * double quotes ${...} is one piece even if it holds a quote. */
static size_t
config_quoted_len(const char *p, const char *end)
{
	const char	*q = p + 1, *close;

	while (q < end && *q != *p) {
		if (*q == '\\' && q + 1 < end)
			q += 2;
		else if (*p == '"' && *q == '$' && q + 1 < end && q[1] == '{' &&
		    (close = memchr(q, '}', end - q)) != NULL)
			q = close + 1;
		else
			q++;
	}
	return (q < end ? (size_t)(q - p) + 1 : (size_t)(end - p));
}

/* Removes comments (#, //, C style) from a copy of the input, leaving its
 * newlines, so that libconfuse never sees them: libconfuse 3.3 counts lines
 * wrongly after a comment (two too many after each "#" comment), which
 * would put wrong line numbers on every later error. This follows the
 * lexer's rules for where a comment can start. */
static void
config_strip_comments(char *buf, size_t len)
{
	static const char	 stop[] = " #\"'\t\n\r={}()+,*";
	char			*p = buf, *end = buf + len, *q;
	size_t			 run;

	while (p < end) {
		if (*p == '"' || *p == '\'') {
			p += config_quoted_len(p, end);
			continue;
		}
		if (*p == '$' && p + 1 < end && p[1] == '{' &&
		    (q = memchr(p, '}', end - p)) != NULL) {
			p = q + 1;
			continue;
		}
		if (*p == '/' && p + 1 < end && p[1] == '*') {
			for (q = p + 2; q + 1 < end; q++) {
				if (q[0] == '*' && q[1] == '/')
					break;
			}
			q = q + 1 < end ? q + 2 : end;
			config_blank(p, q);
			p = q;
			continue;
		}
		/* Where a word may start, "#" and "//" start a comment;
		 * inside an unquoted word only "#" does. */
		if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
			if ((q = memchr(p, '\n', end - p)) == NULL)
				q = end;
			config_blank(p, q);
			p = q;
			continue;
		}
		for (run = 0; p + run < end && p[run] != '\0' &&
		    strchr(stop, p[run]) == NULL; run++)
			;
		p += run > 0 ? run : 1;
	}
}

/* Frees an array of n strings. */
static void
config_free_strings(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Parses an open stream named name (for messages), whose real input ends
 * at last_line. */
static struct config *
config_parse_stream(const char *name, FILE *f, int last_line, char **cause)
{
	struct config_parse	 ctx;
	struct config		*conf = NULL;
	cfg_t			*cfg;
	char			*line;
	int			 rc;

	memset(&ctx, 0, sizeof ctx);
	ctx.last_line = last_line;
	config_ctx = &ctx;
	cfg = config_schema(name);
	rc = cfg_parse_fp(cfg, f);
	if (rc != CFG_SUCCESS && ctx.nerrors == 0) {
		/* The lexer can fail without a word. */
		xasprintf(&line, "%s:%d: syntax error", name, cfg->line);
		config_add_error(&ctx, cfg->line, line);
	} else if (rc != CFG_SUCCESS && ctx.nerrors >= CONFIG_MAX_ERRORS) {
		xasprintf(&line, "%s: too many errors, stopped", name);
		config_add_error(&ctx, INT_MAX, line);
	}
	if (ctx.nerrors == 0) {
		conf = config_convert(cfg, name);
		conf->warnings = ctx.warnings;
		conf->nwarnings = ctx.nwarnings;
	} else
		config_free_strings(ctx.warnings, ctx.nwarnings);
	cfg_free(cfg);
	config_ctx = NULL;
	free(ctx.lines);
	if (conf == NULL)
		*cause = config_join_errors(&ctx);
	return (conf);
}

struct config *
config_load(const char *path, char **cause)
{
	struct config	*conf;
	struct stat	 sb;
	FILE		*f;
	char		*buf;
	size_t		 len;

	if ((f = fopen(path, "re")) == NULL) {
		xasprintf(cause, "%s: cannot open: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		xasprintf(cause, "%s: cannot open: not a regular file", path);
		fclose(f);
		return (NULL);
	}
	if (sb.st_size > CONFIG_MAX_FILE) {
		xasprintf(cause, "%s: cannot open: larger than %d bytes", path,
		    CONFIG_MAX_FILE);
		fclose(f);
		return (NULL);
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	len = fread(buf, 1, (size_t)sb.st_size + 1, f);
	if (ferror(f) || len > (size_t)sb.st_size) {
		xasprintf(cause, "%s: cannot read: %s", path, ferror(f) ?
		    strerror(errno) : "the file is growing");
		free(buf);
		fclose(f);
		return (NULL);
	}
	fclose(f);
	conf = config_load_buffer(path, buf, len, cause);
	free(buf);
	/* Here, not in config_load_buffer: every instance's reload and
	 * worker narrows the file it read to its own share. */
	if (conf != NULL && shard_config_apply(conf, cause) != 0) {
		config_free(conf);
		return (NULL);
	}
	return (conf);
}

struct config *
config_load_buffer(const char *name, const char *buf, size_t len,
    char **cause)
{
	static const char	 tail[] = "\n" CONFIG_SENTINEL " = yes\n";
	struct config		*conf;
	FILE			*f;
	char			*copy;
	size_t			 i;
	int			 last_line = 1;

	for (i = 0; i < len; i++) {
		if (buf[i] == '\n' && i + 1 < len)
			last_line++;
	}
	copy = xmalloc(len + sizeof tail);
	memcpy(copy, buf, len);
	config_strip_comments(copy, len);
	memcpy(copy + len, tail, sizeof tail);
	if ((f = fmemopen(copy, len + sizeof tail - 1, "r")) == NULL) {
		xasprintf(cause, "%s: cannot open: %s", name, strerror(errno));
		free(copy);
		return (NULL);
	}
	conf = config_parse_stream(name, f, last_line, cause);
	fclose(f);
	free(copy);
	return (conf);
}

/* Frees one account's contents. */
static void
config_free_account(struct account_conf *a)
{
	size_t	i;

	for (i = 0; i < a->nfolders; i++) {
		free(a->folders[i].remote);
		free(a->folders[i].local);
	}
	free(a->folders);
	free(a->name);
	free(a->file);
	free(a->host);
	free(a->ca_file);
	free(a->fingerprint);
	free(a->user);
	free(a->password_file);
	free(a->password_command);
	free(a->new_mail_command);
	free(a->failure_command);
	free(a->mda_command);
	free(a->lmtp);
	free(a->lmtp_recipient);
	free(a->token_command);
	config_free_oauth2(a->oauth2);
	free(a->maildir);
	free(a->trash_folder);
	free(a->provider);
	free(a->owner);
	free(a->owner_home);
}

void
config_free(struct config *conf)
{
	size_t	i;

	if (conf == NULL)
		return;
	for (i = 0; i < conf->naccounts; i++)
		config_free_account(&conf->accounts[i]);
	free(conf->accounts);
	config_free_strings(conf->warnings, conf->nwarnings);
	config_free_strings(conf->shard_others, conf->nshard_others);
	free(conf->shard_spec);
	free(conf->path);
	free(conf->state_dir);
	free(conf->control_socket);
	free(conf->metrics_file);
	free(conf);
}

void
config_log_warnings(const struct config *conf)
{
	size_t	i;

	for (i = 0; i < conf->nwarnings; i++)
		log_warnx("%s", conf->warnings[i]);
}

const struct account_conf *
config_find_account(const struct config *conf, const char *name)
{
	size_t	i;

	for (i = 0; i < conf->naccounts; i++) {
		if (strcmp(conf->accounts[i].name, name) == 0)
			return (&conf->accounts[i]);
	}
	return (NULL);
}

const char *
config_folder_local(const struct folder_conf *f)
{
	const char	*local = f->local != NULL ? f->local :
			    folder_conf_unescape(f->remote);

	if (f->local == NULL && f->role != FOLDER_ROLE_NONE)
		return (NULL);

	return (strcasecmp(local, "INBOX") == 0 ? "" : local);
}

/* Looks a value up in a names table; "unknown" when out of range. */
static const char *
config_name_of(const char **names, size_t n, int value)
{
	if (value < 0 || (size_t)value >= n)
		return ("unknown");
	return (names[value]);
}

const char *
config_proto_name(enum config_proto proto)
{
	return (config_name_of(config_proto_names, nitems(config_proto_names),
	    proto));
}

const char *
config_tls_name(enum config_tls tls)
{
	return (config_name_of(config_tls_names, nitems(config_tls_names),
	    tls));
}

/* "google", "microsoft" or "custom". */
const char *
config_oauth2_provider_name(enum config_oauth2_provider p)
{
	size_t	i;

	for (i = 0; i < nitems(config_oauth2_presets); i++) {
		if (config_oauth2_presets[i].provider == p)
			return (config_oauth2_presets[i].name);
	}
	return ("custom");
}

/* Prints a string in libconfuse's double-quoted syntax, so that the output
 * parses back to the same bytes ("$" would start ${VAR} expansion). */
static void
config_print_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\' || *s == '$')
			fprintf(f, "\\%c", *s);
		else if (iscntrl((unsigned char)*s))
			fprintf(f, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* Prints "prefix = "value"" on its own line; nothing when s is NULL. */
static void
config_print_str(FILE *f, const char *prefix, const char *s)
{
	if (s == NULL)
		return;
	fprintf(f, "%s = ", prefix);
	config_print_quoted(f, s);
	fputc('\n', f);
}

/* Prints auth = {...} from the AUTH_* bits. */
static void
config_print_auth(FILE *f, unsigned int bits)
{
	const char	*sep = "";
	size_t		 i;

	fputs("\tauth = {", f);
	for (i = 0; i < nitems(config_auth_names); i++) {
		if (bits & (1U << i)) {
			fprintf(f, "%s%s", sep, config_auth_names[i]);
			sep = ", ";
		}
	}
	fputs("}\n", f);
}

/* Prints an account's folder sections. */
static void
config_print_folders(FILE *f, const struct account_conf *a)
{
	const struct folder_conf	*fc;
	size_t				 i;

	for (i = 0; i < a->nfolders; i++) {
		fc = &a->folders[i];
		fputs("\tfolder ", f);
		config_print_quoted(f, fc->remote);
		fputs(" {\n", f);
		config_print_str(f, "\t\tlocal", fc->local);
		fprintf(f, "\t\tidle = %s\n", fc->idle ? "yes" : "no");
		fprintf(f, "\t\tmark_read = %s\n", fc->mark_read ? "yes" : "no");
		fprintf(f, "\t\tdeliver = %s\n", config_name_of(
		    config_deliver_names, nitems(config_deliver_names),
		    fc->deliver));
		fputs("\t}\n", f);
	}
}

/* Prints an account's oauth2 section, presets filled in. */
static void
config_print_oauth2(FILE *f, const struct oauth2_conf *oc)
{
	if (oc == NULL)
		return;
	fputs("\toauth2 {\n", f);
	fprintf(f, "\t\tprovider = %s\n",
	    config_oauth2_provider_name(oc->provider));
	config_print_str(f, "\t\tclient_id", oc->client_id);
	/* The path only: the secret is never read here. */
	config_print_str(f, "\t\tclient_secret_file", oc->client_secret_file);
	config_print_str(f, "\t\ttoken_url", oc->token_url);
	config_print_str(f, "\t\tdevice_url", oc->device_url);
	config_print_str(f, "\t\tauth_url", oc->auth_url);
	config_print_str(f, "\t\tscope", oc->scope);
	fprintf(f, "\t\tredirect_port = %u\n", oc->redirect_port);
	config_print_str(f, "\t\tca_file", oc->ca_file);
	fputs("\t}\n", f);
}

/* Prints one account section, every option filled in. */
static void
config_print_account(FILE *f, const struct account_conf *a)
{
	fputs("\naccount ", f);
	config_print_quoted(f, a->name);
	fputs(" {\n", f);
	config_print_str(f, "\tprovider", a->provider);
	config_print_str(f, "\towner", a->owner);
	fprintf(f, "\tprotocol = %s\n", config_proto_name(a->proto));
	config_print_str(f, "\thost", a->host);
	fprintf(f, "\tport = %u\n", a->port);
	fprintf(f, "\ttls = %s\n", config_tls_name(a->tls));
	fprintf(f, "\tallow_insecure = %s\n", a->allow_insecure ? "yes" : "no");
	config_print_str(f, "\tca_file", a->ca_file);
	config_print_str(f, "\tfingerprint", a->fingerprint);
	config_print_str(f, "\tuser", a->user);
	/* Paths and commands only: nothing is ever read from them here. */
	config_print_str(f, "\tpassword_file", a->password_file);
	config_print_str(f, "\tpassword_command", a->password_command);
	config_print_str(f, "\ttoken_command", a->token_command);
	config_print_oauth2(f, a->oauth2);
	config_print_auth(f, a->auth_mechs);
	config_print_str(f, "\tmaildir", a->maildir);
	fprintf(f, "\tkeep = %s\n", a->keep ? "yes" : "no");
	fprintf(f, "\tmark_read = %s\n", a->mark_read ? "yes" : "no");
	fprintf(f, "\tlocal_flags = %s\n", config_name_of(config_flags_names,
	    nitems(config_flags_names), a->local_flags));
	fprintf(f, "\tfirst_fetch = %s\n", config_name_of(config_first_names,
	    nitems(config_first_names), a->first_fetch));
	config_print_str(f, "\ttrash_folder", a->trash_none ? "" :
	    a->trash_folder);
	fprintf(f, "\tidle = %s\n", a->idle ? "yes" : "no");
	fprintf(f, "\tidle_interval = %u\n", a->idle_interval);
	fprintf(f, "\tcompress = %s\n", config_name_of(config_compress_names,
	    nitems(config_compress_names), a->compress));
	fprintf(f, "\tpoll_interval = %u\n", a->poll_interval);
	fprintf(f, "\tpoll_interval_override = %s\n",
	    a->poll_interval_override ? "yes" : "no");
	fprintf(f, "\ttimeout = %u\n", a->timeout);
	fprintf(f, "\tmax_message_size = %llu\n",
	    (unsigned long long)a->max_message_size);
	fprintf(f, "\tmax_connections = %u\n", a->max_connections);
	fprintf(f, "\tdaily_limit = %llu\n", (unsigned long long)a->daily_limit);
	config_print_str(f, "\tnew_mail_command", a->new_mail_command);
	config_print_str(f, "\tfailure_command", a->failure_command);
	fprintf(f, "\thook_timeout = %u\n", a->hook_timeout);
	fprintf(f, "\tdeliver = %s\n", config_name_of(config_deliver_names,
	    nitems(config_deliver_names), a->deliver));
	config_print_str(f, "\tmda_command", a->mda_command);
	fprintf(f, "\tmda_timeout = %u\n", a->mda_timeout);
	fprintf(f, "\tmda_id_header = %s\n", a->mda_id_header ? "yes" : "no");
	config_print_str(f, "\tlmtp", a->lmtp);
	config_print_str(f, "\tlmtp_recipient", a->lmtp_recipient);
	config_print_folders(f, a);
	fputs("}\n", f);
}

void
config_print(FILE *f, const struct config *conf)
{
	size_t	i;

	config_print_str(f, "state_dir", conf->state_dir);
	/* A default stays one: it depends on RUNTIME_DIRECTORY. */
	if (conf->control_socket_default) {
		fputs("# control_socket = ", f);
		config_print_quoted(f, conf->control_socket);
		fputs(" (default)\n", f);
	} else
		config_print_str(f, "control_socket", conf->control_socket);
	if (conf->metrics_file != NULL)
		config_print_str(f, "metrics_file", conf->metrics_file);
	fprintf(f, "log_level = %s\n", config_name_of(config_level_names,
	    nitems(config_level_names), conf->log_level));
	fprintf(f, "max_connections = %u\n", conf->max_connections);
	fprintf(f, "max_connections_per_host = %u\n",
	    conf->max_connections_per_host);
	fprintf(f, "allow_root = %s\n", conf->allow_root ? "yes" : "no");
	shard_print(f, conf);
	for (i = 0; i < conf->naccounts; i++)
		config_print_account(f, &conf->accounts[i]);
}

/* Whether two optional strings are the same (both NULL counts). */
static int
config_str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/* Whether two folder lists are the same, in the same order. */
static int
config_folders_equal(const struct account_conf *a,
    const struct account_conf *b)
{
	const struct folder_conf	*fa, *fb;
	size_t				 i;

	if (a->nfolders != b->nfolders)
		return (0);
	for (i = 0; i < a->nfolders; i++) {
		fa = &a->folders[i];
		fb = &b->folders[i];
		if (!config_str_equal(fa->remote, fb->remote) ||
		    !config_str_equal(fa->local, fb->local) ||
		    fa->idle != fb->idle || fa->mark_read != fb->mark_read ||
		    fa->deliver != fb->deliver ||
		    fa->is_pattern != fb->is_pattern)
			return (0);
	}
	return (1);
}

/* Whether two optional oauth2 sections are the same. */
static int
config_oauth2_equal(const struct oauth2_conf *a, const struct oauth2_conf *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (a->provider == b->provider &&
	    config_str_equal(a->client_id, b->client_id) &&
	    config_str_equal(a->client_secret_file, b->client_secret_file) &&
	    config_str_equal(a->token_url, b->token_url) &&
	    config_str_equal(a->device_url, b->device_url) &&
	    config_str_equal(a->auth_url, b->auth_url) &&
	    config_str_equal(a->scope, b->scope) &&
	    a->redirect_port == b->redirect_port &&
	    config_str_equal(a->ca_file, b->ca_file) &&
	    config_str_equal(a->token_file, b->token_file));
}

/* Whether a reload may leave an account running as it is: every setting
 * but where it is written (file, line) and its hooks compares equal. The
 * hooks take the latest configuration at each run (hook.c): a hook edit
 * must not abort a poll or drop IDLE sessions. */
int
config_account_equal(const struct account_conf *a,
    const struct account_conf *b)
{
	return (config_str_equal(a->name, b->name) &&
	    a->proto == b->proto &&
	    config_str_equal(a->host, b->host) &&
	    a->port == b->port &&
	    a->tls == b->tls &&
	    a->allow_insecure == b->allow_insecure &&
	    config_str_equal(a->ca_file, b->ca_file) &&
	    config_str_equal(a->fingerprint, b->fingerprint) &&
	    config_str_equal(a->user, b->user) &&
	    config_str_equal(a->password_file, b->password_file) &&
	    config_str_equal(a->password_command, b->password_command) &&
	    config_str_equal(a->token_command, b->token_command) &&
	    config_oauth2_equal(a->oauth2, b->oauth2) &&
	    a->auth_mechs == b->auth_mechs &&
	    config_str_equal(a->maildir, b->maildir) &&
	    a->deliver == b->deliver &&
	    config_str_equal(a->mda_command, b->mda_command) &&
	    a->mda_timeout == b->mda_timeout &&
	    a->mda_id_header == b->mda_id_header &&
	    config_str_equal(a->lmtp, b->lmtp) &&
	    config_str_equal(a->lmtp_recipient, b->lmtp_recipient) &&
	    config_folders_equal(a, b) &&
	    a->keep == b->keep &&
	    a->mark_read == b->mark_read &&
	    a->local_flags == b->local_flags &&
	    a->first_fetch == b->first_fetch &&
	    config_str_equal(a->trash_folder, b->trash_folder) &&
	    a->trash_none == b->trash_none &&
	    a->idle == b->idle &&
	    a->idle_interval == b->idle_interval &&
	    a->compress == b->compress &&
	    a->poll_interval == b->poll_interval &&
	    a->min_poll_interval == b->min_poll_interval &&
	    a->poll_interval_override == b->poll_interval_override &&
	    a->timeout == b->timeout &&
	    a->max_message_size == b->max_message_size &&
	    a->max_connections == b->max_connections &&
	    a->daily_limit == b->daily_limit &&
	    config_str_equal(a->provider, b->provider) &&
	    config_str_equal(a->owner, b->owner) &&
	    a->owner_uid == b->owner_uid && a->owner_gid == b->owner_gid);
}

int
config_account_hooks_equal(const struct account_conf *a,
    const struct account_conf *b)
{
	return (config_str_equal(a->new_mail_command, b->new_mail_command) &&
	    config_str_equal(a->failure_command, b->failure_command) &&
	    a->hook_timeout == b->hook_timeout);
}

/* The owner's state directory: its lock, state and control socket. */
char *
config_owner_dir(const struct config *conf, const char *owner)
{
	char	*dir;

	xasprintf(&dir, "%s/owner/%s", conf->state_dir, owner);
	return (dir);
}

char *
config_owner_socket(const struct config *conf, const char *owner)
{
	char	*dir, *path;

	dir = config_owner_dir(conf, owner);
	if (conf->shard_count > 0)
		xasprintf(&path, "%s/control.%u-of-%u", dir, conf->shard_index,
		    conf->shard_count);
	else
		xasprintf(&path, "%s/control", dir);
	free(dir);
	return (path);
}

size_t
config_keep_accounts(struct config *conf,
    int (*keep)(const struct account_conf *, void *), void *arg)
{
	size_t	i, n = 0;

	for (i = 0; i < conf->naccounts; i++) {
		if (keep(&conf->accounts[i], arg))
			conf->accounts[n++] = conf->accounts[i];
		else
			config_free_account(&conf->accounts[i]);
	}
	conf->naccounts = n;
	return (n);
}

size_t
config_filter_owner(struct config *conf, const char *owner)
{
	struct account_conf	*a;
	size_t			 i, n = 0;
	char			*dir;

	/* The supervisor writes it for every owner (privsep.c). */
	free(conf->metrics_file);
	conf->metrics_file = NULL;
	for (i = 0; i < conf->naccounts; i++) {
		a = &conf->accounts[i];
		if (config_str_equal(a->owner, owner))
			conf->accounts[n++] = *a;
		else
			config_free_account(a);
	}
	conf->naccounts = n;
	if (owner == NULL)
		return (n);
	/* One socket per owner (and shard): a configured path would be
	 * shared. */
	free(conf->control_socket);
	conf->control_socket = config_owner_socket(conf, owner);
	dir = config_owner_dir(conf, owner);
	free(conf->state_dir);
	conf->state_dir = dir;
	conf->control_socket_default = 0;
	for (i = 0; i < n; i++) {
		a = &conf->accounts[i];
		if (a->oauth2 == NULL)
			continue;
		free(a->oauth2->token_file);
		xasprintf(&a->oauth2->token_file, "%s/%s.oauth2", dir,
		    a->name);
	}
	return (n);
}
