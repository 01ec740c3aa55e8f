#!/bin/sh
# A stalled loop must not write false violations into the evidence (issue
# 10.1). The daemon is frozen with SIGSTOP for 2 s while canplayer keeps
# playing the demo drive into vcan0: the frames pile up in its socket and
# every cycle deadline of the frozen span is overdue when it wakes. It must
# read what waited before it runs those deadlines, so that the violations it
# records equal `cangate check --end` of its own frames.log byte for byte,
# and it records the stall as a "stall" event with its length.
# timeout: 120
set -eu
. "$(dirname "$0")/lib.sh"

slice=$TEST_TMP/drive.log
awk 'NR == 1 { t0 = substr($1, 2) + 0 } substr($1, 2) + 0 - t0 <= 8' \
	"$REPO/configs/vehicles/demo-drive.log" > "$slice"
mkdir "$TEST_TMP/sessions"
sed -n '/^include/p' "$REPO/configs/demo.ini" |
	sed "s|= |= $REPO/configs/|" > "$TEST_TMP/includes"
{
	echo "[gateway]"
	echo "name = stall"
	echo "control = $TEST_TMP/control.sock"
	cat "$TEST_TMP/includes"
	echo "[bus vehicle]"
	echo "interface = vcan0"
	echo "fd = yes"
	echo "dbc = $REPO/configs/vehicles/demo-ev.dbc"
	echo "[bus rig]"
	echo "interface = vcan1"
	echo "fd = yes"
	echo "[route r]"
	echo "from = vehicle"
	echo "to = rig"
	echo "[evidence]"
	echo "dir = $TEST_TMP/sessions"
	echo "procedure = stall"
} > "$TEST_TMP/gw.conf"

start_cangated "$TEST_TMP/gw.conf" vcan0
canplayer -I "$slice" vcan0=vehicle &
player=$!
sleep 3
kill -STOP "$CANGATED_PID"
sleep 2
kill -CONT "$CANGATED_PID"
wait "$player"
sleep 1
rc=0
stop "$CANGATED_PID" 10 || rc=$?
assert_eq 0 "$rc" "cangated exit status after SIGTERM"
b=$(ls -d "$TEST_TMP"/sessions/*/)
"$CANGATE" verify "$b" > /dev/null || fail "bundle does not verify"
rx=$(awk '$NF == "R"' "$b/frames.log" | wc -l)
assert_eq "$(wc -l < "$slice")" "$rx" "frames received live, none lost in the stall"

stall_ms=$(sed -n 's/.*"type":"stall".*"ms":\([0-9]*\).*/\1/p' "$b/events.jsonl" |
	sort -n | tail -n 1)
[ -n "$stall_ms" ] || fail "no stall event in events.jsonl"
assert_ge 1500 "$stall_ms" "the longest recorded stall (ms)"

bundle_recheck "$b" "$b/config/gw.conf"
info "$rx frames, stall of $stall_ms ms, $(wc -l < "$b/violations.jsonl") violations, identical live and offline"
