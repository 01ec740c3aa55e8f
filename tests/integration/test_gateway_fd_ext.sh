#!/bin/sh
# CAN FD and extended IDs: FD frames (with and without BRS) and 29-bit IDs
# cross an fd = yes route unchanged; a route to a classic bus (fd = no)
# filters FD frames and still forwards classic ones.
# timeout: 60
set -eu
. "$(dirname "$0")/lib.sh"

st() {
	tr '{' '\n' < "$TEST_TMP/st.json" | grep "^\"name\":\"$1\"" |
		grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2
}
snap() { "$CANGATE" status -s "$TEST_TMP/control.sock" --json > "$TEST_TMP/st.json"; }

vcan_up vcan0 fd
vcan_up vcan1 fd
vcan_up vcan2
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = fd
control = $TEST_TMP/control.sock
[bus a]
interface = vcan0
fd = yes
[bus b]
interface = vcan1
fd = yes
[bus c]
interface = vcan2
[route ab]
from = a
to = b
[route ac]
from = a
to = c
EOC
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1 vcan2
start_candump "$TEST_TMP/b.log" vcan1
start_candump "$TEST_TMP/c.log" vcan2
cansend vcan0 123##1000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F
cansend vcan0 1ABCDEF0##0AABBCC
cansend vcan0 1ABCDEF1#DEADBEEF
cansend vcan0 7FF#
cansend vcan0 456##1112233445566778899AABBCC
wait_frames "$TEST_TMP/b.log" 5 10
wait_frames "$TEST_TMP/c.log" 2 10
sleep 0.3
stop "$CANDUMP_PID"
# FD frames are logged with the FDF flag (##5 / ##4), see lib.sh's notes.
payloads "$TEST_TMP/b.log" > "$TEST_TMP/got_b"
cat > "$TEST_TMP/want_b" <<EOW
123##5000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F
1ABCDEF0##4AABBCC
1ABCDEF1#DEADBEEF
7FF#
456##5112233445566778899AABBCC
EOW
cmp -s "$TEST_TMP/want_b" "$TEST_TMP/got_b" || {
	diff "$TEST_TMP/want_b" "$TEST_TMP/got_b" >&2
	fail "frames on vcan1 (fd) differ"
}
payloads "$TEST_TMP/c.log" > "$TEST_TMP/got_c"
printf '%s\n' 1ABCDEF1#DEADBEEF 7FF# > "$TEST_TMP/want_c"
cmp -s "$TEST_TMP/want_c" "$TEST_TMP/got_c" || {
	diff "$TEST_TMP/want_c" "$TEST_TMP/got_c" >&2
	fail "frames on vcan2 (classic) differ"
}
snap
assert_eq 5 "$(st ab forwarded)" "ab forwarded"
assert_eq 2 "$(st ac forwarded)" "ac forwarded"
assert_eq 3 "$(st ac filtered)" "ac filtered (FD to a classic bus)"
stop "$CANGATED_PID" || fail "cangated exit status $? on SIGTERM"
