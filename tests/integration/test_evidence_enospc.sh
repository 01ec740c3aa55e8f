#!/bin/sh
# Disk full while recording: the evidence directory sits on a 2 MB tmpfs.
# Recording stops (status shows recording=false with the ENOSPC error), the
# gateway keeps forwarding every frame, and the bundle that was written ends
# on a closed block, closes (the recorder's reserve leaves room for the
# manifest) and verifies with exit 3 and a WARN saying where the recording
# stopped; an event made while the disk was full is written at close;
# SIGTERM still exits 0.
# The input is a replay bus at 10 k frames/s (no cangen: the test is about
# the disk, and a replay is deterministic); the output is vcan1.
# timeout: 240
set -eu
. "$(dirname "$0")/lib.sh"

SMALL=${CANGATE_VM_SMALL:-/mnt/small}
[ -d "$SMALL" ] && [ -w "$SMALL" ] || fail "no small filesystem at $SMALL"
dir=$SMALL/sessions.$$
mkdir "$dir"
at_exit "rm -rf '$dir'"
at_exit 'tail -n 5 "$TEST_TMP/cangated.log" 2>/dev/null'
N=30000 # about 2.8 MB of frames.log (R and T lines): more than the disk holds

awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++)
	printf "(%d.%06d) vcan0 %03X#%016X\n", 1764400000 + int(i / 10000), (i % 10000) * 100, 256 + i % 8, i }' \
	> "$TEST_TMP/in.log"
vcan_up vcan1
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = full
control = $TEST_TMP/control.sock
[bus a]
interface = replay:$TEST_TMP/in.log,speed=1
[bus b]
interface = vcan1
[route r]
from = a
to = b
[evidence]
dir = $dir
procedure = enospc
block_frames = 1024
EOC
info "$N frames replayed through the gateway, recording onto $SMALL ($(df -k "$SMALL" | awk 'NR == 2 { print $4 }') KB free)"
start_candump "$TEST_TMP/out.log" vcan1
start_cangated "$TEST_TMP/gw.conf" vcan1
wait_frames "$TEST_TMP/out.log" "$N" 120 || fail "$(count_frames "$TEST_TMP/out.log" vcan1) of $N frames forwarded"
sleep 0.2
stop "$CANDUMP_PID"
assert_eq 0 "$(drop_count "$TEST_TMP/out.log")" "candump drops"
assert_eq "$N" "$(count_frames "$TEST_TMP/out.log" vcan1)" "frames forwarded while the disk was full"

info "status shows the recording stopped"
"$CANGATE" status -s "$TEST_TMP/control.sock" --json > "$TEST_TMP/st.json"
grep -q '"recording":false' "$TEST_TMP/st.json" || fail "status does not show recording stopped: $(cat "$TEST_TMP/st.json")"
grep -q 'No space left on device' "$TEST_TMP/st.json" || fail "status lacks the ENOSPC error"
lost=$(grep -o '"frames_not_recorded":[0-9]*' "$TEST_TMP/st.json" | cut -d: -f2)
assert_ge 1 "$lost"
# an event while the disk is full waits in memory for the room close makes
"$CANGATE" mark -s "$TEST_TMP/control.sock" "while the disk is full"

info "SIGTERM closes the bundle; it verifies"
stop "$CANGATED_PID" 20 || fail "cangated exit status $? on SIGTERM after disk full"
b=$(ls -d "$dir"/*/)
b=${b%/}
rc=0
"$CANGATE" verify "$b" > "$TEST_TMP/verify.out" 2>&1 || rc=$?
cat "$TEST_TMP/verify.out"
# intact as far as it goes, but not the whole session: exit 3
assert_eq 3 "$rc" "verify exit status of a bundle whose recording stopped"
assert_grep '^OK closed: [0-9]+ frames' "$TEST_TMP/verify.out"
lines=$(sed -n 's/^OK closed: \([0-9]*\) frames.*/\1/p' "$TEST_TMP/verify.out")
assert_grep "^WARN recording stopped at line $lines, [0-9]+ frames not recorded \\(.*No space left on device\\)" "$TEST_TMP/verify.out"
# every frame offered to the recorder (an R and a T line per frame) is on
# disk or counted: the writer thread met the full disk after the loop had
# numbered later lines, and those count too
unrec=$(sed -n 's/^WARN recording stopped at line [0-9]*, \([0-9]*\) frames not recorded.*/\1/p' "$TEST_TMP/verify.out")
assert_eq $((2 * N)) $((lines + unrec)) "frames recorded + not recorded"
assert_grep '"type":"mark","text":"while the disk is full"' "$b/events.jsonl"
last=$(grep -v "^close " "$b/frames.chain" | tail -n 1 | awk '{ print $4 }')
assert_eq "$last" "$lines" "verified lines end at the last chain block"
[ "$lines" -lt $((2 * N)) ] || fail "all $lines lines recorded: the disk never filled"
assert_grep '"stopped": true' "$b/manifest.json"
assert_grep 'No space left on device' "$b/manifest.json"
assert_grep '"type":"recording_stopped"' "$b/events.jsonl"
