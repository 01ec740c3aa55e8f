#!/bin/sh
# A flood faster than the rig bus can take: cangen -g 0 into vcan0, the rig
# on vcan1 with txqueuelen 10 so sends fail with ENOBUFS and frames wait in
# cangated's bounded tx queue (txqueue_len 64) or are dropped and counted.
# Nothing is lost silently: once traffic stops,
#   vehicle rx + kernel_dropped = frames sent by cangen
#   route in = forwarded + filtered + rate_limited + dropped  (queued = 0)
#   frames seen on vcan1 = forwarded
# timeout: 120
set -eu
. "$(dirname "$0")/lib.sh"

N=50000
st() {
	tr '{' '\n' < "$TEST_TMP/st.json" | grep "^\"name\":\"$1\"" |
		grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2
}
snap() { "$CANGATE" status -s "$TEST_TMP/control.sock" --json > "$TEST_TMP/st.json"; }

vcan_up vcan0
vcan_up vcan1
ip link set vcan1 txqueuelen 10
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = flood
control = $TEST_TMP/control.sock
[bus vehicle]
interface = vcan0
[bus rig]
interface = vcan1
txqueue_len = 64
txqueue_max_age_ms = 50
[route r]
from = vehicle
to = rig
block = 0x7FF
EOC
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
start_candump "$TEST_TMP/out.log" vcan1
cangen -g 0 -I r -L 8 -D i -n "$N" vcan0
# settled: two snapshots 300 ms apart agree and nothing is queued
prev=
wait_until "snap && cur=\$(st r in)/\$(st r forwarded)/\$(st r queued) && [ \"\$cur\" = \"\$prev\" ] && [ \$(st r queued) = 0 ] || { prev=\$cur; sleep 0.3; false; }" 30 ||
	fail "counters did not settle"
sleep 0.3
stop "$CANDUMP_PID"
snap
cat "$TEST_TMP/st.json" >&2
rx=$(st vehicle rx)
kd=$(st vehicle kernel_dropped)
assert_eq "$N" "$((rx + kd))" "vehicle rx + kernel_dropped"
assert_eq "$rx" "$(st r in)" "route in = vehicle rx"
assert_eq "$(st r in)" "$(( $(st r forwarded) + $(st r filtered) + $(st r rate_limited) + $(st r dropped) ))" "in = forwarded + filtered + rate_limited + dropped"
assert_eq 0 "$(drop_count "$TEST_TMP/out.log")" "candump drops on vcan1"
assert_eq "$(st r forwarded)" "$(count_frames "$TEST_TMP/out.log")" "frames on vcan1 = forwarded"
assert_eq "$(st r forwarded)" "$(st rig tx)" "rig tx = forwarded"
assert_eq "$(st r dropped)" "$(( $(st rig queue_dropped) + $(st rig tx_errors) ))" "dropped = queue_dropped + tx_errors"
info "flood: rx $rx, kernel_dropped $kd, forwarded $(st r forwarded), filtered $(st r filtered), dropped $(st r dropped) (queued_total $(st rig queued_total))"
stop "$CANGATED_PID" || fail "cangated exit status $? on SIGTERM"
