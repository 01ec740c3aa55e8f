#!/bin/sh
# tests/cli/test_check.sh: `cangate check` end to end on small logs written
# here: exit codes (0 pass, 1 FAIL/INCONCLUSIVE, 2 usage/input), violations
# on stdout with line numbers counted across logs, 'T' lines not checked,
# malformed lines as FILE:LINE on stderr, interface -> bus mapping (also via
# a replay bus's log path), and --out writing a bundle that verifies and
# holds the same violations. Run from anywhere; BUILD selects the build
# folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
CANGATE=$(pwd)/$BUILD/cangate
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0

if [ ! -x "$CANGATE" ]; then
	echo "test_check: $CANGATE not built (make first)" >&2
	exit 1
fi

ok() { echo "PASS check/$1"; pass=$((pass + 1)); }
bad() { echo "FAIL check/$1: $2"; fail=$((fail + 1)); }

cat >"$tmp/v.dbc" <<'EOF'
VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 257 ESP: 8 ECU
 SG_ Speed : 0|16@1+ (0.1,0) [0|400] "km/h" ECU
BO_ 259 AVAS: 8 ECU
 SG_ Cmd : 0|8@1+ (1,0) [0|1] "" ECU
EOF

cat >"$tmp/c.ini" <<'EOF'
[gateway]
name = t
[bus car]
interface = vcan0
dbc = v.dbc
[bus replayed]
interface = replay:r.log
dbc = v.dbc
[signal speed]
source = ESP.Speed
[rule speed-max]
ref = TP-1
kind = range
signal = speed
max = 100
[rule avas]
ref = TP-2
kind = implies
when = speed < 30
expect = AVAS.Cmd == 1
settle_ms = 100
EOF

# speed 0x01F4 = 50.0 km/h, 0x07D0 = 200.0, 0x0064 = 10.0
cat >"$tmp/a.log" <<'EOF'
(1700000000.000000) vcan0 101#F401 R
(1700000000.010000) vcan0 101#D007 R
(1700000000.020000) vcan0 101#D007 T
EOF
cat >"$tmp/b.log" <<'EOF'
(1700000000.030000) vcan0 101#F401 R
(1700000000.040000) vcan0 103#01 R
(1700000000.050000) vcan0 101#6400 R
EOF

# 1. FAIL: one violation, lines counted across both logs; T line skipped
"$CANGATE" check -c "$tmp/c.ini" "$tmp/a.log" "$tmp/b.log" >"$tmp/out" 2>"$tmp/err"
rc=$?
want='{"rule":"speed-max","ref":"TP-1","kind":"range","t_start":1700000000.010000,"t_end":1700000000.030000,"worst":200,"margin":-100,"lines":[2,4],"msg":"200 above max 100"}'
if [ $rc = 1 ] && [ "$(cat "$tmp/out")" = "$want" ]; then
	ok fail-exit-1-and-violation
else
	bad fail-exit-1-and-violation "rc $rc, stdout $(cat "$tmp/out")"
fi
if grep -q '^speed-max .* FAIL .* 1  TP-1$' "$tmp/err" &&
	grep -q '^avas .* PASS ' "$tmp/err" &&
	grep -q '^5 frames checked, 6 lines read from 2 logs$' "$tmp/err"; then
	ok verdict-table
else
	bad verdict-table "$(cat "$tmp/err")"
fi

# 2. all pass: exit 0
head -1 "$tmp/a.log" >"$tmp/p.log"
"$CANGATE" check -c "$tmp/c.ini" "$tmp/p.log" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 0 ] && [ ! -s "$tmp/out" ] && grep -q 'avas .* NOT_EXERCISED' "$tmp/err"; then
	ok pass-exit-0
else
	bad pass-exit-0 "rc $rc"
fi

# 3. malformed line: FILE:LINE on stderr, the rest still checked, exit 2
printf '(1700000000.000000) vcan0 101#F401\n(1700000000.1) vcan0 101#00\n(1700000000.200000) vcan0 101#D007\n' >"$tmp/m.log"
"$CANGATE" check -c "$tmp/c.ini" "$tmp/m.log" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && grep -q "^$tmp/m.log:2: " "$tmp/err" &&
	grep -q '"lines":\[3,3\]' "$tmp/out"; then
	ok malformed-line
else
	bad malformed-line "rc $rc: $(head -3 "$tmp/err")"
fi

# 4. an interface that is not a bus: named once with its line, exit 2
printf '(1700000000.000000) can7 101#F401\n(1700000000.100000) can7 101#F401\n' >"$tmp/u.log"
"$CANGATE" check -c "$tmp/c.ini" "$tmp/u.log" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && [ "$(grep -c "interface 'can7'" "$tmp/err")" = 1 ] &&
	grep -q "^$tmp/u.log:1: interface 'can7' is not a bus" "$tmp/err"; then
	ok unknown-interface
else
	bad unknown-interface "rc $rc: $(head -3 "$tmp/err")"
fi

