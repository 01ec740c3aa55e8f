#!/bin/sh
# tests/cli/test_translate.sh: [output] translation end to end without CAN:
# `cangated -n` names each kind of mistake with file:line; `cangate check
# --out` of the demo drive builds the rig's frames (they decode against the
# rig DBC); the replayed daemon records the same T lines; and check --out of
# the daemon's bundle gives a byte-identical frames.log. Run from anywhere;
# BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
CANGATE=$(pwd)/$BUILD/cangate
CANGATED=$(pwd)/$BUILD/cangated
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_translate.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0

ok() { echo "PASS translate/$1"; pass=$((pass + 1)); }
bad() { echo "FAIL translate/$1: $2"; fail=$((fail + 1)); }

# the demo config, moved into $tmp (paths made absolute, evidence in $tmp)
repo=$(pwd)
sed -e "s|^include = vehicles/|include = $repo/configs/vehicles/|" \
	-e "s|^dbc = vehicles/|dbc = $repo/configs/vehicles/|" \
	-e "s|^dbc = rigs/|dbc = $repo/configs/rigs/|" \
	-e "s|replay:vehicles/|replay:$repo/configs/vehicles/|" \
	-e "s|^dir = .*|dir = $tmp/live|" \
	-e "s|^control = .*|control = $tmp/control.sock|" \
	configs/demo-translate.ini > "$tmp/demo.ini"
if "$CANGATED" -n -c "$tmp/demo.ini" > "$tmp/n.out" 2>&1 &&
   grep -qx 'configuration OK' "$tmp/n.out"; then
	ok "demo-config-loads"
else
	bad "demo-config-loads" "$(cat "$tmp/n.out")"
fi

# each mistake: cangated -n exits 1 with "FILE:LINE: ..." on that line
line_of() { grep -n -- "$1" "$tmp/bad.ini" | head -n 1 | cut -d: -f1; }
n=0
while IFS='|' read -r name from to want; do
	n=$((n + 1))
	sed "s|^$from\$|$to|" "$tmp/demo.ini" > "$tmp/bad.ini"
	if cmp -s "$tmp/demo.ini" "$tmp/bad.ini"; then
		bad "error-$name" "the substitution did not apply"
		continue
	fi
	l=$(line_of "$to")
	rc=0
	"$CANGATED" -n -c "$tmp/bad.ini" > "$tmp/err" 2>&1 || rc=$?
	if [ "$rc" = 1 ] && grep -q "^$tmp/bad.ini:$l: .*$want" "$tmp/err"; then
		ok "error-$name"
	else
		bad "error-$name" "exit $rc, want $tmp/bad.ini:$l: ...$want, got: $(cat "$tmp/err")"
	fi
done <<'EOF'
unknown-message|message = RIG_Battery|message = RIG_Nope|unknown message RIG_Nope in the DBC of bus rig
unknown-rig-signal|set = SOC = BMS_Status.BMS_SOC|set = StateOfCharge = BMS_Status.BMS_SOC|unknown rig signal RIG_Battery.StateOfCharge
unknown-vehicle-signal|set = PackVoltage = hv_voltage|set = PackVoltage = hv_volts|unknown signal hv_volts
type-string-not-number|set = Ready = propulsion_ready|set = Ready = propulsion_ready + "Ready"|only allowed in a comparison
type-not-a-value|set = Ready = propulsion_ready|set = Ready = "Yes"|"Yes" is not a value of Ready
checksum-width|checksum = BattCRC: crc8_autosar|checksum = BattCRC: crc16_ccitt|needs an integer signal of 16 bits, BattCRC has 8
constant-out-of-range|set = AccelPedal = VCU_Drive.AccelPedalPos|set = AccelPedal = 200|outside its raw range
EOF

# check --out of the demo log: rig frames that decode against the rig DBC
rc=0
"$CANGATE" check -c "$tmp/demo.ini" --out "$tmp/off" \
	configs/vehicles/demo-drive.log > /dev/null 2> "$tmp/check.err" || rc=$?
ob=$(ls -d "$tmp"/off/*/ 2>/dev/null | head -n 1)
if [ "$rc" -le 1 ] && [ -n "$ob" ] &&
   grep -q "frames translated" "$tmp/check.err"; then
	ok "check-translates"
else
	bad "check-translates" "exit $rc: $(tail -n 3 "$tmp/check.err")"
fi
grep ' T$' "$ob/frames.log" > "$tmp/T" 2>/dev/null
"$CANGATE" decode --dbc configs/rigs/demo-rig.dbc "$tmp/T" > "$tmp/T.json" 2>&1
for m in RIG_VehicleData RIG_Battery RIG_Motion RIG_Status; do
	c=$(grep -c "\"msg\":\"$m\"" "$tmp/T.json")
	[ "$c" -gt 10 ] || { bad "decodes-$m" "$c frames"; continue; }
	ok "decodes-$m"
done
if grep -q '"error"' "$tmp/T.json"; then
	bad "decodes-clean" "$(grep -m1 '"error"' "$tmp/T.json")"
else
	ok "decodes-clean"
fi

# the daemon (a replay bus into a null rig) records the same T lines, and
# check --out of its bundle reproduces its frames.log byte for byte
rc=0
"$CANGATED" -c "$tmp/demo.ini" --allow-root > "$tmp/live.log" 2>&1 || rc=$?
lb=$(ls -d "$tmp"/live/*/ 2>/dev/null | head -n 1)
if [ "$rc" = 0 ] && [ -n "$lb" ] && grep ' T$' "$lb/frames.log" | cmp -s - "$tmp/T"; then
	ok "live-equals-check-of-the-log"
else
	bad "live-equals-check-of-the-log" "exit $rc: $(tail -n 2 "$tmp/live.log")"
fi
rc=0
"$CANGATE" check -c "$lb/config/demo.ini" --out "$tmp/re" "$lb/frames.log" \
	> /dev/null 2>&1 || rc=$?
rb=$(ls -d "$tmp"/re/*/ 2>/dev/null | head -n 1)
if [ "$rc" -le 1 ] && [ -n "$rb" ] && cmp -s "$lb/frames.log" "$rb/frames.log"; then
	ok "check-of-the-bundle-byte-identical"
else
	bad "check-of-the-bundle-byte-identical" "exit $rc"
fi

echo "test_translate: $pass passed, $fail failed"
[ "$fail" = 0 ]
