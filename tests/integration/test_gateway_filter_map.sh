#!/bin/sh
# Route filters on real vcan: only passed IDs reach the rig, blocked ones and
# those outside `pass` never do, a mapped ID arrives under its new ID with
# its payload, 29-bit entries match extended frames only; status counts
# every frame as forwarded or filtered.
# timeout: 60
set -eu
. "$(dirname "$0")/lib.sh"

st() {
	tr '{' '\n' < "$TEST_TMP/st.json" | grep "^\"name\":\"$1\"" |
		grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2
}
snap() { "$CANGATE" status -s "$TEST_TMP/control.sock" --json > "$TEST_TMP/st.json"; }

vcan_up vcan0
vcan_up vcan1
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = filt
control = $TEST_TMP/control.sock
[bus vehicle]
interface = vcan0
[bus rig]
interface = vcan1
[route r]
from = vehicle
to = rig
pass = 0x100-0x1FF, 0x300/0x700, 0x18FEF100x/0x1FFFFFFF
block = 0x150
map = 0x120 -> 0x520
EOC
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
start_candump "$TEST_TMP/out.log" vcan1

# ID             expectation on vcan1
# 100            passes
# 150            blocked inside the pass range
# 120            mapped to 520
# 200            not passed
# 305            passes (0x300/0x700)
# 7DF            not passed
# 00000100 (ext) not passed: the 0x100-0x1FF entry is 11-bit
# 18FEF100 (ext) passes
# 18FEF101 (ext) not passed (full mask)
for f in 100#01 150#02 120#0304 200#05 305#06 7DF#07 00000100#08 \
	18FEF100#0910 18FEF101#11 1FF#12; do
	cansend vcan0 "$f"
done
wait_frames "$TEST_TMP/out.log" 5 10
sleep 0.3
stop "$CANDUMP_PID"
payloads "$TEST_TMP/out.log" > "$TEST_TMP/got"
printf '%s\n' 100#01 520#0304 305#06 18FEF100#0910 1FF#12 > "$TEST_TMP/want"
cmp -s "$TEST_TMP/want" "$TEST_TMP/got" || {
	diff "$TEST_TMP/want" "$TEST_TMP/got" >&2
	fail "frames on vcan1 differ"
}
snap
assert_eq 10 "$(st r in)" "route in"
assert_eq 5 "$(st r forwarded)" "route forwarded"
assert_eq 5 "$(st r filtered)" "route filtered"
assert_eq 5 "$(st vehicle filtered)" "bus filtered"
stop "$CANGATED_PID" || fail "cangated exit status $? on SIGTERM"
