/* cmdline.c: a configured command (password_command, token_command,
 * new_mail_command, failure_command) split into an argv without a shell.
 * Its own module, pure (no I/O, no libevent), so that the configuration
 * can check a command's syntax without the secret machinery. */
#include "cmdline.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* Frees an argv from cmdline_split(); NULL is a no-op. */
void
cmdline_free(char **argv)
{
	size_t	 i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* Splits command into words, as documented in mailfetchd.conf(5): blanks
 * separate words, '...' quotes anything literally, "..." quotes with \"
 * and \\ as the only escapes, and outside quotes a backslash takes the
 * next character literally. Nothing else is special: no globbing, no
 * variables, no pipes or redirections (run "sh -c '...'" for those). */
int
cmdline_split(const char *command, char ***argvp, char **cause)
{
	const char	*p;
	char		**argv = NULL, *word;
	size_t		 argc = 0, len;
	int		 inword = 0;

	word = xmalloc(strlen(command) + 1);
	len = 0;
	for (p = command;; p++) {
		if (*p == '\0' || *p == ' ' || *p == '\t' || *p == '\n') {
			if (inword) {
				argv = xreallocarray(argv, argc + 2,
				    sizeof *argv);
				argv[argc++] = xstrndup(word, len);
				argv[argc] = NULL;
				len = 0;
				inword = 0;
			}
			if (*p == '\0')
				break;
			continue;
		}
		inword = 1;
		if (*p == '\'') {
			while (*++p != '\'' && *p != '\0')
				word[len++] = *p;
		} else if (*p == '"') {
			while (*++p != '"' && *p != '\0') {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				word[len++] = *p;
			}
		} else if (*p == '\\') {
			if (*++p == '\0') {
				xasprintf(cause, "a backslash ends the "
				    "command: %s", command);
				goto fail;
			}
			word[len++] = *p;
			continue;
		} else {
			word[len++] = *p;
			continue;
		}
		if (*p == '\0') {
			xasprintf(cause, "a quote is not closed: %s", command);
			goto fail;
		}
	}
	free(word);
	if (argc == 0) {
		xasprintf(cause, "the command is empty");
		return (-1);
	}
	*argvp = argv;
	return (0);
fail:
	free(word);
	cmdline_free(argv);
	return (-1);
}

/* One word with its placeholders replaced (see cmdline.h). */
static int
cmdline_expand_word(const char *w, const char *keys,
    const char *const *values, char **out, char **cause)
{
	const char	*k;
	char		*s, *t;

	s = xstrdup("");
	for (; *w != '\0'; w++) {
		if (*w != '%') {
			xasprintf(&t, "%s%c", s, *w);
		} else if (w[1] == '%') {
			xasprintf(&t, "%s%%", s);
			w++;
		} else if (w[1] != '\0' && (k = strchr(keys, w[1])) != NULL) {
			xasprintf(&t, "%s%s", s, values[k - keys]);
			w++;
		} else {
			xasprintf(cause, "unknown placeholder '%%%.1s' (use "
			    "%%%% for a literal %%)", w + 1);
			free(s);
			return (-1);
		}
		free(s);
		s = t;
	}
	*out = s;
	return (0);
}

int
cmdline_expand(char **argv, const char *keys, const char *const *values,
    char **cause)
{
	size_t	 i;
	char	*w;

	for (i = 0; argv[i] != NULL; i++) {
		if (strchr(argv[i], '%') == NULL)
			continue;
		if (cmdline_expand_word(argv[i], keys, values, &w, cause) != 0)
			return (-1);
		free(argv[i]);
		argv[i] = w;
	}
	return (0);
}
