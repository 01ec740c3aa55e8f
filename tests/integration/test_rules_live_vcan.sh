#!/bin/sh
# Live and offline rule checking agree byte for byte on real vcan: 12 s of
# the demo drive is played into vcan0 by can-utils' canplayer in real time;
# cangated checks the demo's rule packs live with kernel timestamps, then is
# stopped with SIGTERM some seconds after the traffic ends, so the cycle and
# stale deadlines of the silent bus expire on the daemon's timer. `cangate
# check --end <manifest end>` of the bundle's frames.log must print exactly
# the recorded violations.jsonl and the same verdicts.
# timeout: 120
set -eu
. "$(dirname "$0")/lib.sh"

slice=$TEST_TMP/drive.log
awk 'NR == 1 { t0 = substr($1, 2) + 0 } substr($1, 2) + 0 - t0 <= 12' \
	"$REPO/configs/vehicles/demo-drive.log" > "$slice"
mkdir "$TEST_TMP/sessions"
# the demo's packs and aliases, with the vehicle on vcan0
sed -n '/^include/p' "$REPO/configs/demo.ini" |
	sed "s|= |= $REPO/configs/|" > "$TEST_TMP/includes"
{
	echo "[gateway]"
	echo "name = live-vcan"
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
	echo "procedure = live"
} > "$TEST_TMP/gw.conf"

start_cangated "$TEST_TMP/gw.conf" vcan0
canplayer -I "$slice" vcan0=vehicle
sleep 2
rc=0
stop "$CANGATED_PID" 10 || rc=$?
assert_eq 0 "$rc" "cangated exit status after SIGTERM"
b=$(ls -d "$TEST_TMP"/sessions/*/)
"$CANGATE" verify "$b" > /dev/null || fail "bundle does not verify"
rx=$(awk '$NF == "R"' "$b/frames.log" | wc -l)
assert_eq "$(wc -l < "$slice")" "$rx" "frames received live"

end_ns=$(sed -n 's/.*"end_ns": *\([0-9]*\).*/\1/p' "$b/manifest.json")
[ -n "$end_ns" ] || fail "no end_ns in the manifest"
end=$(echo "$end_ns" | sed 's/\(.*\)\(.........\)$/\1.\2/')
rc=0
"$CANGATE" check --end "$end" -c "$b/config/gw.conf" "$b/frames.log" \
	> "$TEST_TMP/check.jsonl" 2> "$TEST_TMP/check.err" || rc=$?
[ "$rc" -le 1 ] || { cat "$TEST_TMP/check.err" >&2; fail "cangate check exit $rc"; }
[ -s "$b/violations.jsonl" ] || fail "no violation recorded live (the silent bus should expire cycle deadlines)"
cmp -s "$TEST_TMP/check.jsonl" "$b/violations.jsonl" || {
	diff "$TEST_TMP/check.jsonl" "$b/violations.jsonl" | head -n 8 >&2
	fail "live violations differ from cangate check --end of frames.log"
}
live=$(sed 's/},{/}\n{/g' "$b/verdicts.json" | sed -n 's/.*"rule":"\([^"]*\)".*"verdict":"\([A-Z_]*\)".*/\1 \2/p')
offline=$(awk 'NR > 2 && NF >= 3 && $3 ~ /^(PASS|FAIL|NOT_EXERCISED|INCONCLUSIVE)$/ { print $1, $3 }' "$TEST_TMP/check.err")
[ -n "$live" ] && [ "$live" = "$offline" ] || {
	printf 'live:\n%s\noffline:\n%s\n' "$live" "$offline" | head -n 20 >&2
	fail "live verdicts differ from cangate check"
}
info "$rx frames, $(wc -l < "$b/violations.jsonl") violations, identical live and offline"
