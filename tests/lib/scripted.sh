# scripted.sh: one scripted test server (tests/fault/imap_server.py,
# tests/integration/pop3_server.py) in the background (bash; sources
# tap.sh; needs $T, the work directory):
#
#	scripted_start LOG SCRIPT MODE [ARGS...]
#
# (re)starts it: the previous one is stopped, LOG (the lines the server
# received) emptied, and the port it prints is left in $port; its stderr
# goes to $T/server.err. The last one is stopped at exit.

[ -n "${SCRIPTED_LOADED:-}" ] && return 0
SCRIPTED_LOADED=1
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tap.sh"

SCRIPTED_PID=""
tap_cleanup_add '[ -n "$SCRIPTED_PID" ] && kill "$SCRIPTED_PID" 2>/dev/null'

scripted_start() {
	local log=$1 script=$2 i

	shift 2
	[ -n "$SCRIPTED_PID" ] && kill "$SCRIPTED_PID" 2>/dev/null &&
	    wait "$SCRIPTED_PID" 2>/dev/null
	: >"$log"
	rm -f "$T/port"
	python3 "$script" "$1" --log "$log" "${@:2}" >"$T/port" \
	    2>"$T/server.err" &
	SCRIPTED_PID=$!
	for i in $(seq 50); do
		[ -s "$T/port" ] && break
		sleep 0.1
	done
	port=$(cat "$T/port")
	[ -n "$port" ] || tap_bail "$script $1 did not start"
}
