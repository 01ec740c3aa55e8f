#!/bin/sh
# cangated forwards vcan0 -> vcan1 exactly: every frame of a cangen burst
# arrives once, in order, with its payload, and `cangate status --json`
# accounts for all of them (rx = in = forwarded, nothing dropped). Also: the
# -n check, and the readable status table.
# timeout: 90
set -eu
. "$(dirname "$0")/lib.sh"

N=5000

# st NAME KEY: a counter of bus or route NAME in the last status snapshot.
st() {
	tr '{' '\n' < "$TEST_TMP/st.json" | grep "^\"name\":\"$1\"" |
		grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2
}
snap() { "$CANGATE" status -s "$TEST_TMP/control.sock" --json > "$TEST_TMP/st.json"; }

vcan_up vcan0
vcan_up vcan1
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = fwd
control = $TEST_TMP/control.sock
[bus a]
interface = vcan0
[bus b]
interface = vcan1
[route r]
from = a
to = b
EOC
"$CANGATED" -c "$TEST_TMP/gw.conf" -n > "$TEST_TMP/check.out"
assert_eq "configuration OK" "$(cat "$TEST_TMP/check.out")" "cangated -n"

start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
start_candump "$TEST_TMP/in.log" vcan0
start_candump "$TEST_TMP/out.log" vcan1
cangen -g 0 -I i -L 8 -D i -n "$N" vcan0
wait_frames "$TEST_TMP/out.log" "$N" 30
sleep 0.2
stop "$CANDUMP_PID"
assert_eq 0 "$(drop_count "$TEST_TMP/out.log")" "candump drops"
assert_eq "$N" "$(count_frames "$TEST_TMP/out.log")" "frames on vcan1"
# cangen's own frames on vcan0 and the forwarded ones on vcan1, same order
wait_frames "$TEST_TMP/in.log" "$N" 10
compare_payloads "$TEST_TMP/in.log" "$TEST_TMP/out.log" || fail "payloads differ"

wait_until "snap && [ \"\$(st r forwarded)\" = $N ]" 10 || fail "status: forwarded $(st r forwarded) != $N"
assert_eq "$N" "$(st a rx)" "bus a rx"
assert_eq "$N" "$(st b tx)" "bus b tx"
assert_eq "$N" "$(st r in)" "route in"
assert_eq 0 "$(st r dropped)" "route dropped"
assert_eq 0 "$(st r filtered)" "route filtered"
assert_eq 0 "$(st a kernel_dropped)" "kernel drops on a"
assert_eq 0 "$(st b rx)" "bus b rx (own frames are not read back)"

"$CANGATE" status -s "$TEST_TMP/control.sock" > "$TEST_TMP/table.txt"
assert_grep "^ROUTE" "$TEST_TMP/table.txt"
assert_grep "^r +a -> b +$N +$N " "$TEST_TMP/table.txt"

stop "$CANGATED_PID" || fail "cangated exit status $? on SIGTERM"
[ ! -e "$TEST_TMP/control.sock" ] || fail "control socket left behind"
