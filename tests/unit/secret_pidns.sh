#!/bin/bash
# secret_pidns.sh: the password_command supervisor's tests (test_secret)
# once more in a PID namespace of their own, whose session leader lies
# outside it, as under a container's or a CI sandbox's runner: there
# getsid() and /proc answer 0 for the command's session. An agent that
# left that session with setsid must still be left to run (it once was
# killed: session 0 was taken for "any session"). Needs unshare(1) and
# the right to make a PID namespace (root); else the whole file is a
# skip. TAP output (cmocka's).
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)/_build}
bin=$top_builddir/tests/unit/test_secret
if [ ! -x "$bin" ]; then
	echo "Bail out! no test_secret at $bin"
	exit 1
fi
if ! command -v unshare >/dev/null ||
    ! unshare --pid --fork --mount-proc true 2>/dev/null; then
	echo "1..0 # SKIP cannot make a PID namespace here (unshare --pid)"
	exit 0
fi
sid=$(unshare --pid --fork --mount-proc \
    sh -c 'read -r l </proc/self/stat; l=${l##*) }; set -- $l; echo $4')
if [ "$sid" != 0 ]; then
	echo "Bail out! in a new PID namespace the session reads $sid, not 0"
	exit 1
fi
CMOCKA_MESSAGE_OUTPUT=TAP exec unshare --pid --fork --mount-proc "$bin"
