#!/bin/sh
# tests/cli/test_decode.sh: end-to-end `cangate decode` and `cangate dbc`
# against the fixtures in tests/fixtures/decode/: each case runs the command
# and compares stdout, stderr and the exit code to NAME.out, NAME.err and
# the expected code. Run from the repository root; BUILD selects the build
# folder (default build). UPDATE=1 rewrites the expected files (review the
# diff before committing them).
set -u
BUILD=${BUILD:-build}
CANGATE=${CANGATE:-$BUILD/cangate}
FIX=tests/fixtures/decode
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_decode.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0

# check NAME RC CMD...: run CMD, compare with $FIX/NAME.out, NAME.err, RC.
check() {
	name=$1 want_rc=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ "${UPDATE:-0}" = 1 ]; then
		cp "$tmp/out" "$FIX/$name.out"
		cp "$tmp/err" "$FIX/$name.err"
	fi
	why=
	[ "$rc" = "$want_rc" ] || why="exit $rc, want $want_rc"
	cmp -s "$tmp/out" "$FIX/$name.out" || why="$why stdout differs"
	cmp -s "$tmp/err" "$FIX/$name.err" || why="$why stderr differs"
	if [ -z "$why" ]; then
		echo "PASS decode/$name"
		pass=$((pass + 1))
	else
		echo "FAIL decode/$name:$why"
		diff "$FIX/$name.out" "$tmp/out" | head -10
		diff "$FIX/$name.err" "$tmp/err" | head -10
		fail=$((fail + 1))
	fi
}

# Same, with the log on stdin.
check_stdin() {
	name=$1 want_rc=$2 input=$3
	shift 3
	"$@" <"$input" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "${UPDATE:-0}" = 1 ]; then
		cp "$tmp/out" "$FIX/$name.out"
		cp "$tmp/err" "$FIX/$name.err"
	fi
	why=
	[ "$rc" = "$want_rc" ] || why="exit $rc, want $want_rc"
	cmp -s "$tmp/out" "$FIX/$name.out" || why="$why stdout differs"
	cmp -s "$tmp/err" "$FIX/$name.err" || why="$why stderr differs"
	if [ -z "$why" ]; then
		echo "PASS decode/$name"
		pass=$((pass + 1))
	else
		echo "FAIL decode/$name:$why"
		diff "$FIX/$name.out" "$tmp/out" | head -10
		fail=$((fail + 1))
	fi
}

if [ ! -x "$CANGATE" ]; then
	echo "FAIL decode: $CANGATE not built"
	exit 1
fi

# Decoding: every value in basic.out was worked out by hand from demo.dbc
# (see the comments in drive.log's companion notes below).
#  line 1: VehSpd 0x03E8*0.01=10, Accel 12 bits 0xFFB=-5*0.1, Gear 0, Temp 0x35-40=13
#  line 4: extended 0x18FEF1FE, Counter LE 0x12345678, Big Motorola 0xDEADBEEF
#  mux: Mode 0 -> A=42, Mode 1 -> B=0xFE signed*0.5=-1, Mode 5 -> none
#  FD: float32 12.5 in bytes 0..3, Last = byte 63 = 0xA5
#  short frames: the signals that fit plus "error"; bad lines on stderr, exit 1
check basic 1 "$CANGATE" decode --dbc $FIX/demo.dbc $FIX/drive.log
check all 1 "$CANGATE" decode --all --dbc $FIX/demo.dbc $FIX/drive.log
check choices 1 "$CANGATE" decode --choices --dbc=$FIX/demo.dbc $FIX/drive.log
# --bus applies body.dbc to vcan1 only, and before --dbc.
check bus 1 "$CANGATE" decode --bus vcan1=$FIX/body.dbc --dbc $FIX/demo.dbc $FIX/drive.log
# Several DBCs: the first that knows the ID wins.
check first_match 1 "$CANGATE" decode --dbc $FIX/body.dbc,$FIX/demo.dbc $FIX/drive.log
check_stdin stdin 0 $FIX/good.log "$CANGATE" decode --dbc $FIX/demo.dbc
check_stdin dash 0 $FIX/good.log "$CANGATE" decode --dbc $FIX/demo.dbc - 
check two_logs 0 "$CANGATE" decode --dbc $FIX/demo.dbc $FIX/good.log $FIX/good.log
# Names over 32 characters (SystemXxxLongSymbol): decode and show use them.
check long_names 0 "$CANGATE" decode --choices --dbc tests/fixtures/dbc/long_names.dbc $FIX/long_names.log
check show_long_names 0 "$CANGATE" dbc show tests/fixtures/dbc/long_names.dbc
# Errors: bad DBC with its location, unreadable log, usage.
check bad_dbc 2 "$CANGATE" decode --dbc $FIX/bad.dbc $FIX/good.log
check missing_log 2 "$CANGATE" decode --dbc $FIX/demo.dbc $FIX/no-such.log
check no_dbc 2 "$CANGATE" decode $FIX/good.log
check bad_bus 2 "$CANGATE" decode --bus vcan0 $FIX/good.log
check bad_option 2 "$CANGATE" decode --dbc $FIX/demo.dbc --frobnicate $FIX/good.log

