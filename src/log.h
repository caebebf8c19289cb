/* log.h: one small logging API. Plain lines on stderr, or structured
 * journal entries when stderr is connected to journald ($JOURNAL_STREAM). */
#ifndef MAILFETCHD_LOG_H
#define MAILFETCHD_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARNING,
	LOG_LVL_NOTICE,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Where a message comes from; any field may be NULL/0. Becomes the journal
 * fields MAILFETCHD_ACCOUNT, MAILFETCHD_FOLDER, MAILFETCHD_UID and an
 * "account=... folder=... uid=..." prefix on plain lines. */
struct log_ctx {
	const char	*account;
	const char	*folder;
	uint64_t	 uid;
};

/* Picks the backend (journald when $JOURNAL_STREAM names our stderr). */
void	log_init(enum log_level);
void	log_set_level(enum log_level);
enum log_level log_get_level(void);
/* Parses "error", "warning", "notice", "info", "debug"; -1 when unknown. */
int	log_level_from_name(const char *);
const char *log_level_name(enum log_level);
/* Called before each stderr line (a progress display clears itself);
 * NULL removes it. */
void	log_set_line_hook(void (*)(void));
/* Plain stderr lines only: force them even under journald (tests, --once). */
void	log_force_stderr(int);

/* Secrets registered here are replaced by "********" in every line, a last
 * line of defence: code must not log secrets in the first place. The string
 * is copied (and wiped on removal). */
void	log_add_secret(const char *);
void	log_clear_secrets(void);

void	log_warn(const char *, ...) printflike(1, 2);	/* appends strerror(errno) */
void	log_warnx(const char *, ...) printflike(1, 2);
void	log_notice(const char *, ...) printflike(1, 2);
void	log_info(const char *, ...) printflike(1, 2);
void	log_debug(const char *, ...) printflike(1, 2);
__dead void fatal(const char *, ...) printflike(1, 2);
__dead void fatalx(const char *, ...) printflike(1, 2);
/* A message with context fields. */
void	log_msg(enum log_level, const struct log_ctx *, const char *, ...)
	    printflike(3, 4);

/* Makes server-supplied bytes printable: control and non-ASCII bytes
 * become \ooo escapes, at most max bytes of input are used (then "...").
 * Returns a string the caller frees. */
char	*log_sanitize(const void *, size_t len, size_t max);
/* Escapes control characters (C0, DEL and the C1 controls U+0080..U+009F)
 * and bytes that are not well-formed UTF-8 as \ooo (and, with backslash
 * set, '\\' as \\\\, for a reader that must undo it): a name a server
 * chose (a folder's, decoded) stays readable in UTF-8, but can neither
 * split a line nor drive a terminal. The caller frees it. */
char	*log_escape_controls(const char *, int backslash);

#endif
