/* xmalloc.c: allocation helpers that abort on out-of-memory, so call sites
 * stay linear; a daemon that cannot allocate a few bytes cannot go on. */
#include "xmalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static __dead void
xmalloc_die(const char *what, size_t n)
{
	fprintf(stderr, "mailfetchd: %s: out of memory allocating %zu bytes\n",
	    what, n);
	abort();
}

void *
xmalloc(size_t n)
{
	void	*p;

	if (n == 0)
		n = 1;
	if ((p = malloc(n)) == NULL)
		xmalloc_die("xmalloc", n);
	return (p);
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if ((p = calloc(nmemb, size)) == NULL)
		xmalloc_die("xcalloc", nmemb * size);
	return (p);
}

void *
xreallocarray(void *old, size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if (nmemb > SIZE_MAX / size)
		xmalloc_die("xreallocarray overflow", SIZE_MAX);
	if ((p = realloc(old, nmemb * size)) == NULL)
		xmalloc_die("xreallocarray", nmemb * size);
	return (p);
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		xmalloc_die("xstrdup", strlen(s) + 1);
	return (p);
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		xmalloc_die("xstrndup", n + 1);
	return (p);
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		xmalloc_die("xasprintf", 0);
	return (n);
}

void
xfree_secret(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}
