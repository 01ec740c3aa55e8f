#!/bin/sh
# test_evidence.sh: evidence bundles end to end, on the host (no CAN needed).
#
# - `cangate check --out` over the demo drive writes a bundle that verifies,
#   whose report regenerates byte for byte and parses as the expected HTML
#   (status, verdict table, violations with line ranges, one SVG per
#   violation, no scripts, no external references);
# - every kind of tampering (a byte, a line, a chain line, the manifest
#   header, verdicts, a DBC copy, a truncation) makes verify exit 1 naming
#   the file and block; usage errors and missing bundles exit 2;
# - keygen + sign_key: verify --pubkey accepts the right key, rejects another;
# - frames.log is read by can-utils' log2asc and python-can's
#   CanutilsLogReader (every frame, ids, data, FD, direction), and
#   `cangate export --asc` writes the frame lines log2asc writes;
#   `export --csv` has one row per decoded signal.
#
# Run from anywhere; BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
CANGATE=$ROOT/$BUILD/cangate
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
LOG=configs/vehicles/demo-drive.log

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0

ok() { checks=$((checks + 1)); }
bad() {
	checks=$((checks + 1))
	failures=$((failures + 1))
	echo "FAIL: $*" >&2
}
# expect RC OUTPUT-REGEX CMD...: exit status and a line of stdout+stderr
expect() {
	want_rc=$1 want_re=$2
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want_rc" ]; then
		bad "$*: exit $rc, expected $want_rc: $out"
	elif ! printf '%s\n' "$out" | grep -Eq -- "$want_re"; then
		bad "$*: output lacks /$want_re/: $out"
	else
		ok
	fi
}

[ -x "$CANGATE" ] || { echo "test_evidence: build $CANGATE first" >&2; exit 2; }

