#!/bin/sh
# Rate limits and bidirectional routes on real vcan. `rate = 0x200 50ms`
# lets at most one 0x200 per 50 ms through (other IDs untouched). A
# `direction = both` route forwards each way exactly once: the gateway's own
# transmissions are never routed back (no loop, no duplicates).
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
vcan_up vcan2
vcan_up vcan3
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = rate
control = $TEST_TMP/control.sock
[bus a]
interface = vcan0
[bus b]
interface = vcan1
[bus c]
interface = vcan2
[bus d]
interface = vcan3
[route ab]
from = a
to = b
rate = 0x200 50ms
[route cd]
from = c
to = d
direction = both
EOC
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1 vcan2 vcan3

info "rate limit"
start_candump "$TEST_TMP/b.log" vcan0 vcan1
# 200 frames of 0x200, 2 ms apart (>= 400 ms; longer in a slow VM): one
# per 50 ms passes, the rest is rate limited; 20 frames of 0x201 all pass.
cangen -g 2 -I 200 -L 1 -D i -n 200 vcan0
cangen -g 1 -I 201 -L 1 -D i -n 20 vcan0
wait_frames "$TEST_TMP/b.log" 240 10
sleep 0.3
stop "$CANDUMP_PID"
n200=$(payloads "$TEST_TMP/b.log" vcan1 | grep -c '^200#' || true)
n201=$(payloads "$TEST_TMP/b.log" vcan1 | grep -c '^201#' || true)
assert_eq 20 "$n201" "0x201 frames (not limited)"
[ "$n200" -ge 2 ] && [ "$n200" -le 100 ] || fail "0x200 frames through the 50 ms limit: $n200 of 200"
# The limiter decides on receive timestamps: the vcan0 copies (same
# payload: cangen's counter) of the 0x200 frames that reached vcan1 are at
# least 50 ms apart. (vcan1's own timestamps add forwarding jitter.)
# (candump prints the two interfaces in no particular order: two passes.)
awk 'FNR == NR { if ($2 == "vcan0" && $3 ~ /^200#/) t0[$3] = substr($1, 2, length($1) - 2); next }
	$2 == "vcan1" && $3 ~ /^200#/ {
		if (!($3 in t0)) { print "no vcan0 copy of " $3; bad = 1; next }
		if (p != "" && t0[$3] - p < 0.0499995) { print "gap " t0[$3] - p; bad = 1 }
		p = t0[$3] }
	END { exit bad }' "$TEST_TMP/b.log" "$TEST_TMP/b.log" ||
	fail "0x200 frames closer than the rate limit"
snap
assert_eq 220 "$(st ab in)" "ab in"
assert_eq "$n200" "$(( $(st ab forwarded) - 20 ))" "ab forwarded 0x200"
assert_eq $((200 - n200)) "$(st ab rate_limited)" "ab rate_limited"

info "bidirectional route, no loops"
start_candump "$TEST_TMP/cd.log" vcan2 vcan3
cangen -g 1 -I 100 -L 2 -D i -n 50 vcan2
cangen -g 1 -I 300 -L 2 -D i -n 30 vcan3
wait_frames "$TEST_TMP/cd.log" 160 10
sleep 0.5
stop "$CANDUMP_PID"
assert_eq 50 "$(payloads "$TEST_TMP/cd.log" vcan3 | grep -c '^100#')" "0x100 on vcan3"
assert_eq 50 "$(payloads "$TEST_TMP/cd.log" vcan2 | grep -c '^100#')" "0x100 on vcan2 (the originals only)"
assert_eq 30 "$(payloads "$TEST_TMP/cd.log" vcan2 | grep -c '^300#')" "0x300 on vcan2"
assert_eq 30 "$(payloads "$TEST_TMP/cd.log" vcan3 | grep -c '^300#')" "0x300 on vcan3 (the originals only)"
snap
assert_eq 80 "$(st cd in)" "cd in"
assert_eq 80 "$(st cd forwarded)" "cd forwarded"
assert_eq 50 "$(st c rx)" "bus c rx"
assert_eq 30 "$(st d rx)" "bus d rx"
stop "$CANGATED_PID" || fail "cangated exit status $? on SIGTERM"
