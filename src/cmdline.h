/* cmdline.h: a configured command split into an argv, without a shell
 * (cmdline.c). */
#ifndef MAILFETCHD_CMDLINE_H
#define MAILFETCHD_CMDLINE_H

/* Splits a command into an argv (NULL-ended; free with cmdline_free()):
 * blanks separate words, '...' quotes literally, "..." quotes with \" and
 * \\ as escapes, a backslash outside quotes escapes the next character.
 * No globbing, variables or pipes. -1 and *cause for an unclosed quote, a
 * trailing backslash or no word. */
int	 cmdline_split(const char *, char ***, char **cause);
/* Frees an argv from cmdline_split(); NULL is a no-op. */
void	 cmdline_free(char **);

#endif
