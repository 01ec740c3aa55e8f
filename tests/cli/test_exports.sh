#!/bin/sh
# tests/cli/test_exports.sh: every `cangate export` format is read by
# python-can (ASC, BLF) or Python's csv module (CSV, wide CSV) and holds the
# bundle's frames and values; ASC and BLF exports read back by cangate give
# the bundle's frames exactly (times to the microsecond).
#
# Run from anywhere; BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
CANGATE=$ROOT/$BUILD/cangate
PY=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_exports.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0
export TZ=America/Toronto

ok() { echo "PASS exports/$1"; pass=$((pass + 1)); }
bad() { echo "FAIL exports/$1: $2"; fail=$((fail + 1)); }

if [ ! -x "$CANGATE" ] || ! "$PY" -c 'import can' 2>/dev/null; then
	echo "FAIL exports: $CANGATE not built or python3-can missing"
	exit 1
fi

# A bundle with every kind of frame on two buses, times off the millisecond.
cp tests/fixtures/decode/demo.dbc "$tmp/"
cat >"$tmp/c.ini" <<'EOF'
[gateway]
name = t
[bus car]
interface = can0
fd = yes
dbc = demo.dbc
[bus rig]
interface = can1
fd = yes
[evidence]
procedure = EXP
EOF
cat >"$tmp/k.log" <<'EOF'
(1700000000.000733) can0 123#E803FB0F35000000
(1700000000.000980) can1 18FEF100#DEADBEEF
(1700000000.001000) can0 7FF#R
(1700000000.002000) can0 200#0001
(1700000000.003000) can1 1A0##1000102030405060708090A0B
(1700000000.004000) can0 400##5000048410000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000A5
(1700000000.250000) can0 123#D007FB0F35000000
(1700000000.260000) can0 200#0142
(1700000000.460000) can0 123#E803FB0F35000000 T
EOF
"$CANGATE" check -c "$tmp/c.ini" --out "$tmp/b" "$tmp/k.log" >/dev/null 2>&1
B=$(ls -d "$tmp"/b/*)
[ -f "$B/frames.log" ] || { echo "FAIL exports: no bundle"; exit 1; }

for f in asc blf csv; do
	"$CANGATE" export "$B" --$f -o "$tmp/e.$f" 2>"$tmp/err.$f" || bad "export-$f" "$(cat "$tmp/err.$f")"
done
"$CANGATE" export "$B" --csv --choices -o "$tmp/choices.csv" || bad export-choices "rc $?"
"$CANGATE" export "$B" --wide --step 100 -o "$tmp/wide.csv" || bad export-wide "rc $?"
"$CANGATE" export "$B" --wide --step 100 --choices -o "$tmp/widec.csv" || bad export-wide-choices "rc $?"

# 1. python-can reads ASC and BLF: every frame, as frames.log has it
"$PY" - "$B/frames.log" "$tmp/e.asc" "$tmp/e.blf" >"$tmp/py.out" 2>&1 <<'EOF'
import sys, can
want = list(can.CanutilsLogReader(sys.argv[1]))
chan = {"can0": 0, "can1": 1}   # python-can numbers channels from 0
bad = 0
for path, reader in ((sys.argv[2], can.ASCReader(sys.argv[2], relative_timestamp=False)),
                     (sys.argv[3], can.BLFReader(sys.argv[3]))):
    got = list(reader)
    if len(got) != len(want):
        print(path, "has", len(got), "frames, want", len(want)); bad += 1; continue
    for w, g in zip(want, got):
        same = (w.arbitration_id == g.arbitration_id and
                w.is_extended_id == g.is_extended_id and
                w.is_fd == g.is_fd and w.is_remote_frame == g.is_remote_frame and
                (w.is_remote_frame or bytes(w.data) == bytes(g.data)) and
                w.is_rx == g.is_rx and chan[w.channel] == g.channel and
                abs(w.timestamp - g.timestamp) < 2e-6)
        if not same:
            print(path, "differs:\n ", w, "\n ", g); bad += 1; break
print("frames", len(want))
sys.exit(1 if bad else 0)
EOF
if [ $? = 0 ] && grep -qx "frames 9" "$tmp/py.out"; then
	ok python-can-reads-asc-and-blf
else
	bad python-can-reads-asc-and-blf "$(cat "$tmp/py.out")"
fi

# 2. cangate reads its own ASC and BLF back to the bundle's frames exactly
"$CANGATE" decode --all --dbc "$tmp/demo.dbc" "$B/frames.log" >"$tmp/d.log"
for f in asc blf; do
	"$CANGATE" decode --all --dbc "$tmp/demo.dbc" "$tmp/e.$f" |
		sed -e 's/"bus":"1"/"bus":"can0"/' -e 's/"bus":"2"/"bus":"can1"/' >"$tmp/d.$f"
	if [ "$(wc -l <"$tmp/d.log")" = 9 ] && cmp -s "$tmp/d.log" "$tmp/d.$f"; then
		ok "round-trip-$f"
	else
		bad "round-trip-$f" "$(diff "$tmp/d.log" "$tmp/d.$f" | head -6)"
	fi
done

# 3. the CSVs parse; --choices names values; --wide holds the last value
"$PY" - "$tmp/e.csv" "$tmp/choices.csv" "$tmp/wide.csv" "$tmp/widec.csv" >"$tmp/py.out" 2>&1 <<'EOF'
import sys, csv
def rows(p):
    with open(p, newline="") as f:
        return list(csv.reader(f))
long, choices, wide, widec = (rows(p) for p in sys.argv[1:5])
errs = []
if long[0] != ["t", "bus", "message", "signal", "value", "unit"]:
    errs.append("csv header %r" % long[0])
speeds = [r[4] for r in long[1:] if r[3] == "VehSpd"]
if speeds != ["10", "20", "10"]:   # the last one is the gateway's own (T)
    errs.append("VehSpd rows %r" % speeds)
gears = [r[4] for r in choices[1:] if r[3] == "Gear"]
if not gears or not all(g in ("P", "R", "N", "D") for g in gears):
    errs.append("choices Gear %r" % gears)
head = wide[0]
if head[0] != "t" or "ESP_21.VehSpd" not in head:
    errs.append("wide header %r" % head)
ts = [r[0] for r in wide[1:]]
want_ts = ["1700000000.%06d" % (733 + 100000 * k) for k in range(5)]
if ts != want_ts:
    errs.append("wide times %r" % ts)
v = head.index("ESP_21.VehSpd")
if [r[v] for r in wide[1:]] != ["10", "10", "10", "20", "20"]:
    errs.append("wide VehSpd %r" % [r[v] for r in wide[1:]])
g = widec[0].index("ESP_21.Gear")
if [r[g] for r in widec[1:]] != ["P"] * 5:
    errs.append("wide choices Gear %r" % [r[g] for r in widec[1:]])
print("\n".join(errs) or "ok")
sys.exit(1 if errs else 0)
EOF
if [ $? = 0 ]; then
	ok csv-choices-wide
else
	bad csv-choices-wide "$(cat "$tmp/py.out"; head -3 "$tmp/wide.csv")"
fi

# 4. usage: BLF needs a file; --choices and --step go with their formats
"$CANGATE" export "$B" --blf 2>"$tmp/err" | cat >/dev/null
if grep -q "give a file" "$tmp/err"; then ok blf-needs-file; else bad blf-needs-file "$(cat "$tmp/err")"; fi
"$CANGATE" export "$B" --asc --choices >/dev/null 2>"$tmp/err"
rc=$?
"$CANGATE" export "$B" --csv --step 5 >/dev/null 2>>"$tmp/err"
rc2=$?
"$CANGATE" export "$B" --wide --step 0 >/dev/null 2>>"$tmp/err"
rc3=$?
if [ $rc = 2 ] && [ $rc2 = 2 ] && [ $rc3 = 2 ] && grep -q "choices goes with" "$tmp/err" &&
	grep -q "step goes with" "$tmp/err" && grep -q "step needs" "$tmp/err"; then
	ok usage
else
	bad usage "rc $rc $rc2 $rc3: $(cat "$tmp/err")"
fi

echo "test_exports: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
