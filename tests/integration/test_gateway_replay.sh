#!/bin/sh
# Replay buses: `interface = replay:LOG,speed=N` feeds a candump log through
# the gateway onto a real vcan. Every frame arrives once and in order, the
# log's timing is kept (scaled by speed), the daemon exits 0 by itself at
# the end (exit_on_replay_end), and the evidence bundle records the replayed
# frames with the log's own timestamps: its R lines equal the log.
# timeout: 90
set -eu
. "$(dirname "$0")/lib.sh"

vcan_up vcan1
mkdir "$TEST_TMP/sessions"
# 2000 frames 2 ms apart (4 s of log), then 10 frames 100 ms apart
awk 'BEGIN {
	t = 1700000000
	for (i = 0; i < 2000; i++)
		printf "(%.6f) vcan0 %03X#%02X%02X\n", t + i * 0.002, 256 + i % 512, i % 256, int(i / 256)
	for (i = 0; i < 10; i++)
		printf "(%.6f) vcan0 7AB#%02X\n", t + 5 + i * 0.1, i
}' > "$TEST_TMP/drive.log"
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = replay
control = $TEST_TMP/control.sock
exit_on_replay_end = yes
[bus log]
interface = replay:$TEST_TMP/drive.log,speed=2
[bus rig]
interface = vcan1
[route r]
from = log
to = rig
[evidence]
dir = $TEST_TMP/sessions
EOC
start_candump "$TEST_TMP/out.log" vcan1
t0=$(date +%s)
rc=0
"$CANGATED" -c "$TEST_TMP/gw.conf" $(cangated_root_flag) > "$TEST_TMP/cangated.log" 2>&1 || rc=$?
t1=$(date +%s)
assert_eq 0 "$rc" "cangated exit status at the end of the replay"
assert_grep "every replay bus has ended" "$TEST_TMP/cangated.log"
# 5.9 s of log at speed 2: about 3 s
[ $((t1 - t0)) -ge 2 ] && [ $((t1 - t0)) -le 15 ] || fail "replay took $((t1 - t0)) s for 3 s of scaled log"
wait_frames "$TEST_TMP/out.log" 2010 10
sleep 0.2
stop "$CANDUMP_PID"
compare_payloads "$TEST_TMP/drive.log" "$TEST_TMP/out.log" || fail "frames on vcan1 differ from the log"
# the slow tail keeps its timing: 9 x 100 ms in the log = 450 ms at speed 2
# (first to last; single gaps jitter with the VM's scheduling)
awk '$3 ~ /^7AB#/ { t = substr($1, 2, length($1) - 2); if (f == "") f = t; l = t }
	END { d = l - f; if (d < 0.35 || d > 0.7) { print "span " d; exit 1 } }' "$TEST_TMP/out.log" ||
	fail "replay timing not kept"
b=$(ls -d "$TEST_TMP"/sessions/*/)
# The bundle: R lines = the log, timestamps included, under the bus name
# "log" (the log was taken on vcan0); T lines on vcan1.
awk '$NF == "R" { print $1, $2, $3 }' "$b/frames.log" > "$TEST_TMP/recorded"
sed 's/ vcan0 / log /' "$TEST_TMP/drive.log" > "$TEST_TMP/expected"
cmp -s "$TEST_TMP/expected" "$TEST_TMP/recorded" || {
	diff "$TEST_TMP/expected" "$TEST_TMP/recorded" | head -n 5 >&2
	fail "recorded R lines differ from the replayed log"
}
assert_eq 2010 "$(awk '$NF == "T" && $2 == "vcan1"' "$b/frames.log" | wc -l)" "T lines on vcan1"
assert_grep '"type":"replay_end","bus":"log","frames":2010,"bad_lines":0' "$b/events.jsonl"
"$CANGATE" verify "$b" > /dev/null || fail "bundle does not verify"
