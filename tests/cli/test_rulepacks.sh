#!/bin/sh
# test_rulepacks.sh: the demo vehicle, its drive log and the rule packs.
#
# - the committed drive log is exactly what scripts/gen-drive writes, < 3 MB;
# - every pack has its header (what it checks, what CAN cannot check, the
#   clauses), every rule a ref and a description labelled functional/proxy,
#   and packs name only aliases (no Message.Signal), so they stay
#   vehicle-independent;
# - `cangate check -c configs/demo.ini` over the drive exits 1 and prints
#   exactly the verdicts in configs/vehicles/demo-expected-verdicts.txt,
#   with violations for the FAIL rules and no others;
# - the live daemon replaying the same drive writes the same verdicts, and
#   checking its bundle's frames.log offline gives byte-identical
#   violations (DESIGN.md: live and offline agree);
# - the UN R138 option of CMVSS 141 passes on the same drive, each pack
#   compiles alone against the vehicle's aliases, and a pack naming an
#   unknown alias is rejected with its file and line.
#
# Run from anywhere; BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
CANGATE=$ROOT/$BUILD/cangate
CANGATED=$ROOT/$BUILD/cangated
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
LOG=configs/vehicles/demo-drive.log
EXPECTED=configs/vehicles/demo-expected-verdicts.txt

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=0
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; failed=$((failed + 1)); }

for b in "$CANGATE" "$CANGATED"; do
	if [ ! -x "$b" ]; then
		echo "test_rulepacks: $b not built (make first)" >&2
		exit 1
	fi
done

# --------------------------------------------------------- the drive log
if "$PY" scripts/gen-drive --check; then
	ok "committed $LOG equals scripts/gen-drive output"
else
	not_ok "committed $LOG differs from scripts/gen-drive output"
fi
size=$(wc -c < "$LOG")
if [ "$size" -gt 0 ] && [ "$size" -lt 3000000 ]; then
	ok "drive log is $size bytes (< 3 MB)"
else
	not_ok "drive log is $size bytes (want 1..3000000)"
fi

