#!/bin/sh
# SIGHUP reloads. A broken new config is rejected with its file:line in the
# log and the old routes keep forwarding; a good one takes over without a
# restart (same pid, buses kept) and the reload is recorded as an event; it
# closes the recording session and opens the next under the new config.
# timeout: 60
set -eu
. "$(dirname "$0")/lib.sh"

snap() { "$CANGATE" status -s "$TEST_TMP/control.sock" --json > "$TEST_TMP/st.json"; }

vcan_up vcan0
vcan_up vcan1
mkdir "$TEST_TMP/sessions"
conf() {
	cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = hup
control = $TEST_TMP/control.sock
[bus a]
interface = vcan0
[bus b]
interface = vcan1
[route r]
from = a
to = $2
pass = $1
[evidence]
dir = $TEST_TMP/sessions
EOC
}
# send_and_see: send 0x100 and 0x200 on vcan0, print what reached vcan1
send_and_see() {
	start_candump "$TEST_TMP/out.log" vcan1
	cansend vcan0 100#01
	cansend vcan0 200#02
	sleep 0.5
	stop "$CANDUMP_PID"
	payloads "$TEST_TMP/out.log" | tr '\n' ' '
}

conf 0x100 b
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
assert_eq "100#01 " "$(send_and_see)" "first config"

info "broken config: unknown bus"
conf 0x200 nosuchbus
kill -HUP "$CANGATED_PID"
wait_until "grep -q 'reload failed' '$TEST_TMP/cangated.log'" 10 || fail "no reload failure logged"
assert_grep "reload failed, keeping the running configuration: .*gw.conf:[0-9]+: " "$TEST_TMP/cangated.log"
kill -0 "$CANGATED_PID" || fail "cangated died on a bad reload"
assert_eq "100#01 " "$(send_and_see)" "old config still forwarding"

info "good config"
conf 0x200 b
kill -HUP "$CANGATED_PID"
wait_until "grep -q 'reloaded' '$TEST_TMP/cangated.log'" 10 || fail "reload not logged"
assert_eq "200#02 " "$(send_and_see)" "new config"
snap
assert_eq 1 "$(tr '{' '\n' < "$TEST_TMP/st.json" | grep -o '"reloads":[0-9]*' | cut -d: -f2)" "reloads"
stop "$CANGATED_PID" || fail "cangated exit status $? on SIGTERM"
# The good reload closed the recording session and opened the next one
# under the new config: one bundle per config.
set -- "$TEST_TMP"/sessions/*/events.jsonl
assert_eq 2 "$#" "bundles after a good reload"
next=$(grep -l '"type":"reload","ok":true,"previous_session":' "$@") ||
	fail "no bundle names the one before the reload"
for ev; do [ "$ev" = "$next" ] || first=$ev; done
assert_grep '"type":"reload","ok":false,"error":' "$first"
assert_grep '"type":"reload","ok":true,"previous_verdicts":.*"next_session":' "$first"
