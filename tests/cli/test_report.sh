#!/bin/sh
# tests/cli/test_report.sh: the report a reviewer signs off on.
#
# Over the demo drive's bundle: the compliance summary comes first (result,
# procedure, VIN, packs, verdict counts, each FAIL listed), then integrity
# (verification, signature, clock, live or replayed, software), then one
# section per rule with its expressions as written and one zoomed plot per
# violation with its limits, enumerated signals on rows of their own and
# markers as lines; a print stylesheet for A4.
# `cangate report --pdf` prints it with headless Chromium: when Chromium is
# installed, the PDF is checked (A4 pages) and the page as Chromium renders
# it is read back (--dump-dom) in order; without Chromium, --pdf must fail
# with its clear message (and the test says that it did not render).
#
# Run from anywhere; BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
CANGATE=$ROOT/$BUILD/cangate
PY=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_report.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0

ok() { echo "PASS report/$1"; pass=$((pass + 1)); }
bad() { echo "FAIL report/$1: $2"; fail=$((fail + 1)); }

(cd configs && "$CANGATE" check -c demo.ini --out "$tmp/b" vehicles/demo-drive.log >/dev/null 2>&1)
B=$(ls -d "$tmp"/b/*)
[ -f "$B/report.html" ] || { echo "FAIL report: no bundle"; exit 1; }

# A copy with a marker inside the DRL violation's window (the copy no longer
# verifies; its report is still written, exit 1).
cp -r "$B" "$tmp/m"
echo '{"t":1764400136.500000,"type":"mark","text":"driver door opened","uid":0}' >>"$tmp/m/events.jsonl"
"$CANGATE" report "$tmp/m" -o "$tmp/m.html" 2>/dev/null
[ $? = 1 ] || bad marker-report-exit "expected 1 (the copy does not verify)"

# The report's structure, parsed (sections in order, tables, plots).
cat >"$tmp/parse.py" <<'EOF'
import json, re, sys
from html.parser import HTMLParser

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.ids, self.svgs, self.enum_rows, self.markers = [], [], [], 0, []
        self.tables, self.cur, self.row, self.cell, self.in_svg = {}, None, None, None, 0
        self.in_marker = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "svg":
            self.in_svg += 1
            self.svgs.append({"limits": 0, "enum": 0, "marks": []})
        if tag == "line" and a.get("class") == "limit":
            self.svgs[-1]["limits"] += 1
        if tag == "g" and a.get("class") == "enum":
            self.svgs[-1]["enum"] += 1
        if tag == "g" and a.get("class") == "marker":
            self.in_marker = True
        if tag == "table":
            self.cur = a.get("id")
            self.tables[self.cur] = []
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = ""
    def handle_endtag(self, tag):
        if tag == "svg":
            self.in_svg -= 1
        if tag == "g":
            self.in_marker = False
        if tag in ("td", "th") and self.row is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.cur:
            self.tables[self.cur].append(self.row)
        elif tag == "table":
            self.cur = None
    def handle_data(self, d):
        if self.cell is not None:
            self.cell += d
        if self.in_marker:
            self.svgs[-1]["marks"].append(d)
        if not self.in_svg:
            self.text.append(d)

html, bundle, marked = sys.argv[1:4]
p = P()
p.feed(open(html, encoding="utf-8").read())
text = " ".join(" ".join(p.text).split())
errs = []
def check(c, m):
    if not c:
        errs.append(m)
# sections in the order a reviewer reads them
order = [text.find(s) for s in ("Compliance summary", "Integrity", "Session details", "Rules", "Violation index (", "Events (")]
check(-1 not in order and order == sorted(order), "section order %r" % order)
check(p.ids.index("summary") < p.ids.index("integrity") < p.ids.index("rules"), "ids order")
verdicts = json.load(open(bundle + "/verdicts.json"))["rules"]
names = ["PASS", "FAIL", "NOT_EXERCISED", "INCONCLUSIVE"]
want = [str(sum(v["verdict"] == n for v in verdicts)) for n in names] + [str(len(verdicts))]
result = "FAIL" if want[1] != "0" else "INCONCLUSIVE" if want[3] != "0" else "PASS"
check(re.search(r"Compliance summary %s Procedure DEMO-CMVSS-01 VIN LDEMOEV0000000042 Rule packs .*cmvss-101\.ini" % result, text), "summary head: " + text[text.find("Compliance summary"):][:300])
counts = p.tables["counts"]
check(counts[0][:4] == names and counts[1] == want, "counts %r, want %r" % (counts, want))
for v in verdicts:
    if v["verdict"] == "FAIL":
        check("%s FAIL %s" % (v["rule"], v["ref"]) in text, "FAIL list: " + v["rule"])
integ = {r[0]: r[1] for r in p.tables["integrity"]}
frames = json.load(open(bundle + "/manifest.json"))["counts"]["frames"]
check(marked == "marked" or integ["Verification"].startswith("OK closed session: %d frames" % frames), "verification %r" % integ.get("Verification"))
check(integ["Signature"].startswith("NOT signed"), "signature")
check(integ["Clock"].startswith("NOT synchronised"), "clock")
check(integ["Session"] == "REPLAYED from recorded logs: bus vehicle", "session %r" % integ.get("Session"))
check(integ["Software"].startswith("cangate "), "software")
# each violated rule as written (its expect), one plot per violation
viol = [json.loads(l) for l in open(bundle + "/violations.jsonl")]
for v in viol:
    if v["msg"].startswith("expect false: "):
        check("expect " + v["msg"][len("expect false: "):] in text, "rule as written: " + v["rule"])
check(len(p.svgs) == len(viol) >= 2, "plots %d, violations %d" % (len(p.svgs), len(viol)))
# the demo's violations: one on enumerated signals (DRL, gear, ...: rows
# of labelled steps), one on numeric speeds
check(any(s["enum"] >= 2 for s in p.svgs), "no plot with enumerated rows %r" % p.svgs)
check(any(s["enum"] == 0 for s in p.svgs), "no numeric plot")
if marked == "marked":
    check([s["marks"] for s in p.svgs if s["marks"]] == [["driver door opened"]], "marker %r" % [s["marks"] for s in p.svgs])
print("\n".join(errs) or "ok")
sys.exit(1 if errs else 0)
EOF
if out=$("$PY" "$tmp/parse.py" "$B/report.html" "$B" plain 2>&1); then
	ok structure
else
	bad structure "$out"
fi
if out=$("$PY" "$tmp/parse.py" "$tmp/m.html" "$B" marked 2>&1); then
	ok marker
else
	bad marker "$out"
fi

# limits drawn in a zoomed plot: a range rule violated on purpose
mkdir -p "$tmp/r"
cp -r configs/vehicles "$tmp/r/"
cat >"$tmp/r/c.ini" <<'EOF'
[gateway]
name = t
include = vehicles/demo-ev.ini
[bus vehicle]
interface = vehicle
dbc = vehicles/demo-ev.dbc
[rule speed-cap]
ref = TP-1
kind = range
signal = ESC_Status.VehSpd
min = 0
max = 100
EOF
"$CANGATE" check -c "$tmp/r/c.ini" --out "$tmp/r/b" configs/vehicles/demo-drive.log >/dev/null 2>&1
R=$(ls -d "$tmp"/r/b/*)
n=$(grep -c '<svg' "$R/report.html")
lim=$(grep -c 'class="limit"' "$R/report.html")
if [ "$n" -ge 1 ] && [ "$lim" = $((2 * n)) ] && grep -q '>max 100</text>' "$R/report.html"; then
	ok limits
else
	bad limits "$n plots, $lim limit lines"
fi

# the print stylesheet: A4 pages
if grep -q '@media print{@page{size:A4' "$B/report.html"; then ok print-css; else bad print-css "no @page A4"; fi

# --pdf with headless Chromium
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
	command -v google-chrome >/dev/null 2>&1; then
	"$CANGATE" report "$B" --pdf -o "$tmp/r.pdf" 2>"$tmp/err"
	rc=$?
	pages=$(grep -a -c '/Type /Page\b' "$tmp/r.pdf" 2>/dev/null)
	a4=$(grep -a -c 'MediaBox \[0 0 59[45]\.[0-9]* 84[12]\.[0-9]*\]' "$tmp/r.pdf" 2>/dev/null)
	if [ $rc = 0 ] && head -c 5 "$tmp/r.pdf" | grep -q '%PDF-' && [ "$pages" -ge 5 ] && [ "$a4" = "$pages" ]; then
		ok "pdf ($pages A4 pages)"
	else
		bad pdf "rc $rc, $pages pages, $a4 A4: $(cat "$tmp/err")"
	fi
	# the page as Chromium renders it, read back: summary first
	chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
	cp "$B/report.html" "$tmp/r.html"
	timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$tmp/profile" --dump-dom "file://$tmp/r.html" >"$tmp/dom.html" 2>/dev/null
	if out=$("$PY" "$tmp/parse.py" "$tmp/dom.html" "$B" plain 2>&1); then
		ok chromium-rendered
	else
		bad chromium-rendered "$out"
	fi
	# the bundle is not touched
	"$CANGATE" verify "$B" >/dev/null 2>&1 && ok pdf-bundle-untouched || bad pdf-bundle-untouched "verify fails"
else
	echo "NOTE report: Chromium is not installed: the PDF was NOT rendered (apt-get install chromium to run that part)"
	"$CANGATE" report "$B" --pdf -o "$tmp/r.pdf" 2>"$tmp/err"
	rc=$?
	if [ $rc = 2 ] && grep -q "needs Chromium" "$tmp/err" && [ ! -e "$tmp/r.pdf" ]; then
		ok pdf-without-chromium
	else
		bad pdf-without-chromium "rc $rc: $(cat "$tmp/err")"
	fi
fi
# a Chromium that fails is reported with what it said
CANGATE_CHROMIUM=/bin/false "$CANGATE" report "$B" --pdf -o "$tmp/x.pdf" 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && grep -q "did not print" "$tmp/err"; then ok pdf-chromium-fails; else bad pdf-chromium-fails "rc $rc: $(cat "$tmp/err")"; fi

echo "test_report: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
