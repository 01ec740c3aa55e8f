#!/bin/sh
# A crash (SIGKILL) while a signed session is closing: the close runs in a
# worker, so the kill lands somewhere between its first write and its last
# rename. The next start's recovery finishes the close or marks the bundle
# interrupted, and signs it: the bundle passes `verify --pubkey` with no
# warnings and no *.tmp or .reserve left.
# timeout: 180
set -eu
. "$(dirname "$0")/lib.sh"

N=200000
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++)
	printf "(%d.%06d) vcan0 %03X#%016X\n", 1764400000 + int(i / 10000), (i % 10000) * 100, 256 + i % 8, i }' \
	> "$TEST_TMP/in.log"
vcan_up vcan1
mkdir "$TEST_TMP/sessions"
"$CANGATE" keygen -o "$TEST_TMP/rig" > /dev/null
sock=$TEST_TMP/control.sock
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = crashclose
control = $sock
[bus a]
interface = replay:$TEST_TMP/in.log,speed=0
[bus b]
interface = vcan1
[route r]
from = a
to = b
[evidence]
dir = $TEST_TMP/sessions
procedure = cc
sign_key = $TEST_TMP/rig.key
EOC
start_cangated "$TEST_TMP/gw.conf" vcan1
b=$(ls -d "$TEST_TMP"/sessions/*/)
b=${b%/}
wait_until "[ \$(stat -c %s '$b/frames.log') -gt 8000000 ]" 60 || fail "frames.log did not grow"
"$CANGATE" session -s "$sock" stop > /dev/null 2>&1 &
wait_until "ls -A '$b' | grep -q -e verdicts.json -e '\\.tmp\$'" 20 || true
kill -KILL "$CANGATED_PID"
wait "$CANGATED_PID" 2>/dev/null || true
info "killed while closing: $(grep -o '"status": "[a-z]*"' "$b/manifest.json"); $(ls -A "$b" | tr '\n' ' ')"

rm -f "$sock"
sleep 1 # the next session's directory name has a one-second resolution
start_cangated "$TEST_TMP/gw.conf" vcan1
wait_until "! ls -A '$b' | grep -q -e '\\.tmp\$' -e '^\\.reserve\$' && ! grep -q '\"status\": \"open\"' '$b/manifest.json'" 60 ||
	fail "crashed bundle not recovered: $(ls -A "$b" | tr '\n' ' ')"
stop "$CANGATED_PID" 20 || fail "cangated exit status $? on SIGTERM"
"$CANGATE" verify --pubkey "$TEST_TMP/rig.pub" "$b" > "$TEST_TMP/v.out" 2>&1 ||
	{ cat "$TEST_TMP/v.out" >&2; fail "recovered bundle does not verify with the key"; }
cat "$TEST_TMP/v.out"
assert_grep '^OK (closed|interrupted): .*signature OK' "$TEST_TMP/v.out"
if grep -q '^WARN' "$TEST_TMP/v.out"; then
	grep -q '^OK interrupted' "$TEST_TMP/v.out" || fail "warnings on a closed bundle"
fi
if grep -q '^OK closed' "$TEST_TMP/v.out"; then
	[ -f "$b/report.html" ] || fail "closed without report.html"
fi
