#!/bin/sh
# test_bundle_sources.sh: everything that reads a bundle reads the bundle's
# own copies of the config, its includes and DBCs, never the live files the
# config named. A config names its DBC by absolute path and includes a rule
# pack from outside its directory; after the bundle is recorded, the live
# DBC and rule pack are edited. `check -c B/config/gw.ini B/frames.log`,
# `export --csv` and `report` must give what they gave before the edit.
# Run from anywhere; BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
CANGATE=$(pwd)/$BUILD/cangate
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_bundle_sources.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0
ok() { echo "PASS bundle_sources/$1"; pass=$((pass + 1)); }
bad() { echo "FAIL bundle_sources/$1: $2"; fail=$((fail + 1)); }

[ -x "$CANGATE" ] || { echo "test_bundle_sources: build $CANGATE first" >&2; exit 1; }

mkdir -p "$tmp/rig" "$tmp/packs" "$tmp/cfg"
cat >"$tmp/rig/v.dbc" <<'EOD'
VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 257 ESP: 8 ECU
 SG_ Speed : 0|16@1+ (0.1,0) [0|400] "km/h" ECU
EOD
cat >"$tmp/packs/rules.ini" <<'EOD'
[rule speed-max]
ref = TP-1
kind = range
signal = ESP.Speed
max = 100
EOD
cat >"$tmp/cfg/gw.ini" <<EOD
[gateway]
name = src
include = ../packs/rules.ini
[bus car]
interface = vcan0
dbc = $tmp/rig/v.dbc
[evidence]
dir = $tmp/sessions
EOD
# speed 50.0, 200.0 (violation), 50.0
printf '(1700000000.000000) vcan0 101#F401 R\n(1700000000.100000) vcan0 101#D007 R\n(1700000000.200000) vcan0 101#F401 R\n' >"$tmp/drive.log"
"$CANGATE" check -c "$tmp/cfg/gw.ini" --out "$tmp/sessions" "$tmp/drive.log" >"$tmp/live.out" 2>"$tmp/live.err"
B=$(ls -d "$tmp"/sessions/*/ | head -1)
B=${B%/}
[ -f "$B/manifest.json" ] || { cat "$tmp/live.err"; echo "test_bundle_sources: no bundle" >&2; exit 1; }
grep -q '"rule":"speed-max"' "$tmp/live.out" && ok recorded || bad recorded "$(cat "$tmp/live.out")"
"$CANGATE" export "$B" --csv -o "$tmp/before.csv" 2>/dev/null
cfgcopy=$(ls "$B"/config/*.ini | grep gw.ini | head -1)

# the rig's files change after the session: factor x10, limit 1000
sed -i 's/(0.1,0)/(1,0)/' "$tmp/rig/v.dbc"
sed -i 's/max = 100/max = 1000/' "$tmp/packs/rules.ini"

"$CANGATE" check -c "$cfgcopy" "$B/frames.log" >"$tmp/re.out" 2>"$tmp/re.err"
rc=$?
if [ $rc = 1 ] && cmp -s "$tmp/live.out" "$tmp/re.out"; then
	ok recheck-uses-copies
else
	bad recheck-uses-copies "rc $rc; live: $(cat "$tmp/live.out"); re-check: $(cat "$tmp/re.out") $(head -3 "$tmp/re.err")"
fi
"$CANGATE" export "$B" --csv -o "$tmp/after.csv" 2>"$tmp/x.err"
if cmp -s "$tmp/before.csv" "$tmp/after.csv"; then
	ok export-uses-copies
else
	bad export-uses-copies "$(diff "$tmp/before.csv" "$tmp/after.csv" | head -4)"
fi
"$CANGATE" report "$B" >"$tmp/rep.out" 2>&1
rc=$?
[ $rc = 0 ] && ok report-uses-copies || bad report-uses-copies "rc $rc: $(head -3 "$tmp/rep.out")"

# a copy that is gone is an error naming it, not a silent fall-back to the
# live file
rm "$B/config/v.dbc" 2>/dev/null || rm "$(ls "$B"/config/*.dbc | head -1)"
"$CANGATE" check -c "$cfgcopy" "$B/frames.log" >/dev/null 2>"$tmp/gone.err"
rc=$?
if [ $rc = 2 ] && grep -q "v.dbc" "$tmp/gone.err"; then
	ok missing-copy-is-an-error
else
	bad missing-copy-is-an-error "rc $rc: $(cat "$tmp/gone.err")"
fi

echo "test_bundle_sources: $pass passed, $fail failed"
[ "$fail" = 0 ]
