#!/bin/sh
# A bus that falls silent (silent_ms) is a gap, live as offline: the demo
# drive with a 10 s hole replayed through cangated records bus_silent and
# bus_resumed in events.jsonl exactly as `cangate check --out` of its
# frames.log does, the same violations, and the cycle rules PASS across the
# hole (without silent_ms the same frames fail them).
# timeout: 120
set -eu
. "$(dirname "$0")/lib.sh"

# the first 3000 frames, then the next 3000 ten seconds later
awk 'NR <= 3000 { print; next }
     NR <= 6000 { split(substr($1, 2, length($1) - 2), t, "."); printf "(%d.%s) %s %s\n", t[1] + 10, t[2], $2, $3 }' \
	"$REPO/configs/vehicles/demo-drive.log" > "$TEST_TMP/gap.log"
mkdir "$TEST_TMP/sessions" "$TEST_TMP/checked"
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = live
control = $TEST_TMP/control.sock
exit_on_replay_end = yes
include = $REPO/configs/vehicles/demo-ev.ini
[bus vehicle]
interface = replay:$TEST_TMP/gap.log,speed=0
dbc = $REPO/configs/vehicles/demo-ev.dbc
silent_ms = 500
[evidence]
dir = $TEST_TMP/sessions
EOC
rc=0
"$CANGATED" -c "$TEST_TMP/gw.conf" $(cangated_root_flag) > "$TEST_TMP/cangated.log" 2>&1 || rc=$?
assert_eq 0 "$rc" "cangated exit status"
b=$(ls -d "$TEST_TMP"/sessions/*/)
grep -q '"type":"bus_silent","bus":"vehicle"' "$b/events.jsonl" ||
	fail "no bus_silent event live: $(cat "$b/events.jsonl")"
sed "s|^dir = .*|dir = $TEST_TMP/checked|" "$TEST_TMP/gw.conf" > "$TEST_TMP/check.conf"
rc=0
"$CANGATE" check -c "$TEST_TMP/check.conf" --out "$TEST_TMP/checked" "$b/frames.log" > "$TEST_TMP/check.jsonl" 2> "$TEST_TMP/check.err" || rc=$?
c=$(ls -d "$TEST_TMP"/checked/*/)
cmp -s "$TEST_TMP/check.jsonl" "$b/violations.jsonl" || {
	diff "$TEST_TMP/check.jsonl" "$b/violations.jsonl" | head -n 6 >&2
	fail "live violations differ from cangate check of frames.log"
}
grep '"type":"bus_' "$b/events.jsonl" > "$TEST_TMP/live.ev"
grep '"type":"bus_' "$c/events.jsonl" > "$TEST_TMP/check.ev" || true
cmp -s "$TEST_TMP/live.ev" "$TEST_TMP/check.ev" || {
	diff "$TEST_TMP/live.ev" "$TEST_TMP/check.ev" >&2
	fail "live bus events differ from cangate check --out"
}
grep -q '"type":"bus_resumed","bus":"vehicle","gap_ms":' "$TEST_TMP/live.ev" || fail "no bus_resumed"
grep -q '"rule":"demo-ev-esc-status-cycle"[^}]*"verdict":"PASS"' "$b/verdicts.json" ||
	fail "ESC_Status cycle does not PASS across the silent gap"
sed '/^silent_ms/d' "$TEST_TMP/check.conf" > "$TEST_TMP/nosilent.conf"
"$CANGATE" check -c "$TEST_TMP/nosilent.conf" "$b/frames.log" 2> /dev/null | grep -q '"rule":"demo-ev-esc-status-cycle"' ||
	fail "without silent_ms the gap should fail the cycle rule"
info "$(wc -l < "$TEST_TMP/live.ev") bus events, identical live and offline"
