/* config.h: the configuration as plain structs. libconfuse stays inside
 * config.c; nothing else sees its types. */
#ifndef MAILFETCHD_CONFIG_H
#define MAILFETCHD_CONFIG_H

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>

#include "log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#define CONFIG_DEFAULT_PATH	SYSCONFDIR "/mailfetchd.conf"
#define CONFIG_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/mailfetchd"

enum config_proto {
	PROTO_IMAP = 0,
	PROTO_POP3,
};

enum config_tls {
	TLS_IMPLICIT = 0,	/* TLS from the first byte (993, 995) */
	TLS_STARTTLS,		/* STARTTLS / STLS, required */
	TLS_NONE,		/* clear text: loopback or explicit override */
};

/* Which messages a folder's first fetch takes (no state yet). */
enum config_first_fetch {
	FIRST_FETCH_ALL = 0,
	FIRST_FETCH_UNSEEN,
	FIRST_FETCH_NEW,	/* only mail arriving from now on */
};

/* IMAP COMPRESS=DEFLATE (RFC 4978) when the server offers it. */
enum config_compress {
	COMPRESS_NO = 0,
	COMPRESS_YES,		/* except to a loopback address */
	COMPRESS_ALWAYS,
};

/* Where fetched messages go (deliver =). */
enum config_deliver {
	DELIVER_MAILDIR = 0,	/* the account's Maildir (maildir.h) */
	DELIVER_MDA,		/* piped to mda_command (mda.h) */
	DELIVER_LMTP,		/* to the LMTP server lmtp (lmtp.h) */
};

/* Local flags of delivered messages. */
enum config_local_flags {
	LOCAL_FLAGS_NEW = 0,	/* into new/, unread */
	LOCAL_FLAGS_SEEN,	/* into cur/ with :2,S */
	LOCAL_FLAGS_MIRROR,	/* cur/ with the server's \Seen \Flagged \Answered */
};

/* Bits of account_conf.auth_mechs; 0 means "best offered". */
#define AUTH_PLAIN		0x01
#define AUTH_LOGIN		0x02	/* IMAP LOGIN / POP3 USER+PASS */
#define AUTH_XOAUTH2		0x04
#define AUTH_OAUTHBEARER	0x08
#define AUTH_APOP		0x10	/* POP3 only, never chosen unless listed */

/* Which preset an oauth2 section starts from. */
enum config_oauth2_provider {
	OAUTH2_PROVIDER_CUSTOM = 0,	/* every endpoint written out */
	OAUTH2_PROVIDER_GOOGLE,
	OAUTH2_PROVIDER_MICROSOFT,
};

/* An account's built-in OAuth2 client (the oauth2 { } section), presets
 * applied. The first grant (mailfetchd --oauth2-setup) uses the device
 * flow when device_url is set, else the loopback redirect to auth_url. */
struct oauth2_conf {
	enum config_oauth2_provider provider;
	char		*client_id;
	char		*client_secret_file; /* NULL: a public client */
	char		*token_url;	/* https:// */
	char		*device_url;	/* https://, or NULL: no device flow */
	char		*auth_url;	/* https://, or NULL: no loopback flow */
	char		*scope;		/* space-separated */
	unsigned int	 redirect_port;	/* loopback flow; 0: ephemeral */
	char		*ca_file;	/* trust for the endpoints; NULL: the
					 * system store */
	char		*token_file;	/* state_dir/ACCOUNT.oauth2, holds the
					 * refresh token (mode 0600) */
};

struct folder_conf {
	char		*remote;	/* name or LIST pattern with * and % */
	char		*local;		/* Maildir++ folder; NULL: derived,
					 * see config_folder_local() */
	int		 idle;		/* 0/1, inherited from the account */
	int		 mark_read;	/* 0/1, inherited from the account */
	int		 deliver;	/* enum config_deliver, inherited */
	int		 is_pattern;	/* remote contains * or % */
	int		 role;		/* enum folder_role: remote is
					 * "\Junk" and the like (folder.h);
					 * FOLDER_ROLE_NONE: a name */
};

struct account_conf {
	char		*name;
	char		*file;		/* where the section is, for errors */
	int		 line;		/* its closing brace */

	enum config_proto proto;
	char		*host;
	unsigned int	 port;		/* defaulted from proto and tls */
	enum config_tls	 tls;
	int		 allow_insecure; /* tls = none to a non-loopback host */
	char		*ca_file;
	char		*fingerprint;	/* "sha256:" + 64 hex digits, or NULL */

	char		*user;
	char		*password_file;
	char		*password_command;
	char		*token_command;
	struct oauth2_conf *oauth2;	/* NULL: no oauth2 section */
	unsigned int	 auth_mechs;	/* AUTH_* bits */

	char		*maildir;	/* absolute path */
	struct folder_conf *folders;
	size_t		 nfolders;	/* IMAP: >= 1 (INBOX by default) */

