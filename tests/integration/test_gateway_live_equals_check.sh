#!/bin/sh
# Live and offline rule checking agree byte for byte: the demo drive log
# replayed through cangated (replay bus into a null sink, as fast as
# possible) records violations.jsonl identical to what `cangate check` prints
# for the bundle's frames.log (line numbers included), the same violations
# as a check of the original log (whose line numbers differ: no T lines), and
# the log's frames as its R lines.
# timeout: 120
set -eu
. "$(dirname "$0")/lib.sh"

log=$REPO/configs/vehicles/demo-drive.log
mkdir "$TEST_TMP/sessions"
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = live
control = $TEST_TMP/control.sock
exit_on_replay_end = yes
include = $REPO/configs/vehicles/demo-ev.ini
[bus vehicle]
interface = replay:$log,speed=0
dbc = $REPO/configs/vehicles/demo-ev.dbc
[bus rig]
interface = null
[route r]
from = vehicle
to = rig
[rule slow-demo]
ref = test: a limit the demo drive exceeds
kind = range
signal = speed
max = 20
[evidence]
dir = $TEST_TMP/sessions
EOC
rc=0
"$CANGATED" -c "$TEST_TMP/gw.conf" $(cangated_root_flag) > "$TEST_TMP/cangated.log" 2>&1 || rc=$?
assert_eq 0 "$rc" "cangated exit status"
b=$(ls -d "$TEST_TMP"/sessions/*/)
rc=0
"$CANGATE" check -c "$TEST_TMP/gw.conf" "$b/frames.log" > "$TEST_TMP/check.jsonl" 2> "$TEST_TMP/check.err" || rc=$?
assert_eq 1 "$rc" "cangate check exit status (a FAIL verdict)"
[ -s "$TEST_TMP/check.jsonl" ] || fail "cangate check found no violation"
cmp -s "$TEST_TMP/check.jsonl" "$b/violations.jsonl" || {
	diff "$TEST_TMP/check.jsonl" "$b/violations.jsonl" | head -n 6 >&2
	fail "live violations differ from cangate check of frames.log"
}
rc=0
"$CANGATE" check -c "$TEST_TMP/gw.conf" "$log" > "$TEST_TMP/check2.jsonl" 2> /dev/null || rc=$?
assert_eq 1 "$rc" "cangate check of the original log"
strip() { sed 's/"lines":\[[0-9,]*\],//' "$1"; }
[ "$(strip "$TEST_TMP/check2.jsonl")" = "$(strip "$b/violations.jsonl")" ] ||
	fail "live violations differ from cangate check of the original log"
awk '$NF == "R" { print $1, $2, $3 }' "$b/frames.log" | cmp -s - "$log" || fail "frames.log R lines differ from the replayed log"
# the null sink's frames are recorded as sent (the log's FD frames are not:
# the rig bus is classic, so the route filters them)
t=$(awk '$NF == "T" && $2 == "rig"' "$b/frames.log" | wc -l)
fd=$(awk '$3 ~ /##/' "$log" | wc -l)
assert_eq "$(( $(wc -l < "$log") - fd ))" "$t" "T lines for the null sink"
"$CANGATE" verify "$b" > /dev/null || fail "bundle does not verify"
info "$(wc -l < "$b/violations.jsonl") violations, identical live and offline"
