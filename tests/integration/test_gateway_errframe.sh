#!/bin/sh
# Error frames become bus-state events. vcan has no controller, but an error
# frame sent onto it (cansend 2000xxxx#...) reaches cangated's socket like a
# controller's would: error-warning with the error counters, bus-off, then
# restarted. They are counted (err_frames), shown in status, recorded in
# events.jsonl and frames.log, and never forwarded.
# timeout: 60
set -eu
. "$(dirname "$0")/lib.sh"

st() {
	tr '{' '\n' < "$TEST_TMP/st.json" | grep "^\"name\":\"$1\"" |
		grep -o "\"$2\":[0-9a-z\"-]*" | head -n 1 | cut -d: -f2 | tr -d '"'
}
snap() { "$CANGATE" status -s "$TEST_TMP/control.sock" --json > "$TEST_TMP/st.json"; }

vcan_up vcan0
vcan_up vcan1
mkdir "$TEST_TMP/sessions"
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = err
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
EOC
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
start_candump "$TEST_TMP/out.log" vcan1
# controller problem (CAN_ERR_CRTL) + counters (CAN_ERR_CNT): rx warning,
# tx error count 96, rx error count 127
cansend vcan0 20000204#000400000000607F
wait_until "snap && [ \"\$(st veh bus_state)\" = error-warning ]" 10 || fail "no error-warning state: $(st veh bus_state)"
assert_eq 96 "$(st veh txerr)" "txerr"
assert_eq 127 "$(st veh rxerr)" "rxerr"
cansend vcan0 20000040#0000000000000000
wait_until "snap && [ \"\$(st veh bus_state)\" = bus-off ]" 10 || fail "no bus-off state"
cansend vcan0 20000100#0000000000000000
wait_until "snap && [ \"\$(st veh bus_state)\" = error-active ]" 10 || fail "not error-active after restart"
cansend vcan0 123#01
sleep 0.3
stop "$CANDUMP_PID"
snap
assert_eq 3 "$(st veh err_frames)" "error frames counted"
assert_eq 1 "$(st veh rx)" "data frames counted"
assert_eq "123#01" "$(payloads "$TEST_TMP/out.log" | tr -d '\n')" "only the data frame forwarded"
stop "$CANGATED_PID" || fail "cangated exit status $? on SIGTERM"
b=$(ls -d "$TEST_TMP"/sessions/*/)
assert_grep '"type":"bus_state","bus":"veh","state":"error-warning","txerr":96,"rxerr":127' "$b/events.jsonl"
assert_grep '"type":"bus_state","bus":"veh","state":"bus-off"' "$b/events.jsonl"
assert_grep '"type":"bus_state","bus":"veh","state":"restarted"' "$b/events.jsonl"
assert_grep 'vcan0 20000040#0000000000000000 R' "$b/frames.log"
assert_grep 'controller error-warning' "$TEST_TMP/cangated.log"
