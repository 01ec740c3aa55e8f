#!/bin/sh
# tests/cli/test_imports.sh: `cangate decode` and `cangate check` read the
# Vector ASC and BLF files python-can writes as they read candump logs.
#
# python-can (python3-can, from scripts/install-deps) converts the demo drive
# and a log of every frame kind to ASC and BLF; then
# - decode gives the same JSON for all three (the bus is the channel number);
# - check --bus 1=vehicle gives the same verdicts, and with --out the same
#   violations byte for byte and the same frames.log;
# - an unmapped channel, a bad --bus and an unknown bus are errors with
#   their location, exit 2.
# python-can keeps the start time only to the millisecond (the ASC date,
# the BLF SYSTEMTIME) and writes it in local time: the logs start on a
# millisecond, and TZ is not UTC, so that local time is what is read back.
#
# Run from anywhere; BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
CANGATE=$ROOT/$BUILD/cangate
PY=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_imports.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0
export TZ=America/Toronto

ok() { echo "PASS imports/$1"; pass=$((pass + 1)); }
bad() { echo "FAIL imports/$1: $2"; fail=$((fail + 1)); }

if [ ! -x "$CANGATE" ]; then
	echo "FAIL imports: $CANGATE not built"
	exit 1
fi
if ! "$PY" -c 'import can' 2>/dev/null; then
	echo "FAIL imports: python3-can is missing (scripts/install-deps installs it)"
	exit 1
fi

# python-can: LOG -> LOG.asc and LOG.blf (small BLF containers, so that
# objects run across containers).
to_vector() {
	"$PY" - "$1" <<'EOF'
import sys, can
log = sys.argv[1]
msgs = list(can.CanutilsLogReader(log))
with can.ASCWriter(log + ".asc") as w:
    for m in msgs:
        w.on_message_received(m)
with can.BLFWriter(log + ".blf", max_container_size=4096) as w:
    for m in msgs:
        w.on_message_received(m)
print(len(msgs))
EOF
}

# 1. every kind of frame: standard, extended, RTR, DLC 0, FD with and
# without BRS, on two interfaces (python-can numbers them from can0 = 1)
cat >"$tmp/kinds.log" <<'EOF'
(1700000000.000000) can0 123#0011223344556677
(1700000000.000250) can1 18FEF100#DEADBEEF
(1700000000.001000) can0 7FF#R
(1700000000.002000) can0 100#
(1700000000.003000) can1 1A0##1000102030405060708090A0B
(1700000000.004000) can0 1A1##0AABB
EOF
n=$(to_vector "$tmp/kinds.log")
for f in kinds.log kinds.log.asc kinds.log.blf; do
	"$CANGATE" decode --all --dbc tests/fixtures/decode/demo.dbc "$tmp/$f" \
		>"$tmp/$f.json" 2>"$tmp/$f.err"
	echo "rc=$?" >>"$tmp/$f.err"
done
sed -e 's/"bus":"can0"/"bus":"1"/' -e 's/"bus":"can1"/"bus":"2"/' \
	"$tmp/kinds.log.json" >"$tmp/kinds.want"
if [ "$n" = 6 ] && [ "$(wc -l <"$tmp/kinds.want")" = 6 ] &&
	cmp -s "$tmp/kinds.want" "$tmp/kinds.log.asc.json" &&
	cmp -s "$tmp/kinds.want" "$tmp/kinds.log.blf.json" &&
	[ "$(cat "$tmp/kinds.log.asc.err")" = rc=0 ] &&
	[ "$(cat "$tmp/kinds.log.blf.err")" = rc=0 ]; then
	ok decode-frame-kinds
else
	bad decode-frame-kinds "$(diff "$tmp/kinds.want" "$tmp/kinds.log.asc.json"; diff "$tmp/kinds.want" "$tmp/kinds.log.blf.json"; cat "$tmp"/kinds.log.*.err)"
fi

# 2. the demo drive, prefixed by a frame on a millisecond (an ID no DBC has)
mkdir -p "$tmp/cfg"
cp -r configs/demo.ini configs/vehicles configs/rules "$tmp/cfg/"
{
	echo "(1764400000.000000) vehicle 7FE#00"
	cat configs/vehicles/demo-drive.log
} >"$tmp/drive.log"
to_vector "$tmp/drive.log" >/dev/null
head -c 4 "$tmp/drive.log.blf" | grep -q LOGG || bad blf-written "no LOGG header"

"$CANGATE" decode --dbc configs/vehicles/demo-ev.dbc "$tmp/drive.log" >"$tmp/d.log" 2>&1
for f in asc blf; do
	"$CANGATE" decode --dbc configs/vehicles/demo-ev.dbc "$tmp/drive.log.$f" 2>&1 |
		sed 's/"bus":"1"/"bus":"vehicle"/' >"$tmp/d.$f"
	if [ "$(wc -l <"$tmp/d.log")" -gt 36000 ] && cmp -s "$tmp/d.log" "$tmp/d.$f"; then
		ok "decode-drive-$f"
	else
		bad "decode-drive-$f" "$(diff "$tmp/d.log" "$tmp/d.$f" | head -5)"
	fi
