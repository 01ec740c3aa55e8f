#!/bin/sh
# test_session_restart.sh: a session started mid-run starts its rules fresh
# at its first frame (issue 10.4). A replay bus plays 4 s of a speed signal
# in real time; the speed is over the limit from 1.0 s to 3.0 s. The first
# session is stopped at about 0.5 s and a second one started at about 1.5 s,
# while the violation is already open. Before, the second bundle's
# violation began before its session, with "lines":[0,...], and `cangate
# check --end` of that bundle disagreed. Now its violations are
# byte-identical to the re-check.
# Run from anywhere; BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
CANGATE=$ROOT/$BUILD/cangate
CANGATED=$ROOT/$BUILD/cangated
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_session_restart.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0
ok() { echo "PASS session_restart/$1"; pass=$((pass + 1)); }
bad() { echo "FAIL session_restart/$1: $2"; fail=$((fail + 1)); }

[ -x "$CANGATED" ] || { echo "test_session_restart: build $CANGATED first" >&2; exit 1; }

cat > "$tmp/v.dbc" <<'EOD'
VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 257 ESP: 8 ECU
 SG_ Speed : 0|16@1+ (0.1,0) [0|400] "km/h" ECU
EOD
# 10 ms frames for 4 s; 120 km/h from 1.0 s to 3.0 s, else 50
awk 'BEGIN {
	for (i = 0; i < 400; i++) {
		v = (i >= 100 && i < 300) ? 1200 : 500
		printf "(%.6f) vehicle 101#%02X%02X000000000000\n", 1700000000 + i * 0.01, v % 256, int(v / 256)
	}
}' > "$tmp/drive.log"
mkdir "$tmp/s"
cat > "$tmp/gw.ini" <<EOD
[gateway]
name = restart
control = $tmp/c.sock
exit_on_replay_end = yes
[bus vehicle]
interface = replay:$tmp/drive.log,speed=1
dbc = $tmp/v.dbc
[rule speed-max]
ref = TP-1
kind = range
signal = ESP.Speed
max = 100
[evidence]
dir = $tmp/s
procedure = restart
EOD
root_flag=
[ "$(id -u)" -eq 0 ] && root_flag=--allow-root
"$CANGATED" -c "$tmp/gw.ini" -f $root_flag > "$tmp/d.log" 2>&1 &
pid=$!
i=0
while [ ! -S "$tmp/c.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.4
"$CANGATE" session -s "$tmp/c.sock" stop > /dev/null 2>&1 || bad stop "session stop failed"
sleep 1
"$CANGATE" session -s "$tmp/c.sock" start > /dev/null 2>&1 || bad start "session start failed"
wait "$pid"
pid=
n=$(ls -d "$tmp"/s/*/ 2>/dev/null | wc -l)
if [ "$n" -eq 2 ]; then ok two-bundles; else bad two-bundles "$n bundles"; fi
b=$(ls -d "$tmp"/s/*/ | sort | tail -n 1)
first=$(awk '{ print substr($1, 2, length($1) - 2); exit }' "$b/frames.log")
if [ -s "$b/violations.jsonl" ] &&
	! grep -q '"lines":\[0,' "$b/violations.jsonl" &&
	awk -v f="$first" '{ match($0, /"t_start":[0-9.]+/); t = substr($0, RSTART + 10, RLENGTH - 10); if (t + 0 < f + 0) exit 1 }' "$b/violations.jsonl"; then
	ok fresh-rules
else
	bad fresh-rules "first frame $first; $(head -c 300 "$b/violations.jsonl")"
fi
end_ns=$(sed -n 's/.*"end_ns": *\([0-9]*\).*/\1/p' "$b/manifest.json")
end=$(echo "$end_ns" | sed 's/\(.*\)\(.........\)$/\1.\2/')
"$CANGATE" check --end "$end" -c "$b/config/gw.ini" "$b/frames.log" > "$tmp/check.jsonl" 2>/dev/null
if cmp -s "$tmp/check.jsonl" "$b/violations.jsonl"; then
	ok recheck-equals-live
else
	bad recheck-equals-live "$(diff "$tmp/check.jsonl" "$b/violations.jsonl" | head -n 4)"
fi

echo "test_session_restart: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
