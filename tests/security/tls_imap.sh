#!/bin/bash
# tls_imap.sh: the hostile-server TLS/STARTTLS attacks for IMAP (tls_attacks.sh).
exec "$(dirname "$0")/tls_attacks.sh" imap
