/* proc_chain N FILE: a chain of N processes, each the child of the one
 * before and each in a process group of its own (setpgid), all pausing;
 * each appends its pid to FILE, the last one then writes "done" to
 * FILE.done. A supervisor that finds a process only once its parent has
 * died (a subreaper scanning for its own children) needs one pass per
 * link; hooks.sh checks that a hook's timeout kills the whole chain. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	char	 buf[32], done[4096];
	FILE	*f;
	int	 n, i, fd;

	if (argc != 3 || (n = atoi(argv[1])) < 1 ||
	    (fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0644)) == -1) {
		fprintf(stderr, "usage: proc_chain N FILE\n");
		return (2);
	}
	for (i = 1; i < n; i++) {
		pid_t	p = fork();

		if (p == -1)
			break;
		if (p > 0) {
			snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
			if (write(fd, buf, strlen(buf)) == -1)
				return (1);
			for (;;)
				pause();
		}
		setpgid(0, 0);
	}
	snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (write(fd, buf, strlen(buf)) == -1)
		return (1);
	snprintf(done, sizeof done, "%s.done", argv[2]);
	if ((f = fopen(done, "w")) != NULL) {
		fprintf(f, "done %d\n", i);
		fclose(f);
	}
	for (;;)
		pause();
}
