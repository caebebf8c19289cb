#!/bin/bash
# oracle_reuse.sh: the chaos oracle's model of a reused POP3 UIDL
# (world.py PopAccount.reuse_settle) is exact (review r14 08). A message
# new under a freed UIDL is excused only by the size of a message
# mailfetchd delivered under it, not of one it never saw: A (never
# fetched) -> B (delivered) -> C of A's size: C is required. And the
# documented trade-off of c9e7e6d (mailfetchd.conf(5), keep): after C,
# of another size than B, was fetched, D of any size under the UIDL is
# not: D is optional. F (delivered) -> G of F's size: G is optional.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/tap.sh"
command -v python3 >/dev/null || tap_bail "python3 not found"

out=$(python3 - "$top_srcdir/tests/chaos" <<'PY' 2>&1
import random, sys
sys.path.insert(0, sys.argv[1])
import world

class Log:
    def add(self, *a): pass
    def draw(self, *a): pass

acct = world.PopAccount("a1", "pop3-keep", "pop3",
                        {"keep": True, "max_size": 1 << 20}, Log(),
                        random.Random(1), "/nonexistent")

def holder(sizes, reuse=True):
    """A new message of a size in sizes (True: any other), under the
    UIDL of the last one held, freed (reuse), or a new one."""
    while True:
        m = acct.new_message()
        if (sizes is True and all(len(m.data) != len(acct.msgs[k].data)
                                  for k in acct.msgs if k != m.key)) or \
                (sizes is not True and len(m.data) in sizes):
            break
        del acct.msgs[m.key]
    if reuse:
        uidl = acct.drop.pop()[0]
        acct.reuse_optional(m, uidl)
        acct.put(m.key, uidl)
    else:
        acct.put(m.key)
    return m

A = holder(True, False)
B = holder(True)
acct.ever[B.key] = {(0, 1)}		# mailfetchd delivered B
C = holder({len(A.data)})
acct.ever[C.key] = {(0, 2)}		# and C, of another size than B
D = holder(True)
getattr(acct, "reuse_settle", lambda: None)()	# (none before r14 08)
print("C required=%s (%s)" % (C.required, C.why))
print("D required=%s (%s)" % (D.required, D.why))
# Another UIDL: F delivered, G of its size under it is taken for F.
F = holder(True, False)
acct.ever[F.key] = {(0, 3)}
G = holder({len(F.data)})
getattr(acct, "reuse_settle", lambda: None)()	# (none before r14 08)
print("G required=%s (%s)" % (G.required, G.why))
PY
)
tap_diag "$out"
tap_like "$out" 'C required=True' \
    "a message of the size of one never delivered under its UIDL is required"
tap_like "$out" 'D required=False \(a reused UIDL, fetched again once' \
    "a message under a UIDL fetched again for a size change is optional"
tap_like "$out" 'G required=False' \
    "a message of the size of the one delivered under its UIDL is optional"
tap_done
