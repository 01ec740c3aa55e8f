#!/bin/sh
# A live session's frames.log is a faithful, replayable record: cangated
# forwards vcan0 -> vcan1 (classic, extended and CAN FD frames), SIGTERM
# closes the bundle, `cangate verify` passes, frames.log holds every frame
# once as received (R, vcan0) and once as sent (T, vcan1), and canplayer
# replays the received frames onto vcan2 with the same payloads in the same
# order as candump saw them on vcan0.
# timeout: 120
set -eu
. "$(dirname "$0")/lib.sh"

N=3000
vcan_up vcan0 fd
vcan_up vcan1 fd
vcan_up vcan2 fd
mkdir "$TEST_TMP/sessions"
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = replay-test
control = $TEST_TMP/control.sock
[bus a]
interface = vcan0
fd = yes
[bus b]
interface = vcan1
fd = yes
[route r]
from = a
to = b
[evidence]
dir = $TEST_TMP/sessions
procedure = replay
block_frames = 500
EOC
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
start_candump "$TEST_TMP/in.log" vcan0
start_candump "$TEST_TMP/out.log" vcan1
cangen -g 0 -I i -L 8 -D i -n "$N" vcan0
cangen -g 0 -e -I i -L 4 -D i -n 100 vcan0
i=0
while [ $i -lt 20 ]; do
	cansend vcan0 "1A$(printf '%X' $((i % 16)))##1$(printf '%02X' $i)00112233445566778899AABBCCDDEEFF"
	i=$((i + 1))
done
total=$((N + 120))
wait_frames "$TEST_TMP/out.log" "$total" 30
sleep 0.2
stop "$CANDUMP_PID"
stop "$CANGATED_PID" 20 || fail "cangated exit status $? on SIGTERM"
b=$(ls -d "$TEST_TMP"/sessions/*/)
b=${b%/}

info "the bundle verifies and is closed"
"$CANGATE" verify "$b" > "$TEST_TMP/verify.out" 2>&1 || { cat "$TEST_TMP/verify.out" >&2; fail "verify failed"; }
assert_grep "^OK closed: $((2 * total)) frames" "$TEST_TMP/verify.out"

info "every frame once received on vcan0 and once sent on vcan1"
assert_eq "$total" "$(grep -c ' vcan0 .* R$' "$b/frames.log")" "R lines on vcan0"
assert_eq "$total" "$(grep -c ' vcan1 .* T$' "$b/frames.log")" "T lines on vcan1"
assert_eq 20 "$(grep -c ' vcan0 [0-9A-F]*##' "$b/frames.log")" "CAN FD lines received"
grep ' vcan0 .* R$' "$b/frames.log" | awk '{ print $3 }' > "$TEST_TMP/rec.payloads"
payloads "$TEST_TMP/in.log" vcan0 > "$TEST_TMP/in.payloads"
cmp -s "$TEST_TMP/rec.payloads" "$TEST_TMP/in.payloads" || fail "frames.log (R) differs from candump vcan0: $(diff "$TEST_TMP/in.payloads" "$TEST_TMP/rec.payloads" | head -3)"

info "canplayer replays the received frames onto vcan2"
start_candump "$TEST_TMP/replay.log" vcan2
canplayer -t -g 0 -I "$b/frames.log" vcan2=vcan0
wait_frames "$TEST_TMP/replay.log" "$total" 30
sleep 0.2
stop "$CANDUMP_PID"
assert_eq 0 "$(drop_count "$TEST_TMP/replay.log")" "candump drops on vcan2"
assert_eq "$total" "$(count_frames "$TEST_TMP/replay.log" vcan2)" "frames replayed"
compare_payloads "$TEST_TMP/in.log" "$TEST_TMP/replay.log" || fail "replayed frames differ from the originals"

info "export --asc and the report work on the live bundle"
"$CANGATE" export "$b" --asc -o "$TEST_TMP/b.asc" || fail "export --asc"
assert_eq "$total" "$(grep -c ' Rx ' "$TEST_TMP/b.asc")" "ASC Rx lines"
"$CANGATE" report "$b" -o "$TEST_TMP/r.html" || fail "report"
assert_grep 'OK closed session' "$TEST_TMP/r.html"
