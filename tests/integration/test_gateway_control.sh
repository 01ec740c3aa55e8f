#!/bin/sh
# The control socket and its client: `cangate status` with no daemon says so
# in one line and exits 2; with a daemon, sessions start and stop on demand
# (auto_start = no), markers land in events.jsonl with the caller's uid,
# malformed requests get {"error":...} and are counted, and the socket is
# mode 0660.
# timeout: 60
set -eu
. "$(dirname "$0")/lib.sh"

sock=$TEST_TMP/control.sock
info "no daemon"
rc=0
"$CANGATE" status -s "$sock" > "$TEST_TMP/out" 2> "$TEST_TMP/err" || rc=$?
assert_eq 2 "$rc" "exit status without a daemon"
assert_eq "cangate: no such socket: $sock (is cangated running?)" "$(cat "$TEST_TMP/err")" "message"
: > "$TEST_TMP/notasock"
rc=0
"$CANGATE" mark -s "$TEST_TMP/notasock" hi 2> "$TEST_TMP/err" || rc=$?
assert_eq 2 "$rc" "exit status on a non-socket"
assert_eq "cangate: $TEST_TMP/notasock is not a socket" "$(cat "$TEST_TMP/err")" "not a socket"

vcan_up vcan0
mkdir "$TEST_TMP/sessions"
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = ctl
control = $sock
[bus a]
interface = vcan0
[bus sink]
interface = null
[route r]
from = a
to = sink
[evidence]
dir = $TEST_TMP/sessions
auto_start = no
EOC
start_cangated "$TEST_TMP/gw.conf" vcan0
assert_eq "srw-rw----" "$(ls -l "$sock" | cut -c1-10)" "socket mode"
"$CANGATE" status -s "$sock" > "$TEST_TMP/table"
assert_grep "^recording: no session" "$TEST_TMP/table"
rc=0
"$CANGATE" mark -s "$sock" too early 2> "$TEST_TMP/err" || rc=$?
assert_eq 1 "$rc" "mark without a session"
assert_grep "no session is recording" "$TEST_TMP/err"

"$CANGATE" session -s "$sock" start --vin "VIN 123" --procedure TP-7 --operator 'j "q" doe'
cansend vcan0 123#11
"$CANGATE" mark -s "$sock" brake test "#2"
rc=0
"$CANGATE" session -s "$sock" start 2> "$TEST_TMP/err" || rc=$?
assert_eq 1 "$rc" "second session start"
assert_grep "already recording" "$TEST_TMP/err"
"$CANGATE" status -s "$sock" --json > "$TEST_TMP/st.json"
assert_grep '"recording":\{"session":true,"recording":true' "$TEST_TMP/st.json"
"$CANGATE" session -s "$sock" stop
b=$(ls -d "$TEST_TMP"/sessions/*/)
assert_grep '"type":"mark","text":"brake test #2","uid":0' "$b/events.jsonl"
assert_grep '"command":"session start","uid":0' "$b/events.jsonl"
assert_grep 'VIN 123' "$b/manifest.json"
assert_grep '123#11 R' "$b/frames.log"
"$CANGATE" verify "$b" > /dev/null || fail "bundle does not verify"

info "malformed requests"
printf 'bogus\nsession start color=red\n' > "$TEST_TMP/req"
# the client has no raw mode: talk to the socket with a tiny C-free helper
if command -v socat >/dev/null 2>&1; then
	socat - "UNIX-CONNECT:$sock" < "$TEST_TMP/req" > "$TEST_TMP/resp"
	assert_grep '^\{"error":"unknown command' "$TEST_TMP/resp"
elif command -v nc >/dev/null 2>&1 && nc -h 2>&1 | grep -q -- '-U'; then
	nc -U -q 1 "$sock" < "$TEST_TMP/req" > "$TEST_TMP/resp" || true
	assert_grep '^\{"error":"unknown command' "$TEST_TMP/resp"
else
	info "no socat/nc -U here: malformed requests are covered by test_control"
fi
"$CANGATE" status -s "$sock" > /dev/null
kill -0 "$CANGATED_PID" || fail "cangated died"
stop "$CANGATED_PID" || fail "cangated exit status $? on SIGTERM"
rc=0
"$CANGATE" status -s "$sock" 2> /dev/null || rc=$?
assert_eq 2 "$rc" "status after the daemon stopped"
