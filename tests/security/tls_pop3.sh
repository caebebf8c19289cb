#!/bin/bash
# tls_pop3.sh: the hostile-server TLS/STARTTLS attacks for POP3 (tls_attacks.sh).
exec "$(dirname "$0")/tls_attacks.sh" pop3