# 5. the replay bus's own log maps to it whatever its interface column
# (rule names resolve on the first bus with the message: bus = selects)
printf '(1700000000.000000) can7 101#D007\n' >"$tmp/r.log"
sed 's/^source = ESP.Speed$/source = ESP.Speed\nbus = replayed/' "$tmp/c.ini" >"$tmp/rb.ini"
"$CANGATE" check -c "$tmp/rb.ini" "$tmp/r.log" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 1 ] && grep -q '"rule":"speed-max"' "$tmp/out"; then
	ok replay-log-maps-to-its-bus
else
	bad replay-log-maps-to-its-bus "rc $rc: $(head -3 "$tmp/err")"
fi

# 6. usage errors
for args in "" "-c" "-c $tmp/c.ini" "--bogus -c $tmp/c.ini $tmp/a.log" "-c $tmp/nope.ini $tmp/a.log"; do
	# shellcheck disable=SC2086
	"$CANGATE" check $args >/dev/null 2>"$tmp/err"
	rc=$?
	if [ $rc = 2 ] && [ -s "$tmp/err" ]; then
		ok "usage-exit-2 ($args)"
	else
		bad "usage-exit-2 ($args)" "rc $rc"
	fi
done

# 7. a rule error names file:line:col
cp "$tmp/c.ini" "$tmp/e.ini"
printf '[rule broken]\nref = x\nkind = assert\nexpect = AVAS.Cmd == "On"\n' >>"$tmp/e.ini"
line=$(grep -n 'expect = AVAS.Cmd == "On"' "$tmp/e.ini" | cut -d: -f1)
"$CANGATE" check -c "$tmp/e.ini" "$tmp/a.log" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && grep -q "^$tmp/e.ini:$line:22: .*no value table" "$tmp/err"; then
	ok rule-error-location
else
	bad rule-error-location "rc $rc: $(cat "$tmp/err")"
fi

# 8. --out: a bundle that verifies, with the same violations
"$CANGATE" check -c "$tmp/c.ini" --out "$tmp/bundles" "$tmp/a.log" "$tmp/b.log" >"$tmp/out" 2>"$tmp/err"
rc=$?
b=$(ls -d "$tmp"/bundles/*/ 2>/dev/null | head -1)
if [ $rc = 1 ] && [ -n "$b" ] && cmp -s "$tmp/out" "$b/violations.jsonl" &&
	"$CANGATE" verify "$b" >/dev/null 2>&1 &&
	grep -q '"verdict":"FAIL"' "$b/verdicts.json" &&
	[ "$(wc -l <"$b/frames.log")" = 6 ]; then
	ok out-bundle
else
	bad out-bundle "rc $rc, bundle '$b': $(cat "$tmp/err" | head -3)"
fi

# 9. --end: a session stopped after the last frame; the cycle deadline that
# expired in between is found as live, and a bad time is a usage error
sed -n '1,/^dbc = v.dbc/p' "$tmp/c.ini" >"$tmp/end.ini"
cat >>"$tmp/end.ini" <<'EOF'
[rule esp-cycle]
ref = TP-3
kind = cycle
message = ESP
period_ms = 10
tol_pct = 50
EOF
printf '(1700000000.000000) vcan0 101#F401\n(1700000000.010000) vcan0 101#F401\n(1700000000.020000) vcan0 101#F401\n' >"$tmp/c10.log"
"$CANGATE" check -c "$tmp/end.ini" "$tmp/c10.log" >/dev/null 2>&1
rc_plain=$?
"$CANGATE" check -c "$tmp/end.ini" --end 1700000001.5 "$tmp/c10.log" >"$tmp/out" 2>/dev/null
rc_end=$?
"$CANGATE" check -c "$tmp/end.ini" --end 17000x "$tmp/c10.log" >/dev/null 2>&1
rc_bad=$?
if [ $rc_plain = 0 ] && [ $rc_end = 1 ] && grep -q '"rule":"esp-cycle"' "$tmp/out" &&
	[ $rc_bad = 2 ]; then
	ok end-time
else
	bad end-time "rc $rc_plain/$rc_end/$rc_bad: $(cat "$tmp/out")"
fi

# 10. silent_ms: a bus that falls silent is a gap in events.jsonl, not a
# cycle FAIL; without silent_ms the same log fails
sed -n '1,/^dbc = v.dbc/p' "$tmp/c.ini" >"$tmp/silent.ini"
sed -i 's/^interface = vcan0$/interface = vcan0\nsilent_ms = 200/' "$tmp/silent.ini"
sed -n '/^\[rule esp-cycle\]/,$p' "$tmp/end.ini" >>"$tmp/silent.ini"
{
	cat "$tmp/c10.log"
	printf '(1700000002.000000) vcan0 101#F401\n(1700000002.010000) vcan0 101#F401\n'
} >"$tmp/gap.log"
"$CANGATE" check -c "$tmp/silent.ini" --out "$tmp/silent" "$tmp/gap.log" >"$tmp/out" 2>"$tmp/err"
rc=$?
"$CANGATE" check -c "$tmp/end.ini" "$tmp/gap.log" >/dev/null 2>&1
rc_off=$?
b=$(ls -d "$tmp"/silent/*/ 2>/dev/null | head -1)
if [ $rc = 0 ] && [ $rc_off = 1 ] && [ ! -s "$tmp/out" ] && [ -n "$b" ] &&
	grep -q '"type":"bus_silent","bus":"car","t_last":1700000000.020000' "$b/events.jsonl" &&
	grep -q '"type":"bus_resumed","bus":"car","gap_ms":1980' "$b/events.jsonl" &&
	grep -q '"rule":"esp-cycle".*"verdict":"PASS"' "$b/verdicts.json"; then
	ok silent-bus-is-a-gap
