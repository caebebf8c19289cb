/* lmtp_target.c: where an LMTP server is (lmtp.h), parsed without
 * libevent or DNS, so that the configuration (and its fuzzer) can check
 * it. */
#include "lmtp.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* The port after the last ':' of s (len bytes before it: the address):
 * 1 to 65535, or 0. */
static unsigned int
lmtp_target_port(const char *p)
{
	char		*end;
	unsigned long	 port;

	if (*p < '0' || *p > '9')
		return (0);
	port = strtoul(p, &end, 10);
	return (*end == '\0' && port > 0 && port < 65536 ?
	    (unsigned int)port : 0);
}

/* "ADDRESS:PORT", numeric; -1 when it is not one. */
static int
lmtp_target_inet(const char *target, struct sockaddr_storage *ss, int *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	const char		*colon = strrchr(target, ':');
	char			 addr[INET6_ADDRSTRLEN + 2];
	size_t			 n;
	unsigned int		 port;

	if (colon == NULL || (port = lmtp_target_port(colon + 1)) == 0 ||
	    (n = (size_t)(colon - target)) == 0 || n >= sizeof addr)
		return (-1);
	memcpy(addr, target, n);
	addr[n] = '\0';
	if (addr[0] == '[' && addr[n - 1] == ']') {
		addr[n - 1] = '\0';
		if (inet_pton(AF_INET6, addr + 1, &sin6->sin6_addr) != 1)
			return (-1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = (int)sizeof *sin6;
		return (0);
	}
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
		return (-1);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	*len = (int)sizeof *sin;
	return (0);
}

int
lmtp_target_parse(const char *target, struct sockaddr_storage *ss, int *len,
    char **cause)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)ss;

	memset(ss, 0, sizeof *ss);
	if (strncmp(target, "unix:", 5) == 0) {
		if (target[5] != '/' ||
		    strlen(target + 5) >= sizeof sun->sun_path) {
			xasprintf(cause, "'%s': use unix:/ABSOLUTE/PATH (at "
			    "most %zu bytes)", target,
			    sizeof sun->sun_path - 1);
			return (-1);
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, target + 5, strlen(target + 5) + 1);
		*len = (int)sizeof *sun;
		return (0);
	}
	if (lmtp_target_inet(target, ss, len) != 0) {
		xasprintf(cause, "'%s': use unix:/PATH, or ADDRESS:PORT with a "
		    "numeric address (127.0.0.1:24, [::1]:24)", target);
		return (-1);
	}
	return (0);
}

int
lmtp_target_check(const char *target, char **cause)
{
	struct sockaddr_storage	ss;
	int			len;

	return (lmtp_target_parse(target, &ss, &len, cause));
}