# cangate dbc
check lint_ok 0 "$CANGATE" dbc lint $FIX/demo.dbc
check lint_warn 0 "$CANGATE" dbc lint $FIX/warn.dbc
check lint_bad 1 "$CANGATE" dbc lint $FIX/bad.dbc
check lint_usage 2 "$CANGATE" dbc lint
check show 0 "$CANGATE" dbc show $FIX/demo.dbc
check show_bad 1 "$CANGATE" dbc show $FIX/bad.dbc
check lint_missing 2 "$CANGATE" dbc lint $FIX/no-such.dbc
check show_missing 2 "$CANGATE" dbc show $FIX/no-such.dbc
check missing_dbc 2 "$CANGATE" decode --dbc $FIX/no-such.dbc $FIX/good.log

# A 3 MB line (longer than the read buffer) is reported once with its line
# number and skipped; the lines around it, and a last line without a
# newline, still decode.
{
	cat $FIX/good.log
	head -c 3000000 /dev/zero | tr '\0' x
	echo
	cat $FIX/good.log
	printf '(1436509052.249713) vcan0 123#E803FB0F35000000'
} >"$tmp/long.log"
"$CANGATE" decode --dbc $FIX/demo.dbc "$tmp/long.log" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 1 ] && [ "$(wc -l <"$tmp/out")" = 13 ] &&
	[ "$(cat "$tmp/err")" = "$tmp/long.log:7: line longer than 1048576 bytes" ]; then
	echo "PASS decode/long_line"
	pass=$((pass + 1))
else
	echo "FAIL decode/long_line: exit $rc, $(wc -l <"$tmp/out") lines, $(cat "$tmp/err")"
	fail=$((fail + 1))
fi

# A frame as long as its message, with a signal the DBC places beyond the
# message's bytes: the error says the signal does not fit, not that the
# frame is short of a length it has.
cat >"$tmp/beyond.dbc" <<'EOF'
VERSION ""
BU_: ECU
BO_ 256 B: 2 ECU
 SG_ In : 0|8@1+ (1,0) [0|255] "" ECU
 SG_ Out : 8|16@1+ (1,0) [0|65535] "" ECU
EOF
printf '(1.000000) vcan0 100#0102\n' >"$tmp/beyond.log"
"$CANGATE" decode --dbc "$tmp/beyond.dbc" "$tmp/beyond.log" >"$tmp/out" 2>/dev/null
if grep -q '"sig":{"In":1},"error":"frame has 2 bytes, signals of message B lie beyond them"' "$tmp/out"; then
	echo "PASS decode/signal_beyond_message"
	pass=$((pass + 1))
else
	echo "FAIL decode/signal_beyond_message: got '$(cat "$tmp/out")'"
	fail=$((fail + 1))
fi