else
	bad silent-bus-is-a-gap "rc $rc/$rc_off: $(cat "$tmp/out" "$tmp/err" "$b/events.jsonl" 2>&1 | head -8)"
fi

# 11. a file that is not a log (a DBC given as the log) is an input error,
# named with its first non-frame line
"$CANGATE" check -c "$tmp/c.ini" "$tmp/v.dbc" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && grep -q "^$tmp/v.dbc:1: 8 lines are not candump -l frames, the first: \"VERSION" "$tmp/err" &&
	grep -q "^$tmp/v.dbc: no candump -l frame" "$tmp/err"; then
	ok not-candump
else
	bad not-candump "rc $rc: $(cat "$tmp/err")"
fi

# 12. DBC long names (SystemXxxLongSymbol): rules name the long names, and
# the violation and the report carry them
mkdir -p "$tmp/long"
cp tests/fixtures/dbc/long_names.dbc "$tmp/long/"
cat >"$tmp/long/c.ini" <<'EOF'
[gateway]
name = t
[bus car]
interface = can0
dbc = long_names.dbc
[rule soc-max]
ref = TP-9
kind = range
signal = BatteryManagementSystemStatus_HighVoltage.HighVoltageBatteryStateOfChargeDisplayed
max = 90
EOF
"$CANGATE" check -c "$tmp/long/c.ini" --out "$tmp/long/out" tests/fixtures/decode/long_names.log >"$tmp/out" 2>"$tmp/err"
rc=$?
"$CANGATE" report "$tmp"/long/out/* -o "$tmp/long/r.html" 2>/dev/null
if [ $rc = 1 ] && grep -q '"rule":"soc-max".*"worst":100' "$tmp/out" &&
	grep -q HighVoltageBatteryStateOfChargeDisplayed "$tmp/long/r.html"; then
	ok long-names
else
	bad long-names "rc $rc: $(cat "$tmp/out" "$tmp/err")"
fi

# 11. worst and margin are rounded to the resolution of what the rule
# reads: speeds of 0.01 km/h differ by -1.33, not -1.3299999999999983; a
# limit written with 2 decimals over a 0.1 signal gives 3; cycle times are
# ms to the microsecond
mkdir -p "$tmp/round"
cat >"$tmp/round/v.dbc" <<'EOF'
VERSION ""
BU_: ECU
BO_ 257 SPD: 8 ECU
 SG_ True : 0|16@1+ (0.01,0) [0|600] "km/h" ECU
 SG_ Shown : 16|16@1+ (0.01,0) [0|600] "km/h" ECU
 SG_ Volt : 32|16@1+ (0.1,0) [0|6000] "V" ECU
EOF
cat >"$tmp/round/c.ini" <<'EOF'
[gateway]
name = t
[bus car]
interface = can0
dbc = v.dbc
[rule shown-not-below]
ref = R1
kind = assert
expect = SPD.Shown - SPD.True >= 0
[rule volt-max]
ref = R2
kind = range
signal = SPD.Volt
max = 400.05
[rule spd-cycle]
ref = R3
kind = cycle
message = SPD
period_ms = 10
EOF
# True 110.61 (0x2B35), Shown 109.28 (0x2AB0), Volt 400.1 (0x0FA1); then a
# 13.333 ms gap
cat >"$tmp/round/a.log" <<'EOF'
(1700000000.000000) can0 101#352BB02AA10F0000
(1700000000.010000) can0 101#352BB02AA10F0000
(1700000000.023333) can0 101#352BB02AA10F0000
EOF
"$CANGATE" check -c "$tmp/round/c.ini" "$tmp/round/a.log" >"$tmp/out" 2>/dev/null
if grep -q '"rule":"shown-not-below".*"worst":-1.33,"margin":-1.33,' "$tmp/out" &&
	grep -q '"rule":"volt-max".*"worst":400.1,"margin":-0.05,' "$tmp/out" &&
	grep -q '"rule":"spd-cycle".*"worst":13.333,.*"msg":"interval 13.333 ms' "$tmp/out"; then
	ok rounded-worst-margin
else
	bad rounded-worst-margin "$(cat "$tmp/out")"
fi

echo "test_check: $pass passed, $fail failed"
[ "$fail" = 0 ]