# ---------------------------------------------------------- pack content
for f in configs/rules/*.ini; do
	head -1 "$f" | grep -q '^; ' || not_ok "$f: does not start with a comment block"
	for word in 'What it checks' 'cannot check' 'Clauses'; do
		# header = the leading comment lines
		sed -n '/^[^;]/q;p' "$f" | grep -q "$word" ||
			{ not_ok "$f: header lacks \"$word\""; continue 2; }
	done
	bad=$(awk -v f="$f" '
		function done_rule() {
			if (rule != "" && !ref) print f ": [rule " rule "] has no ref"
			if (rule != "" && !desc) print f ": [rule " rule "] has no description labelled functional: or proxy:"
		}
		/^\[rule / { done_rule(); rule = $2; sub(/\]$/, "", rule); ref = 0; desc = 0; next }
		/^\[/ { done_rule(); rule = ""; next }
		/^ref *= *[^ ]/ { ref = 1 }
		/^description *= *(functional|proxy):/ { desc = 1 }
		END { done_rule() }' "$f")
	# Message.Signal outside strings in expression keys: packs use aliases only
	dotted=$(grep -nE '^(when|expect|trigger|signal|allowed|clock|message) *=' "$f" |
		sed 's/"[^"]*"//g' |
		grep -E '(^|[^A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_]' || true)
	if [ -n "$bad" ]; then
		not_ok "$bad"
	elif [ -n "$dotted" ]; then
		not_ok "$f names DBC signals, not aliases: $dotted"
	else
		ok "$f: header, refs, labelled descriptions, aliases only"
	fi
done
for f in configs/rules/unr39-speedometer.ini configs/rules/fmvss138-tpms.ini; do
	if sed -n '/^[^;]/q;p' "$f" | grep -q 'NOT a Canadian requirement' &&
	   ! grep '^ref' "$f" | grep -vq 'not a Canadian requirement'; then
		ok "$f is marked informative (header and every ref)"
	else
		not_ok "$f is not marked as NOT a Canadian requirement everywhere"
	fi
done

# ------------------------------------------------ cangate check, the demo
"$CANGATE" check -c configs/demo.ini "$LOG" > "$tmp/viol.jsonl" 2> "$tmp/table.txt"
rc=$?
if [ "$rc" -eq 1 ]; then
	ok "cangate check exits 1 (some rules FAIL)"
else
	not_ok "cangate check exit code $rc, want 1"
	sed 's/^/# /' "$tmp/table.txt" | head -20
fi
# The table: a RULE header, one row per rule (name kind verdict ...), a
# summary line "N rules: ...".
awk '/^RULE /{t=1; next} / rules: /{t=0} t && NF >= 3 {print $1, $3}' \
	"$tmp/table.txt" > "$tmp/got.txt"
grep -v '^#' "$EXPECTED" > "$tmp/want.txt"
if cmp -s "$tmp/got.txt" "$tmp/want.txt"; then
	ok "verdict table equals $EXPECTED ($(wc -l < "$tmp/want.txt") rules)"
else
	not_ok "verdict table differs from $EXPECTED:"
	diff "$tmp/want.txt" "$tmp/got.txt" | sed 's/^/# /'
fi
nx=$(grep -c ' NOT_EXERCISED$' "$tmp/want.txt")
nf=$(awk '$2 == "FAIL"' "$tmp/want.txt" | wc -l)
np=$(grep -c ' PASS$' "$tmp/want.txt")
if [ "$nx" -eq 1 ] && [ "$nf" -ge 2 ] && [ "$np" -gt 0 ]; then
	ok "the demo shows PASS ($np), FAIL ($nf) and exactly one NOT_EXERCISED"
else
	not_ok "expected verdicts: $np PASS, $nf FAIL, $nx NOT_EXERCISED"
fi
# violations on stdout name exactly the FAIL rules
"$PY" - "$tmp/viol.jsonl" "$tmp/want.txt" <<'EOF' && ok "violations on stdout: one rule set with the FAIL verdicts, each line complete" || not_ok "violations on stdout do not match the FAIL verdicts"
import json, sys
fails = {l.split()[0] for l in open(sys.argv[2]) if l.split()[1] == "FAIL"}
seen = set()
for line in open(sys.argv[1]):
    v = json.loads(line)
    for k in ("rule", "ref", "t_start", "t_end", "worst", "margin", "lines"):
        if k not in v:
            sys.exit("violation without %s: %s" % (k, line))
    if v["t_end"] is not None and v["t_end"] < v["t_start"]:
        sys.exit("t_end before t_start: " + line)
    seen.add(v["rule"])
if seen != fails:
    sys.exit("violated %s, FAIL %s" % (sorted(seen), sorted(fails)))
EOF

# A copy of a config with absolute paths, so it can live in $tmp.
abs_config() { # src dst
	sed -e "s|^include = \([^/]\)|include = $ROOT/configs/\1|" \
	    -e "s|^dbc = \([^/]\)|dbc = $ROOT/configs/\1|" \
	    -e "s|replay:vehicles/|replay:$ROOT/configs/vehicles/|" \
	    -e "s|^dir = .*|dir = $tmp/sessions|" \
	    -e "s|^control = .*|control = $tmp/control.sock|" "$1" > "$2"
}

# ----------------------------------------- the live daemon, same verdicts
abs_config configs/demo.ini "$tmp/demo.ini"
root_flag=
[ "$(id -u)" -eq 0 ] && root_flag=--allow-root
if timeout 120 "$CANGATED" -c "$tmp/demo.ini" -f $root_flag > "$tmp/daemon.log" 2>&1; then
	bundle=$(ls -d "$tmp"/sessions/*/ 2>/dev/null | head -1)
	if [ -n "$bundle" ] &&
	   "$PY" -c 'import json,sys