# VAL_ on an unsigned 64-bit signal: values above INT64_MAX are shown as
# written (the model keeps their bit pattern), not as negative numbers.
printf 'VERSION ""\nBU_: A\nBO_ 256 M: 8 A\n SG_ U : 0|64@1+ (1,0) [0|0] "" A\nVAL_ 256 U 18446744073709551615 "all" 1 "one";\n' >"$tmp/u64.dbc"
"$CANGATE" dbc show "$tmp/u64.dbc" >"$tmp/out" 2>/dev/null
if grep -q '"value": 18446744073709551615,' "$tmp/out" &&
	! grep -q '"value": -1,' "$tmp/out"; then
	echo "PASS decode/show_u64_values"
	pass=$((pass + 1))
else
	echo "FAIL decode/show_u64_values: $(grep '"value"' "$tmp/out" | tr -d '\n')"
	fail=$((fail + 1))
fi

# --choices on a float signal: VAL_ numbers are its IEEE values before
# factor and offset; a value with no name stays a number.
printf 'VERSION ""\nBU_: A\nBO_ 256 M: 4 A\n SG_ F : 0|32@1- (0.5,0) [0|0] "" A\nVAL_ 256 F 2 "Two";\nSIG_VALTYPE_ 256 F : 1;\n' >"$tmp/f32.dbc"
printf '(1.000000) vcan0 100#00000040\n(2.000000) vcan0 100#00002040\n' >"$tmp/f32.log"
"$CANGATE" decode --choices --dbc "$tmp/f32.dbc" "$tmp/f32.log" >"$tmp/out" 2>/dev/null
if [ "$(sed -n 's/.*"sig":\(.*\)}$/\1/p' "$tmp/out" | tr '\n' ' ')" = '{"F":"Two"} {"F":1.25} ' ]; then
	echo "PASS decode/float_choices"
	pass=$((pass + 1))
else
	echo "FAIL decode/float_choices: got '$(cat "$tmp/out")'"
	fail=$((fail + 1))
fi

# Live input (a pipe that stays open, like candump -L | cangate decode -):
# each line's JSON comes out at once, not when the output buffer fills.
{ head -1 $FIX/good.log; sleep 3; } |
	timeout 1 "$CANGATE" decode --dbc $FIX/demo.dbc - >"$tmp/out" 2>&1
if [ "$(cat "$tmp/out")" = "$(head -1 $FIX/dash.out)" ]; then
	echo "PASS decode/live_pipe"
	pass=$((pass + 1))
else
	echo "FAIL decode/live_pipe: got '$(cat "$tmp/out")'"
	fail=$((fail + 1))
fi

# Every decode line and the show output are valid JSON (when a python is
# at hand to say so).
if /usr/bin/python3 -c 'import json' 2>/dev/null; then
	if "$CANGATE" decode --all --choices --dbc $FIX/demo.dbc $FIX/drive.log 2>/dev/null |
		/usr/bin/python3 -c 'import json, sys
for line in sys.stdin: json.loads(line)' &&
		"$CANGATE" dbc show $FIX/demo.dbc | /usr/bin/python3 -c 'import json, sys; json.load(sys.stdin)'; then
		echo "PASS decode/valid_json"
		pass=$((pass + 1))
	else
		echo "FAIL decode/valid_json"
		fail=$((fail + 1))
	fi
fi

# Physical values round-trip: the bench DBC's scalings over a generated log,
# each printed value parsed back equals raw*factor+offset computed in C
# double arithmetic by the codec (checked by re-decoding through python's
# float, which is the same IEEE double).
if /usr/bin/python3 -c 'import json' 2>/dev/null; then
	/usr/bin/python3 - "$CANGATE" "$FIX/bench.dbc" "$tmp" <<'EOF'
import json, random, struct, subprocess, sys
cangate, dbc, tmp = sys.argv[1:4]
random.seed(7)
log = tmp + "/rt.log"
frames = []
with open(log, "w") as f:
    for i in range(2000):
        data = bytes(random.getrandbits(8) for _ in range(8))
        mid = 0x100 + i % 8
        frames.append((mid, data))
        f.write("(1700000000.%06d) can0 %03X#%s\n" % (i, mid, data.hex().upper()))
