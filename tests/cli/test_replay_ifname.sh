#!/bin/sh
# test_replay_ifname.sh: a real candump log taken on can0 replayed into the
# bus "vehicle" is recorded under the bus name (issue 10.5). Before, the
# bundle kept can0: the re-check rejected every frame, export --csv was
# empty and the report had no plots. The live violations must equal the
# re-check of the bundle, and a check of the original can0 log through the
# config that replays it.
# Run from anywhere; BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
CANGATE=$ROOT/$BUILD/cangate
CANGATED=$ROOT/$BUILD/cangated
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_replay_ifname.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0
ok() { echo "PASS replay_ifname/$1"; pass=$((pass + 1)); }
bad() { echo "FAIL replay_ifname/$1: $2"; fail=$((fail + 1)); }

[ -x "$CANGATED" ] || { echo "test_replay_ifname: build $CANGATED first" >&2; exit 1; }

head -n 6000 "$ROOT/configs/vehicles/demo-drive.log" |
	sed 's/ vehicle / can0 /' > "$tmp/can0.log"
mkdir "$tmp/s"
sed -e "s|replay:vehicles/demo-drive.log|replay:$tmp/can0.log|" \
	-e "s|^include = |include = $ROOT/configs/|" \
	-e "s|^dbc = |dbc = $ROOT/configs/|" \
	-e "s|^dir = .*|dir = $tmp/s|" \
	-e "s|^control = .*|control = $tmp/c.sock|" \
	"$ROOT/configs/demo.ini" > "$tmp/gw.ini"
root_flag=
[ "$(id -u)" -eq 0 ] && root_flag=--allow-root
if "$CANGATED" -c "$tmp/gw.ini" -f $root_flag > "$tmp/d.log" 2>&1; then
	ok daemon-ran
else
	bad daemon-ran "cangated failed: $(tail -n 3 "$tmp/d.log")"
fi
b=$(ls -d "$tmp"/s/*/ 2>/dev/null | head -n 1)
if [ -n "$b" ] && awk '$NF == "R" && $2 != "vehicle" { exit 1 }' "$b/frames.log" &&
	[ "$(awk '$NF == "R"' "$b/frames.log" | wc -l)" -eq 6000 ]; then
	ok recorded-under-bus-name
else
	bad recorded-under-bus-name "R lines not all under 'vehicle': $(awk '$NF == "R" { print $2 }' "$b/frames.log" | sort | uniq -c | tr '\n' ' ')"
fi
"$CANGATE" check -c "$b/config/gw.ini" "$b/frames.log" > "$tmp/recheck.jsonl" 2> "$tmp/recheck.err"
if grep -q "rules: [1-9][0-9]* PASS" "$tmp/recheck.err" &&
	cmp -s "$tmp/recheck.jsonl" "$b/violations.jsonl"; then
	ok recheck-equals-live
else
	bad recheck-equals-live "$(tail -n 1 "$tmp/recheck.err"); $(diff "$tmp/recheck.jsonl" "$b/violations.jsonl" | head -n 3)"
fi
"$CANGATE" check -c "$tmp/gw.ini" "$tmp/can0.log" > "$tmp/orig.jsonl" 2> "$tmp/orig.err"
if cmp -s "$tmp/orig.jsonl" "$b/violations.jsonl"; then
	ok check-of-original-log-equals-live
else
	bad check-of-original-log-equals-live "$(diff "$tmp/orig.jsonl" "$b/violations.jsonl" | head -n 3)"
fi
rows=$("$CANGATE" export "$b" --csv 2>/dev/null | wc -l)
if [ "$rows" -gt 1000 ]; then
	ok export-csv-has-signals
else
	bad export-csv-has-signals "$rows CSV lines"
fi

echo "test_replay_ifname: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