	int		 keep;		/* 0: delete after delivery */
	int		 mark_read;	/* set \Seen on the server after delivery */
	enum config_local_flags local_flags;
	enum config_first_fetch first_fetch;
	char		*trash_folder;	/* keep = no: UID MOVE here if set */
	int		 trash_none;	/* trash_folder = "": keep = no
					 * deletes, no default \Trash */
	int		 idle;
	unsigned int	 idle_interval;	/* seconds: re-issue IDLE this often
					 * (provider's need, else 10 min) */
	enum config_compress compress;	/* IMAP COMPRESS=DEFLATE */
	unsigned int	 poll_interval;	/* seconds; raised to
					 * min_poll_interval unless
					 * poll_interval_override */
	unsigned int	 min_poll_interval; /* seconds, from the provider;
					 * 0: none */
	int		 poll_interval_override; /* keep a poll_interval
					 * below the provider's minimum */
	unsigned int	 timeout;	/* seconds, per network phase */
	uint64_t	 max_message_size; /* bytes, 0: no limit */
	unsigned int	 max_connections; /* 0: the global cap; unset with a
					 * provider: its limit minus a
					 * reserve for other clients */
	uint64_t	 daily_limit;	/* bytes per 24 h, 0: none; unset
					 * with a provider: its budget */
	char		*provider;	/* preset name (canonical), or NULL;
					 * it filled host, port, tls and the
					 * limits the file does not set */
	char		*owner;		/* local user the mail is written as
					 * when running as root (privsep.h),
					 * or NULL */
	uid_t		 owner_uid;	/* resolved at load; -1: no owner,
					 * or the user vanished meanwhile */
	gid_t		 owner_gid;	/* the user's primary group */
	char		*owner_home;	/* the user's home, or NULL */
	char		*new_mail_command; /* hook.h; NULL: none (the
					 * account's, else the global) */
	char		*failure_command; /* hook.h; the same */
	unsigned int	 hook_timeout;	/* seconds */
	int		 deliver;	/* enum config_deliver */
	char		*mda_command;	/* deliver = mda: the agent (mda.h) */
	unsigned int	 mda_timeout;	/* seconds an agent may run */
	int		 mda_id_header;	/* add X-Mailfetchd-Id */
	char		*lmtp;		/* deliver = lmtp: "unix:/path" or
					 * "ADDRESS:PORT" */
	char		*lmtp_recipient; /* RCPT TO; NULL: owner, else user */
};

struct config {
	char		*path;
	char		*state_dir;
	char		*control_socket; /* the daemon's control socket:
					 * configured, else
					 * $RUNTIME_DIRECTORY/control, else
					 * state_dir/control */
	int		 control_socket_default; /* not configured */
	char		*metrics_file;	/* Prometheus textfile (metrics.h);
					 * NULL: none */
	enum log_level	 log_level;
	unsigned int	 max_connections;	/* global cap */
	unsigned int	 max_connections_per_host; /* per server host name,
					 * IDLE included; 0: none */
	int		 allow_root;	/* as root, accounts without an owner
					 * may run (as root) beside those with
					 * one */
	struct account_conf *accounts;
	size_t		 naccounts;
	char		*shard_spec;	/* shard = "K/N" as written; NULL */
	unsigned int	 shard_index;	/* this instance, 1-based (shard.h) */
	unsigned int	 shard_count;	/* 0: not sharded */
	char		**shard_others;	/* names of the other instances'
					 * accounts (not in accounts) */
	size_t		 nshard_others;
	char		**warnings;	/* "FILE:LINE: ..." for the user,
					 * e.g. a poll_interval raised to a
					 * provider's minimum */
	size_t		 nwarnings;
};

/* Parses and validates a file. On error returns NULL and sets *cause to a
 * message the caller frees, of the form "FILE:LINE: what (hint)"; several
 * errors are joined with newlines. */
struct config	*config_load(const char *path, char **cause);
/* The same from memory (tests, fuzzing); name stands for the file in
 * messages and in config->path. buf need not be NUL-terminated. */
struct config	*config_load_buffer(const char *name, const char *buf,
		    size_t len, char **cause);
void		 config_free(struct config *);
/* Keeps the accounts for which keep says 1 (in order), frees the others;
 * returns how many are left. */
size_t		 config_keep_accounts(struct config *conf,
		    int (*keep)(const struct account_conf *, void *), void *arg);
/* Logs each of config->warnings with log_warnx (stderr or the journal). */
void		 config_log_warnings(const struct config *);
/* Prints the effective configuration in config-file syntax, secrets
 * redacted (password files and commands are named, never read). */
void		 config_print(FILE *, const struct config *);
/* Returns the account or NULL. Do not free. */
const struct account_conf *config_find_account(const struct config *,
		    const char *name);
/* The local folder a folder delivers to: local if set, else the remote
 * name (a leading "\\" made "\", folder.h); "" (the Maildir root)
 * when that is INBOX; NULL for a role without local (the server names
 * its folder). Do not free. */
const char	*config_folder_local(const struct folder_conf *);
/* Whether two accounts have the same settings (names included; where
 * they are written and the hooks are ignored): a reload leaves such an
 * account running, and its next hook run takes the new hooks. */
int		 config_account_equal(const struct account_conf *,
		    const struct account_conf *);
/* Whether their hooks (new_mail_command, failure_command, hook_timeout)
 * are the same. */
int		 config_account_hooks_equal(const struct account_conf *,
		    const struct account_conf *);
/* Keeps only the accounts of owner (NULL: those without an owner) and
 * frees the others. For an owner, the state directory becomes
 * state_dir/owner/OWNER, the control socket config_owner_socket and
 * OAuth2 token files move along; metrics_file is dropped (the supervisor
 * writes it). Returns how many accounts are left. */
size_t		 config_filter_owner(struct config *, const char *owner);
/* OWNER's state directory, state_dir/owner/OWNER; caller frees. */
char		*config_owner_dir(const struct config *, const char *owner);
/* The control socket of OWNER's worker: in its directory, named after
 * the shard (shard = K/N) as the instances of one host share the
 * directory (caller frees). */
char		*config_owner_socket(const struct config *, const char *owner);
const char	*config_proto_name(enum config_proto);
const char	*config_tls_name(enum config_tls);
const char	*config_oauth2_provider_name(enum config_oauth2_provider);

#endif