# ---------------------------------------------------------------- bundle A
"$CANGATE" check -c configs/demo.ini --out "$tmp/s" "$LOG" >"$tmp/check.out" 2>"$tmp/check.err"
[ $? -le 1 ] || { cat "$tmp/check.err" >&2; echo "test_evidence: check --out failed" >&2; exit 1; }
A=$(ls -d "$tmp"/s/*/ | head -1)
A=${A%/}
[ -f "$A/manifest.json" ] || { echo "test_evidence: no bundle written" >&2; exit 1; }
frames=$(grep -c '^(' "$LOG")

expect 0 "^OK closed: $frames frames in [0-9]+ blocks" "$CANGATE" verify "$A"
expect 0 "identical to the sealed copy" "$CANGATE" report "$A"
expect 0 "^OK closed" "$CANGATE" verify "$A"
expect 0 "wrote $tmp/r.html" "$CANGATE" report "$A" -o "$tmp/r.html"
cmp -s "$tmp/r.html" "$A/report.html" && ok || bad "report -o differs from the sealed report"

# The report's content, parsed.
cat >"$tmp/parse.py" <<'EOF'
import json, sys
from html.parser import HTMLParser

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.tables, self.svgs, self.tags = [], {}, 0, set()
        self.cur_table, self.row, self.cell, self.cls = None, None, None, None
        self.status = ""
        self.in_status = False
        self.refs = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        for k in ("src", "href"):
            if k in a:
                self.refs.append(a[k])
        if tag == "table":
            self.cur_table = a.get("id")
            self.tables[self.cur_table] = []
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell, self.cls = "", a.get("class", "")
        elif tag == "svg":
            self.svgs += 1
        elif a.get("id") == "verification":
            self.in_status = True
    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.row is not None:
            self.row.append((self.cell.strip(), self.cls))
            self.cell = None
        elif tag == "tr" and self.cur_table:
            self.tables[self.cur_table].append(self.row)
            self.row = None
        elif tag == "table":
            self.cur_table = None
        elif tag in ("div", "span"):
            self.in_status = False
    def handle_data(self, d):
        if self.cell is not None:
            self.cell += d
        if self.in_status:
            self.status += d

html, bundle = sys.argv[1], sys.argv[2]
p = P()
p.feed(open(html, encoding="utf-8").read())
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)
check(p.status.startswith("OK closed session"), "status: " + p.status)
check("script" not in p.tags and "img" not in p.tags and "link" not in p.tags,
      "script/img/link tags present")
# links within the report (#rule-...) are fine; nothing outside it
check(not [x for x in p.refs if not x.startswith("#")], "external references: %r" % p.refs)
verdicts = json.load(open(bundle + "/verdicts.json"))["rules"]
rows = p.tables.get("verdicts", [])[1:]
check(len(rows) == len(verdicts), "verdict rows %d, rules %d" % (len(rows), len(verdicts)))
for row, v in zip(rows, verdicts):
    check(row[0][0] == v["rule"], "rule order: %s vs %s" % (row[0][0], v["rule"]))
    check(row[2][0] == v["verdict"], "verdict of %s" % v["rule"])
    want = {"PASS": "pass", "FAIL": "fail", "NOT_EXERCISED": "ne"}.get(v["verdict"], "inc")
    check(want in row[2][1].split(), "colour class of %s: %s" % (v["rule"], row[2][1]))
viol = [json.loads(l) for l in open(bundle + "/violations.jsonl") if l.strip()]
vrows = p.tables.get("violations", [])[1:]
check(len(vrows) == len(viol), "violation rows %d, violations %d" % (len(vrows), len(viol)))
for row, v in zip(vrows, viol):
    check(row[0][0] == v["rule"], "violation rule")
    check(row[6][0] == "%d-%d" % tuple(v["lines"]), "line range %s vs %s" % (row[6][0], v["lines"]))
# one plot zoomed on each violation
check(p.svgs == len(viol) and p.svgs > 0, "svg plots %d, violations %d" % (p.svgs, len(viol)))
session = {r[0][0]: r[1][0] for r in p.tables.get("session", [])}
m = json.load(open(bundle + "/manifest.json"))
check(session.get("VIN") == m["header"]["vin"], "VIN row")
check(session.get("Frames") == str(m["counts"]["frames"]), "Frames row")
if errors:
    print("\n".join(errors))
    sys.exit(1)
print("report OK")
EOF
expect 0 "report OK" "$PY" "$tmp/parse.py" "$A/report.html" "$A"

# ------------------------------------------------------------- tampering
tamper() { # NAME REGEX: copy A to $T, the caller edits $T, then verify
	rm -rf "$tmp/t"
	cp -r "$A" "$tmp/t"
	T=$tmp/t
}
tamper; printf 'X' | dd of="$T/frames.log" bs=1 seek=5000 conv=notrunc 2>/dev/null
expect 1 "FAIL frames.log: block 1 \(lines 1-[0-9]+\) hash mismatch" "$CANGATE" verify "$T"
tamper; sed -i '10000d' "$T/frames.log"
expect 1 "FAIL frames.log: block [0-9]+ \(lines [0-9]+-[0-9]+\) hash mismatch" "$CANGATE" verify "$T"
tamper; sed -i '3d' "$T/frames.chain"
expect 1 "frames.chain: line 3: block seq 4, expected 3" "$CANGATE" verify "$T"
tamper; sed -i 's/"vin": "LDEMOEV0000000042"/"vin": "LDEMOEV0000000043"/' "$T/manifest.json"
expect 1 "manifest.json: header fields edited" "$CANGATE" verify "$T"
tamper; sed -i 's/"verdict":"FAIL"/"verdict":"PASS"/' "$T/verdicts.json"
expect 1 "FAIL manifest.json: sha256 of verdicts.json differs" "$CANGATE" verify "$T"
tamper; sed -i 's/0.01,0/0.02,0/' "$T/config/vehicles/demo-ev.dbc"
expect 1 "config/vehicles/demo-ev.dbc: sha256 differs" "$CANGATE" verify "$T"
tamper; truncate -s 100000 "$T/frames.log"
expect 1 "truncated: file ends at byte 100000" "$CANGATE" verify "$T"
tamper; echo '(1764400300.000000) vehicle 0C4#00 R' >>"$T/frames.log"
expect 1 "after block [0-9]+, line $frames are not covered" "$CANGATE" verify "$T"
tamper; rm "$T/violations.jsonl"
expect 1 "violations.jsonl: missing" "$CANGATE" verify "$T"
expect 2 "usage: cangate verify" "$CANGATE" verify
expect 2 "not an evidence bundle" "$CANGATE" verify "$tmp/nonexistent"
expect 2 "usage: cangate export" "$CANGATE" export "$A"

# ----------------------------------------------------------------- signing
expect 0 "wrote $tmp/k.key" "$CANGATE" keygen -o "$tmp/k"
expect 0 "wrote $tmp/other.key" "$CANGATE" keygen -o "$tmp/other"
expect 2 "exists; not overwriting" "$CANGATE" keygen -o "$tmp/k"
[ "$(stat -c %a "$tmp/k.key")" = 600 ] && ok || bad "k.key mode $(stat -c %a "$tmp/k.key")"

# Bundle B: a synthetic log with every frame kind, both directions, signed.
cat >"$tmp/dbc.dbc" <<'EOF'
VERSION ""

NS_ :

BS_:

BU_: A

BO_ 291 Speed: 8 A
 SG_ VehSpd : 0|16@1+ (0.01,0) [0|655.35] "km/h" A
 SG_ Gear : 16|3@1+ (1,0) [0|7] "" A

BO_ 2566869221 Ext: 2 A
 SG_ Raw : 0|16@1+ (1,0) [0|65535] "" A
EOF
cat >"$tmp/b.ini" <<EOF
[gateway]
name = cli test
[bus a]
interface = vcan0
fd = yes
dbc = dbc.dbc
[bus b]
interface = vcan1
fd = yes
[evidence]
dir = $tmp/sb
vin = VINB
procedure = P-2
block_frames = 7
sign_key = k.key
EOF
"$PY" - "$tmp/b.log" <<'EOF'
import sys
lines = []
t = 1764400000
for i in range(60):
    ts = "(%d.%06d)" % (t + i // 10, (i % 10) * 100000)
    k = i % 6
    d = "R" if i % 4 else "T"
    iface = "vcan1" if i % 5 == 4 else "vcan0"
    if k == 0:
        f = "123#%04X0300000000FF" % ((i * 37) & 0xFFFF)
    elif k == 1:
        f = "18FF50E5#%02X%02X" % (i, 255 - i)
    elif k == 2:
        f = "456##1" + "".join("%02X" % ((i + j) & 0xFF) for j in range(64))
    elif k == 3:
        f = "12345678##3" + "".join("%02X" % j for j in range(12))
    elif k == 4:
        f = "7DF#R"
    else:
        f = "321#"
    lines.append("%s %s %s %s" % (ts, iface, f, d))
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
EOF
[ -x "$BUILD/tools/evidence_mkbundle" ] ||
	{ echo "test_evidence: $BUILD/tools/evidence_mkbundle not built (make cli)" >&2; exit 2; }
cp "$BUILD/tools/evidence_mkbundle" "$tmp/mkbundle"
B=$("$tmp/mkbundle" "$tmp/b.ini" "$tmp/sb" "$tmp/b.log") || { bad "mkbundle B"; B=/nonexistent; }
expect 0 "OK closed: 60 frames in 9 blocks, .*signature OK" "$CANGATE" verify "$B" --pubkey "$tmp/k.pub"
expect 0 "NOTE manifest.sig: signature present, not checked" "$CANGATE" verify "$B"
expect 1 "manifest.sig: signature does not verify with $tmp/other.pub" "$CANGATE" verify "$B" --pubkey "$tmp/other.pub"
cmp -s "$B/frames.log" "$tmp/b.log" && ok || bad "frames.log of B differs from its input log"

# --------------------------------------------------- other tools read it
# python-can reads every frame with the same id, data, FD and direction.
cat >"$tmp/pycan.py" <<'EOF'
import sys, can
path = sys.argv[1]
msgs = list(can.CanutilsLogReader(path))
lines = [l.split() for l in open(path) if l.startswith("(")]
assert len(msgs) == len(lines), (len(msgs), len(lines))
for m, (ts, iface, frame, d) in zip(msgs, lines):
    ident, data = frame.split("#", 1)
    assert m.arbitration_id == int(ident, 16), (m, frame)
    assert m.is_extended_id == (len(ident) == 8), frame
    assert m.channel == iface
    assert m.is_rx == (d == "R"), frame
    assert abs(m.timestamp - float(ts[1:-1])) < 1e-6
    fd = data.startswith("#")
    assert m.is_fd == fd, frame
    if fd:
        data = data[2:]
    if data.startswith("R"):
        assert m.is_remote_frame
        continue
    assert bytes(m.data) == bytes.fromhex(data), frame
print("python-can OK", len(msgs))
EOF
expect 0 "python-can OK 60" "$PY" "$tmp/pycan.py" "$B/frames.log"
expect 0 "python-can OK $frames" "$PY" "$tmp/pycan.py" "$A/frames.log"

# log2asc converts it, and export --asc writes the same frame lines.
if command -v log2asc >/dev/null 2>&1; then
	log2asc -I "$B/frames.log" -O "$tmp/l2a.asc" vcan0 vcan1 2>"$tmp/l2a.err" &&
		ok || bad "log2asc failed: $(cat "$tmp/l2a.err")"
	expect 0 "" "$CANGATE" export "$B" --asc -o "$tmp/b.asc"
	grep -c 'Rx\|Tx' "$tmp/l2a.asc" | grep -qx 60 && ok || bad "log2asc frame lines"
	tail -n +4 "$tmp/l2a.asc" >"$tmp/l2a.frames"
	tail -n +4 "$tmp/b.asc" >"$tmp/b.frames"
	cmp -s "$tmp/l2a.frames" "$tmp/b.frames" && ok ||
		bad "export --asc frame lines differ from log2asc: $(diff "$tmp/l2a.frames" "$tmp/b.frames" | head -5)"
	head -2 "$tmp/b.asc" | grep -q '^base hex  timestamps absolute$' && ok || bad "ASC header"
	log2asc -I "$A/frames.log" -O "$tmp/a.asc" vehicle 2>/dev/null &&
		[ "$(grep -c ' Rx ' "$tmp/a.asc")" -eq "$frames" ] && ok || bad "log2asc on bundle A"
else
	bad "log2asc (can-utils) not installed"
fi

# CSV: a header, then one row per decoded signal, values as the DBC says.
expect 0 "" "$CANGATE" export "$B" --csv -o "$tmp/b.csv"
head -1 "$tmp/b.csv" | grep -qx 't,bus,message,signal,value,unit' && ok || bad "CSV header"
# frame 0: 123#0000 03..: VehSpd 0, Gear 3; frame 6: 123#00DE...: 0xDE00*0.01
grep -qx '1764400000.000000,a,Speed,VehSpd,0,km/h' "$tmp/b.csv" && ok || bad "CSV VehSpd row: $(head -3 "$tmp/b.csv")"
grep -qx '1764400000.000000,a,Speed,Gear,3,' "$tmp/b.csv" && ok || bad "CSV Gear row"
grep -qx '1764400000.600000,a,Speed,VehSpd,568.32,km/h' "$tmp/b.csv" && ok || bad "CSV VehSpd frame 6"
# Speed (2 signals) and Ext (1) frames on vcan0 decode; vcan1 has no DBC
want=$("$PY" -c '
n = 0
for i in range(60):
    k, a = i % 6, i % 5 != 4
    if a and k == 0: n += 2
    if a and k == 1: n += 1
print(n)')
[ "$(($(wc -l <"$tmp/b.csv") - 1))" -eq "$want" ] && ok || bad "CSV rows $(($(wc -l <"$tmp/b.csv") - 1)), expected $want"
expect 0 "" "$CANGATE" export "$A" --csv -o "$tmp/a.csv"
grep -q '^[0-9.]*,vehicle,ESC_Status,VehSpd,[0-9.e+-]*,km/h$' "$tmp/a.csv" && ok || bad "CSV of the demo drive"

echo "test_evidence: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
