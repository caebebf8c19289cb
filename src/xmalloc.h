/* xmalloc.h: allocation helpers that abort on out-of-memory. */
#ifndef MAILFETCHD_XMALLOC_H
#define MAILFETCHD_XMALLOC_H

#include <stddef.h>

#include "compat.h"

/* Each returns memory the caller owns and must free(); none returns NULL. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...) printflike(2, 3);
/* Frees a string after overwriting it (for secrets); NULL is a no-op. */
void	 xfree_secret(char *);

#endif
