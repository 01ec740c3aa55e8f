#!/bin/sh
# test_reload.sh: SIGHUP reloads parse beside the loop and keep every bundle
# re-checkable (issue 10.1), without CAN: a replay bus plays 6 s of a speed
# signal in real time, over the limit from 1.0 s to 7.0 s. At about 1.5 s,
# while that violation is open, the config gains a large DBC and gets a HUP;
# a second HUP with another edit follows during the parse.
#  - the control socket answers while the parse runs (the loop is free);
#  - the second HUP is remembered: one more parse once the first is
#    installed, and the newest config is the last installed;
#  - each reload closes the session and opens the next under the new
#    config: every bundle's violations equal `cangate check --end` of it
#    byte for byte, and together they hold every frame;
#  - TERM during a parse exits at once, abandoning the parse.
# Run from anywhere; BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
CANGATE=$ROOT/$BUILD/cangate
CANGATED=$ROOT/$BUILD/cangated
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_reload.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0
ok() { echo "PASS reload/$1"; pass=$((pass + 1)); }
bad() { echo "FAIL reload/$1: $2"; fail=$((fail + 1)); }

[ -x "$CANGATED" ] || { echo "test_reload: build $CANGATED first" >&2; exit 1; }

cat > "$tmp/v.dbc" <<'EOD'
VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 257 ESP: 8 ECU
 SG_ Speed : 0|16@1+ (0.1,0) [0|400] "km/h" ECU
EOD
# 10000 messages of 8 signals (5 MB): a parse of a good part of a second
awk -v n=10000 -f tests/tools/big-dbc.awk > "$tmp/big.dbc"
# 10 ms frames for 8 s; 120 km/h from 1.0 s to 7.0 s, else 50
awk 'BEGIN {
	for (i = 0; i < 800; i++) {
		v = (i >= 100 && i < 700) ? 1200 : 500
		printf "(%.6f) vehicle 101#%02X%02X000000000000\n", 1700000000 + i * 0.01, v % 256, int(v / 256)
	}
}' > "$tmp/drive.log"
# conf PROCEDURE [RIG_DBC] [EXIT_ON_END]
conf() {
	cat <<EOD
[gateway]
name = reload
control = $tmp/c.sock
exit_on_replay_end = ${3:-yes}
[bus vehicle]
interface = replay:$tmp/drive.log,speed=1
dbc = $tmp/v.dbc
[bus rig]
interface = null
${2:+dbc = $2}
[route r]
from = vehicle
to = rig
[rule speed-max]
ref = TP-1
kind = range
signal = ESP.Speed
max = 100
[evidence]
dir = $tmp/s
procedure = $1
EOD
}
root_flag=
[ "$(id -u)" -eq 0 ] && root_flag=--allow-root
wait_sock() {
	i=0
	while [ ! -S "$tmp/c.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}

mkdir "$tmp/s"
conf first > "$tmp/gw.ini"
"$CANGATED" -c "$tmp/gw.ini" -f $root_flag > "$tmp/d.log" 2>&1 &
pid=$!
wait_sock
sleep 1.4
conf second "$tmp/big.dbc" > "$tmp/gw.ini"
kill -HUP "$pid"
sleep 0.05
if "$CANGATE" status -s "$tmp/c.sock" > /dev/null 2>&1 && ! grep -q reloaded "$tmp/d.log"; then
	ok loop-free-during-parse
else
	bad loop-free-during-parse "no status answer before the reload ended"
fi
conf third "$tmp/big.dbc" > "$tmp/gw.ini"
kill -HUP "$pid"
wait "$pid"
pid=
if grep -q 'received SIGHUP during a reload' "$tmp/d.log" &&
	[ "$(grep -c 'reloaded' "$tmp/d.log")" -eq 2 ]; then
	ok second-hup-parsed-after
else
	bad second-hup-parsed-after "$(grep -i reload "$tmp/d.log")"
fi
n=$(ls -d "$tmp"/s/*/ 2>/dev/null | wc -l)
last=$(grep -l '"procedure": "third"' "$tmp"/s/*/manifest.json 2>/dev/null)
if [ "$n" -eq 3 ] && [ -n "$last" ] && [ ! -e "$(dirname "$last")/.reserve" ] &&
	! grep -q next_session "$(dirname "$last")/events.jsonl"; then
	ok newest-config-wins
else
	bad newest-config-wins "$n bundles: $(ls "$tmp/s")"
fi
rx=0
for b in "$tmp"/s/*/; do
	b=${b%/}
	rx=$((rx + $(awk '$NF == "R"' "$b/frames.log" | wc -l)))
	end_ns=$(sed -n 's/.*"end_ns": *\([0-9]*\).*/\1/p' "$b/manifest.json")
	end=$(echo "$end_ns" | sed 's/\(.*\)\(.........\)$/\1.\2/')
	"$CANGATE" check --end "$end" -c "$b/config/gw.ini" "$b/frames.log" > "$tmp/check.jsonl" 2> /dev/null
	if [ -s "$b/violations.jsonl" ] && cmp -s "$tmp/check.jsonl" "$b/violations.jsonl"; then
		ok "live-equals-check-$(basename "$b" | sed 's/.*_//')"
	else
		bad "live-equals-check-$(basename "$b")" "$(diff "$tmp/check.jsonl" "$b/violations.jsonl" | head -n 4)"
	fi
done
if [ "$rx" -eq 800 ]; then ok no-frame-lost; else bad no-frame-lost "$rx R lines of 800"; fi

# TERM during a parse
rm -rf "$tmp/s" && mkdir "$tmp/s"
conf first "" no > "$tmp/gw.ini"
"$CANGATED" -c "$tmp/gw.ini" -f $root_flag > "$tmp/d2.log" 2>&1 &
pid=$!
wait_sock
conf second "$tmp/big.dbc" no > "$tmp/gw.ini"
kill -HUP "$pid"
sleep 0.05
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
	bad term-during-parse "still running 5 s after TERM"
else
	wait "$pid"
	rc=$?
	b=$(ls -d "$tmp"/s/*/)
	if [ "$rc" -eq 0 ] && grep -q 'its parse is abandoned' "$tmp/d2.log" &&
		"$CANGATE" verify "$b" > /dev/null 2>&1; then
		ok term-during-parse
	else
		bad term-during-parse "exit $rc; $(tail -n 3 "$tmp/d2.log")"
	fi
fi
pid=

echo "test_reload: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
