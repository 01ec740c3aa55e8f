#!/bin/sh
# Power loss or crash: cangated is killed with SIGKILL mid-session. The next
# start finds the bundle still "open", marks it "interrupted" with where it
# verifies to, and `cangate verify` exits 0 naming the interrupted state and
# the last verified block and line; the new session records the recovery.
# timeout: 120
set -eu
. "$(dirname "$0")/lib.sh"

vcan_up vcan0
vcan_up vcan1
mkdir "$TEST_TMP/sessions"
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = crash
control = $TEST_TMP/control.sock
[bus a]
interface = vcan0
[bus b]
interface = vcan1
[route r]
from = a
to = b
[evidence]
dir = $TEST_TMP/sessions
procedure = crash
block_frames = 256
# only whole 256-frame blocks, however slowly cangen runs on a loaded host
block_ms = 3600000
EOC
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
start_candump "$TEST_TMP/out.log" vcan1
cangen -g 0 -I i -L 8 -D i -n 5000 vcan0
wait_frames "$TEST_TMP/out.log" 5000 30
kill -KILL "$CANGATED_PID"
wait "$CANGATED_PID" 2>/dev/null || true
stop "$CANDUMP_PID"
old=$(ls -d "$TEST_TMP"/sessions/*/)
old=${old%/}
assert_grep '"status": "open"' "$old/manifest.json"
"$CANGATE" verify "$old" > "$TEST_TMP/v1.out" 2>&1 || { cat "$TEST_TMP/v1.out" >&2; fail "open bundle does not verify"; }
assert_grep '^OK open' "$TEST_TMP/v1.out"

rm -f "$TEST_TMP/control.sock"
sleep 1 # the next session's directory name has a one-second resolution
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
# recovery runs in a thread beside the loop
wait_until "grep -q '\"status\": \"interrupted\"' '$old/manifest.json'" 20 || fail "old bundle not recovered"
"$CANGATE" verify "$old" > "$TEST_TMP/v2.out" 2>&1 || { cat "$TEST_TMP/v2.out" >&2; fail "interrupted bundle does not verify"; }
cat "$TEST_TMP/v2.out"
assert_grep '^OK interrupted: verified to block [0-9]+, line [0-9]+' "$TEST_TMP/v2.out"
line=$(sed -n 's/^OK interrupted: verified to block [0-9]*, line \([0-9]*\).*/\1/p' "$TEST_TMP/v2.out")
assert_eq 0 "$((line % 256))" "verified up to a block boundary"
assert_grep '"type":"interrupted"' "$old/events.jsonl"
new=$(ls -d "$TEST_TMP"/sessions/*/ | grep -v "^$old/\$" | head -n 1)
wait_until "grep -q recovered_interrupted '${new}events.jsonl'" 5 || fail "new session has no recovered_interrupted event"
stop "$CANGATED_PID" 20 || fail "cangated exit status $? on SIGTERM"
"$CANGATE" verify "$new" > "$TEST_TMP/v3.out" 2>&1 || fail "new bundle does not verify"
assert_grep '^OK closed' "$TEST_TMP/v3.out"
