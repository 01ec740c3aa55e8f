#!/bin/sh
# A flood faster than the rig bus can take: cangen -g 0 into vcan0, the rig
# on vcan1 with txqueuelen 10 so sends fail with ENOBUFS and frames wait in
# cangated's bounded tx queue (txqueue_len 64) or are dropped and counted.
# Nothing is lost silently: once traffic stops,
#   route in = vehicle rx, = forwarded + filtered + rate_limited + dropped
#   rig tx = forwarded; dropped = rig queue_dropped + tx_errors
# and every frame cangated did not account for was dropped by the kernel
# itself, in the per-CPU backlog that vcan's loopback goes through
# (/proc/net/softnet_stat "dropped"): frames cangen sent that our socket
# never saw (N - rx - kernel_dropped) plus frames we sent that candump never
# saw (forwarded - frames on vcan1) = that counter's increase.
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
# softnet_drops: the kernel's backlog drops, summed over CPUs (hex column 2)
softnet_drops() {
	awk '{ n += ("0x" $2) + 0 } END { print n + 0 }' /proc/net/softnet_stat 2>/dev/null ||
		echo 0
}
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
start_candump "$TEST_TMP/out.log" vcan1
sd0=$(softnet_drops)
cangen -g 0 -I r -L 8 -D i -n "$N" vcan0
# settled: two snapshots 300 ms apart agree and nothing is queued
prev=
wait_until "snap && cur=\$(st r in)/\$(st r forwarded)/\$(st r queued) && [ \"\$cur\" = \"\$prev\" ] && [ \$(st r queued) = 0 ] || { prev=\$cur; sleep 0.3; false; }" 30 ||
	fail "counters did not settle"
sleep 0.3
stop "$CANDUMP_PID"
snap
cat "$TEST_TMP/st.json" >&2
sd=$(( $(softnet_drops) - sd0 ))
rx=$(st vehicle rx)
kd=$(st vehicle kernel_dropped)
fw=$(st r forwarded)
seen=$(count_frames "$TEST_TMP/out.log")
info "kernel backlog drops $sd; cangen->us lost $((N - rx - kd)); us->candump lost $((fw - seen))"
assert_eq "$rx" "$(st r in)" "route in = vehicle rx"
assert_eq "$(st r in)" "$(( fw + $(st r filtered) + $(st r rate_limited) + $(st r dropped) ))" "in = forwarded + filtered + rate_limited + dropped"
assert_eq 0 "$(drop_count "$TEST_TMP/out.log")" "candump drops on vcan1"
assert_eq "$sd" "$(( (N - rx - kd) + (fw - seen) ))" "frames unaccounted for = kernel backlog drops"
assert_eq "$(st r forwarded)" "$(st rig tx)" "rig tx = forwarded"
assert_eq "$(st r dropped)" "$(( $(st rig queue_dropped) + $(st rig tx_errors) ))" "dropped = queue_dropped + tx_errors"
info "flood: rx $rx, kernel_dropped $kd, forwarded $(st r forwarded), filtered $(st r filtered), dropped $(st r dropped) (queued_total $(st rig queued_total))"
stop "$CANGATED_PID" || fail "cangated exit status $? on SIGTERM"