for r in json.load(open(sys.argv[1]))["rules"]: print(r["rule"], r["verdict"])' \
		"$bundle/verdicts.json" > "$tmp/live.txt" &&
	   cmp -s "$tmp/live.txt" "$tmp/want.txt"; then
		ok "cangated replaying the drive writes the expected verdicts.json"
	else
		not_ok "cangated verdicts differ from $EXPECTED"
		diff "$tmp/want.txt" "$tmp/live.txt" 2>&1 | sed 's/^/# /' | head -20
	fi
	# Checked offline, the bundle's own frames.log (with the gateway's
	# T lines, which rules skip) gives the same bytes the daemon wrote.
	if [ -n "$bundle" ] && [ -s "$bundle/violations.jsonl" ] &&
	   { "$CANGATE" check -c "$tmp/demo.ini" "$bundle/frames.log" \
		> "$tmp/viol-bundle.jsonl" 2> /dev/null; [ $? -eq 1 ]; } &&
	   cmp -s "$bundle/violations.jsonl" "$tmp/viol-bundle.jsonl"; then
		ok "live violations.jsonl is byte-identical to cangate check of the bundle's frames.log"
	else
		not_ok "live violations.jsonl differs from cangate check of the bundle's frames.log"
	fi
else
	not_ok "cangated on the demo config failed:"
	tail -5 "$tmp/daemon.log" | sed 's/^/# /'
fi

# ------------------------------------------- CMVSS 141, the UN R138 option
sed 's|cmvss-141-fmvss.ini|cmvss-141-unr138.ini|' configs/demo.ini > "$tmp/r138-rel.ini"
abs_config "$tmp/r138-rel.ini" "$tmp/r138.ini"
"$CANGATE" check -c "$tmp/r138.ini" "$LOG" > /dev/null 2> "$tmp/r138.txt"
r138=$(awk '$1 ~ /^cmvss141-unr138-/ {print $1, $3}' "$tmp/r138.txt")
if [ "$(echo "$r138" | grep -c ' PASS$')" -eq 2 ] &&
   ! grep -q '^cmvss141-fmvss-' "$tmp/r138.txt"; then
	ok "the UN R138 option replaces the FMVSS one and its 2 rules PASS"
else
	not_ok "UN R138 option: got '$r138'"
fi

# ------------------------------------------- each pack alone, and an error
for f in configs/rules/*.ini; do
	cat > "$tmp/one.ini" <<EOF
[gateway]
name = pack-check
include = $ROOT/configs/vehicles/demo-ev.ini
include = $ROOT/$f
[bus vehicle]
interface = replay:$ROOT/$LOG
dbc = $ROOT/configs/vehicles/demo-ev.dbc
EOF
	if out=$("$CANGATED" -n -c "$tmp/one.ini" 2>&1) &&
	   [ "$out" = "configuration OK" ]; then
		ok "$f compiles alone with the demo vehicle's aliases"
	else
		not_ok "$f alone: $out"
	fi
done
sed 's/esc_mode == "Off"/esc_mod == "Off"/' configs/rules/cmvss-126.ini > "$tmp/broken-126.ini"
line=$(grep -n 'esc_mod == "Off"' "$tmp/broken-126.ini" | head -1 | cut -d: -f1)
sed "s|^include = .*cmvss-126.ini|include = $tmp/broken-126.ini|" \
	"$tmp/demo.ini" > "$tmp/broken.ini"
out=$("$CANGATED" -n -c "$tmp/broken.ini" 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && echo "$out" | grep -q "broken-126.ini:$line:"; then
	ok "a pack naming an unknown alias is rejected at broken-126.ini:$line"
else
	not_ok "unknown alias: exit $rc, '$out' (want exit 1 and broken-126.ini:$line:)"
fi

echo "test_rulepacks: $n checks, $failed failed"
[ "$failed" -eq 0 ]