done

# 3. check: the same violations and verdicts; with --out byte for byte
for f in log asc blf; do
	log=$tmp/drive.log
	[ $f = log ] || log=$tmp/drive.log.$f
	"$CANGATE" check -c "$tmp/cfg/demo.ini" --bus 1=vehicle "$log" \
		>"$tmp/v.$f" 2>"$tmp/e.$f"
	echo "rc=$?" >>"$tmp/e.$f"
	"$CANGATE" check -c "$tmp/cfg/demo.ini" --bus 1=vehicle --out "$tmp/out-$f" \
		"$log" >"$tmp/vo.$f" 2>/dev/null
done
# without --out, line numbers are the file's own: ASC has 5 header lines
strip_lines() { sed 's/"lines":\[[0-9]*,[0-9]*\]//' "$1"; }
for f in asc blf; do
	if [ "$(grep -c '"rule"' "$tmp/v.log")" -ge 2 ] &&
		[ "$(strip_lines "$tmp/v.log")" = "$(strip_lines "$tmp/v.$f")" ] &&
		[ "$(grep -v 'lines read' "$tmp/e.log")" = "$(grep -v 'lines read' "$tmp/e.$f")" ] &&
		grep -q '^rc=1$' "$tmp/e.$f"; then
		ok "check-same-violations-$f"
	else
		bad "check-same-violations-$f" "$(diff "$tmp/v.log" "$tmp/v.$f"; diff "$tmp/e.log" "$tmp/e.$f")"
	fi
	if [ -s "$tmp/vo.log" ] && cmp -s "$tmp/vo.log" "$tmp/vo.$f" &&
		cmp -s "$tmp"/out-log/*/frames.log "$tmp"/out-$f/*/frames.log &&
		"$CANGATE" verify "$tmp"/out-$f/* >/dev/null 2>&1; then
		ok "check-out-identical-$f"
	else
		bad "check-out-identical-$f" "$(diff "$tmp/vo.log" "$tmp/vo.$f" | head -4)"
	fi
done
# BLF objects are numbered like the candump lines here: one frame each
if cmp -s "$tmp/v.log" "$tmp/v.blf"; then
	ok check-blf-object-numbers
else
	bad check-blf-object-numbers "$(diff "$tmp/v.log" "$tmp/v.blf" | head -4)"
fi

# 4. errors: an unmapped channel, a bad --bus, an unknown bus
"$CANGATE" check -c "$tmp/cfg/demo.ini" "$tmp/drive.log.asc" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && grep -q "^$tmp/drive.log.asc:6: interface '1' is not a bus of .*map it with --bus 1=BUS" "$tmp/err"; then
	ok unmapped-channel
else
	bad unmapped-channel "rc $rc: $(head -3 "$tmp/err")"
fi
"$CANGATE" check -c "$tmp/cfg/demo.ini" --bus 1 "$tmp/drive.log.asc" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && grep -q "^cangate check: --bus needs IFACE=BUS" "$tmp/err"; then
	ok bad-bus-option
else
	bad bad-bus-option "rc $rc: $(head -3 "$tmp/err")"
fi
"$CANGATE" check -c "$tmp/cfg/demo.ini" --bus 1=nosuch "$tmp/drive.log.asc" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && grep -q "^cangate check: --bus 1=nosuch: .*demo.ini has no bus 'nosuch'" "$tmp/err"; then
	ok unknown-bus
else
	bad unknown-bus "rc $rc: $(head -3 "$tmp/err")"
fi

# 5. damage: a BLF cut short and an ASC frame line that does not parse are
# named with their place; the frames before still count
head -c 100000 "$tmp/drive.log.blf" >"$tmp/cut.blf"
"$CANGATE" decode --dbc configs/vehicles/demo-ev.dbc "$tmp/cut.blf" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 1 ] && [ "$(wc -l <"$tmp/out")" -gt 1000 ] &&
	grep -q "^$tmp/cut.blf.*file ends inside" "$tmp/err"; then
	ok blf-cut-short
else
	bad blf-cut-short "rc $rc, $(wc -l <"$tmp/out") frames: $(cat "$tmp/err")"
fi
sed '8s/ 00 00$/ 00 0G/' "$tmp/drive.log.asc" >"$tmp/bad.asc"
"$CANGATE" decode --dbc configs/vehicles/demo-ev.dbc "$tmp/bad.asc" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 1 ] && [ "$(cat "$tmp/err")" = "$tmp/bad.asc:8: column 60: bad data byte" ]; then
	ok asc-bad-line
else
	bad asc-bad-line "rc $rc: $(cat "$tmp/err")"
fi

echo "test_imports: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
