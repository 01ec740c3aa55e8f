#!/bin/sh
# An interface that disappears is not fatal: while cangen keeps sending,
# the rig interface (vcan1) is deleted and re-created, then taken down and
# up (ip link set), then the vehicle interface (vcan0) is deleted and
# re-created. The bus goes "down", the other keeps running, cangated
# reopens it with backoff and forwarding resumes; each gap is recorded as a
# bus_down / bus_up event (with t_down, t_up) in the evidence bundle, which
# still verifies.
# timeout: 90
set -eu
. "$(dirname "$0")/lib.sh"

# recreate NAME: the interface comes back (classic, MTU 16)
recreate() {
	ip link add "$1" type vcan && ip link set "$1" mtu 16 && ip link set "$1" up ||
		fail "cannot re-create $1"
}
st() {
	tr '{' '\n' < "$TEST_TMP/st.json" | grep "^\"name\":\"$1\"" |
		grep -o "\"$2\":[0-9a-z\"]*" | head -n 1 | cut -d: -f2 | tr -d '"'
}
snap() { "$CANGATE" status -s "$TEST_TMP/control.sock" --json > "$TEST_TMP/st.json"; }

vcan_up vcan0
vcan_up vcan1
mkdir "$TEST_TMP/sessions"
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = ifdel
control = $TEST_TMP/control.sock
[bus veh]
interface = vcan0
[bus rig]
interface = vcan1
[route r]
from = veh
to = rig
[evidence]
dir = $TEST_TMP/sessions
procedure = ifdel
block_ms = 200
EOC
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
spawn cangen -g 2 -I 123 -L 8 -D i vcan0
GEN=$SPAWN_PID
wait_until "snap && [ \$(st r forwarded) -gt 50 ]" 10 || fail "no forwarding"

info "delete the rig interface while traffic flows"
ip link del vcan1
wait_until "snap && [ \"\$(st rig state)\" = down ]" 10 || fail "rig bus not down: $(st rig state)"
rx1=$(st veh rx)
wait_until "snap && [ \$(st veh rx) -gt $((rx1 + 20)) ]" 10 || fail "vehicle bus stopped receiving"
kill -0 "$CANGATED_PID" || fail "cangated died"
[ "$(st r dropped)" -gt 0 ] || fail "frames for a down bus not counted as dropped"
recreate vcan1
wait_until "snap && [ \"\$(st rig state)\" = up ]" 10 || fail "rig bus did not come back"
start_candump "$TEST_TMP/after.log" vcan1
wait_frames "$TEST_TMP/after.log" 20 10
stop "$CANDUMP_PID"
[ "$(st rig reopens)" -ge 1 ] || fail "reopens not counted"

info "take the rig interface down and up again"
ip link set vcan1 down
wait_until "snap && [ \"\$(st rig state)\" = down ]" 10 || fail "rig bus not down after link down"
reopens=$(st rig reopens)
ip link set vcan1 up
wait_until "snap && [ \"\$(st rig state)\" = up ]" 10 || fail "rig bus did not come back after link up"
[ "$(st rig reopens)" -gt "$reopens" ] || fail "reopen after link up not counted"
start_candump "$TEST_TMP/after1.log" vcan1
wait_frames "$TEST_TMP/after1.log" 20 10
stop "$CANDUMP_PID"

info "delete the vehicle interface (cangen stops with it)"
ip link del vcan0
wait_until "snap && [ \"\$(st veh state)\" = down ]" 10 || fail "vehicle bus not down"
stop "$GEN" || true
recreate vcan0
wait_until "snap && [ \"\$(st veh state)\" = up ]" 10 || fail "vehicle bus did not come back"
fwd=$(st r forwarded)
start_candump "$TEST_TMP/after2.log" vcan1
cangen -g 1 -I 321 -L 4 -D i -n 100 vcan0
wait_frames "$TEST_TMP/after2.log" 100 10
stop "$CANDUMP_PID"
snap
assert_eq $((fwd + 100)) "$(st r forwarded)" "forwarded after the vehicle bus came back"
# the invariant holds across the gaps
assert_eq "$(st r in)" "$(( $(st r forwarded) + $(st r filtered) + $(st r rate_limited) + $(st r dropped) + $(st r queued) ))" "in = forwarded + filtered + rate_limited + dropped + queued"

stop "$CANGATED_PID" || fail "cangated exit status $? on SIGTERM"
b=$(ls -d "$TEST_TMP"/sessions/*/)
ev="$b/events.jsonl"
assert_grep '"type":"bus_down","bus":"rig"' "$ev"
assert_grep '"type":"bus_up","bus":"rig","t_down":[0-9.]+,"t_up":[0-9.]+,"gap_ms":[0-9]+' "$ev"
assert_grep '"type":"bus_down","bus":"veh"' "$ev"
assert_grep '"type":"bus_up","bus":"veh","t_down"' "$ev"
"$CANGATE" verify "$b" > "$TEST_TMP/verify.out" || { cat "$TEST_TMP/verify.out" >&2; fail "bundle does not verify"; }
