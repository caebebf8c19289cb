#!/bin/bash
# providers.sh: "mailfetchd --providers" lists the presets (their
# folders too: separator, special use, quirks), and a
# configuration using one passes --check-config with the preset's values
# filled in and a too-short poll_interval raised with a warning. TAP.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/tap.sh"

T=$(mktemp -d /tmp/mfd-providers.XXXXXX)
tap_cleanup_add 'rm -rf "$T"'
printf 'secret\n' > "$T/pass"
chmod 600 "$T/pass"

# run ARGS...: runs mailfetchd, sets $rc, $out (stdout) and $err (stderr).
run() {
	"$MAILFETCHD" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}

run --providers
tap_is "$rc" 0 "--providers exits 0"
tap_like "$out" "gmail \\(Gmail" "--providers lists gmail"
tap_like "$out" "imap.gmail.com:993 implicit" "--providers shows Gmail's IMAP server"
tap_like "$out" "15 IMAP connections" "--providers shows Gmail's connection limit"
tap_like "$out" "2500000000 bytes/day" "--providers shows Gmail's daily budget"
tap_like "$out" "Forwarding and POP/IMAP" "--providers says what to enable"
for p in yandex mailru rambler outlook; do
	tap_like "$out" "^$p \\(" "--providers lists $p"
done
tap_is "$err" "" "--providers prints nothing on stderr"
# Folders (issue 15, what users need 3): each provider's separator,
# special-use folders and quirks, in its own block.
block() { printf '%s\n' "$out" | awk -v p="$1" '$1 == p { on = 1; print; next } /^[^ ]/ { on = 0 } on'; }
tap_like "$(block gmail)" "folders: +separator '/'; special-use attributes in LIST" \
    "--providers: Gmail's separator and special-use folders"
tap_like "$(block gmail)" "quirks: .*labels are folders.*delivered once.*\\\\Trash folder \\(\\[Gmail\\]/Trash\\)" \
    "--providers: Gmail's labels, dedup and trash"
tap_like "$(block yandex)" "folders: +separator '\\|'.*\"Спам\" is \\\\Junk" \
    "--providers: Yandex's '|' and localized special-use folders"
tap_like "$(block mailru)" "folders: +separator '/'.*\"Спам\" is \\\\Junk" \
    "--providers: Mail.ru's folders"
tap_like "$(block outlook)" "folders: .*\"Deleted Items\" \\\\Trash" "--providers: Outlook's folders"
tap_like "$(block outlook)" "quirks: .*keep = no deletes; trash_folder = '\\\\Trash' moves to \"Deleted Items\"" \
    "--providers: Outlook's keep = no deletes unless trash_folder is set"
tap_like "$(block fastmail)" "folders: +separator '/'; SPECIAL-USE" "--providers: Fastmail's folders"
tap_like "$out" "Servers without a preset" "--providers: then the self-hosted servers"
tap_like "$(block Dovecot)" "folders: +separator '/' or '\\.'.*special_use" "--providers: Dovecot"
tap_like "$(block Cyrus)" "folders: +separator '/' and folders beside INBOX \\(Cyrus 3's defaults.*Cyrus 2.*separator '\\.' and folders under INBOX" \
    "--providers: Cyrus 3's defaults, and Cyrus 2's (tests/lib/cyrus.sh)"
tap_like "$(block Courier-IMAP)" "folders: +separator '\\.'.*INBOX" "--providers: Courier"

run --help
tap_like "$out" "--providers" "--help mentions --providers"

cat > "$T/gmail.conf" <<EOF2
state_dir = "$T/state"
account "me" {
    provider = gmail
    protocol = imap
    user = "me@gmail.com"
    password_file = "$T/pass"
    maildir = "$T/Maildir"
    poll_interval = 1m
}
EOF2
run -c "$T/gmail.conf" --check-config
tap_is "$rc" 0 "a provider configuration is valid"
tap_like "$out" 'host = "imap.gmail.com"' "the preset fills host"
tap_like "$out" "poll_interval = 600" "poll_interval is raised to Gmail's minimum"
tap_like "$err" "gmail.conf:8: account 'me': poll_interval = 60s is below gmail's minimum of 600s" \
    "the raise is warned about, with file and line"

sed 's/provider = gmail/provider = nosuch/' "$T/gmail.conf" > "$T/bad.conf"
run -c "$T/bad.conf" --check-config
tap_is "$rc" 2 "an unknown provider is a configuration error"
tap_like "$err" "unknown provider 'nosuch' \\(use one of .*gmail" "the known providers are listed"

tap_done
