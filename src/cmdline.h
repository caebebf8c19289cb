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
/* Replaces, in each word of argv (in place, after the split: a value
 * never makes or breaks words, and never meets a shell), "%c" for each
 * character c of keys by values[its index in keys], and "%%" by "%".
 * -1 and *cause for any other '%' (argv then partly replaced). */
int	 cmdline_expand(char **argv, const char *keys,
	    const char *const *values, char **cause);
/* Frees an argv from cmdline_split(); NULL is a no-op. */
void	 cmdline_free(char **);

#endif