# The bench DBC layout, same generator as the fixture.
widths = [8, 4, 4, 12, 4, 16, 1, 7, 2, 6]
factors = [1, 0.1, 0.01, 0.5, 0.25, 0.03125]
offsets = [0, -40, 0, -1000, 0, -273.15]
out = subprocess.run([cangate, "decode", "--dbc", dbc, log], capture_output=True, text=True, check=True).stdout.splitlines()
bad = 0
for (mid, data), line in zip(frames, out):
    m = mid - 0x100
    obj = json.loads(line)
    word_le = int.from_bytes(data, "little")
    word_be = int.from_bytes(data, "big")
    pos = 0
    for s in range(10):
        w = widths[(s + m) % 10]
        if m % 2:
            raw = (word_be >> (64 - pos - w)) & ((1 << w) - 1)
        else:
            raw = (word_le >> pos) & ((1 << w) - 1)
        if s % 3 == 1 and raw >> (w - 1):
            raw -= 1 << w
        want = float(raw) * factors[(s + m) % 6] + offsets[(s * 7 + m) % 6]
        got = obj["sig"]["S%d_%d" % (m, s)]
        if got != want or repr(float(got)) != repr(want):
            bad += 1
        pos += w
sys.exit(1 if bad or len(out) != len(frames) else 0)
EOF
	if [ $? -eq 0 ]; then
		echo "PASS decode/round_trip_values"
		pass=$((pass + 1))
	else
		echo "FAIL decode/round_trip_values"
		fail=$((fail + 1))
	fi
fi

# A file that is not a log (a DBC given as the log): the non-frame lines are counted and the first is named as FILE:LINE;
# a file where no line is a frame is an input error (exit 2). Blank and '#'
# lines are not counted. Mixed in with frames, such lines make exit 1.
printf 'date Sun Dec 6 10:00:00 am 2026\nbase hex  timestamps absolute\n   0.010000 1  123             Rx   d 8 E8 03 FB 0F 35 00 00 00\n' >"$tmp/drive.asc"
"$CANGATE" decode --dbc $FIX/demo.dbc "$tmp/drive.asc" >"$tmp/out" 2>"$tmp/err"
rc=$?
# (a Vector ASC file is read as one: its channel is the bus)
if [ $rc = 0 ] && [ ! -s "$tmp/err" ] && [ "$(wc -l <"$tmp/out")" = 1 ] &&
	grep -q '"bus":"1","id":291,.*"VehSpd":10' "$tmp/out"; then
	echo "PASS decode/asc_is_read"
	pass=$((pass + 1))
else
	echo "FAIL decode/asc_is_read: exit $rc, $(cat "$tmp/out" "$tmp/err")"
	fail=$((fail + 1))
fi
"$CANGATE" decode --dbc $FIX/demo.dbc $FIX/demo.dbc >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && grep -q "^$FIX/demo.dbc:1: [0-9]* lines are not candump -l frames" "$tmp/err"; then
	echo "PASS decode/not_candump_dbc"
	pass=$((pass + 1))
else
	echo "FAIL decode/not_candump_dbc: exit $rc, $(cat "$tmp/err")"
	fail=$((fail + 1))
fi
{ printf '\n# note\n'; cat $FIX/good.log; printf 'garbage here\n'; } >"$tmp/mixed.log"
"$CANGATE" decode --dbc $FIX/demo.dbc "$tmp/mixed.log" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 1 ] && [ "$(wc -l <"$tmp/out")" = "$(wc -l <$FIX/good.log)" ] &&
	[ "$(cat "$tmp/err")" = "$tmp/mixed.log:$(($(wc -l <$FIX/good.log) + 3)): 1 line is not a candump -l frame, the first: \"garbage here\"" ]; then
	echo "PASS decode/not_candump_mixed"
	pass=$((pass + 1))
else
	echo "FAIL decode/not_candump_mixed: exit $rc, $(cat "$tmp/err")"
	fail=$((fail + 1))
fi

echo "test_decode: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
