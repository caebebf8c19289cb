# oauth2.sh: the test token endpoint (tests/integration/oauth2_server.py)
# and Dovecot's oauth2 passdb against it. Sourced after tap.sh.

# oauth2_endpoint DIR ARGS...: a CA and the endpoint's certificate for
# localhost in DIR (DIR/ca.pem, DIR/cert.pem, DIR/key.pem; the CA readable
# by Dovecot's auth process), then oauth2_server.py with ARGS (its MODE
# and options), its requests logged to DIR/server.log. Sets O2PID and
# PORT; stopped at exit.
oauth2_endpoint()
{
	local dir=$1

	shift
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -days 1 -subj /CN=oauth2-test-ca -keyout "$dir/ca.key" \
	    -out "$dir/ca.pem" 2>/dev/null &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -days 1 -subj /CN=localhost -CA "$dir/ca.pem" \
	    -CAkey "$dir/ca.key" \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null &&
	chmod 644 "$dir/ca.pem" ||
	    tap_bail "cannot make the token endpoint's certificates"
	python3 "$top_srcdir/tests/integration/oauth2_server.py" \
	    "$dir/cert.pem" "$dir/key.pem" "$dir/port" "$@" \
	    2>"$dir/server.log" &
	O2PID=$!
	tap_cleanup_add 'kill "$O2PID" 2>/dev/null; wait "$O2PID" 2>/dev/null'
	for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
	PORT=$(cat "$dir/port" 2>/dev/null)
	[ -n "$PORT" ] || tap_bail "the token endpoint did not start"
}

# oauth2_dovecot_passdb DIR: Dovecot's oauth2 passdb (XOAUTH2,
# OAUTHBEARER), checking tokens by introspection at the endpoint of
# oauth2_endpoint DIR; sets DC_EXTRA_CONF, for dovecot_start.
oauth2_dovecot_passdb()
{
	cat >"$1/dovecot-oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = https://localhost:$PORT/introspect
username_attribute = username
active_attribute = active
active_value = true
tls_ca_cert_file = $1/ca.pem
EOF
	chmod 644 "$1/dovecot-oauth2.conf.ext"
	DC_EXTRA_CONF="auth_mechanisms = plain login xoauth2 oauthbearer
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $1/dovecot-oauth2.conf.ext
}"
}
