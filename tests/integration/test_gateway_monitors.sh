#!/bin/sh
# 50 live views on one gateway (issue 13): 50 `cangate monitor --plain`
# subscribed while 2000 frames go vcan0 -> vcan1 one ms apart and then a
# burst of 5000. Every frame is forwarded (route counters and candump agree),
# no monitor is dropped as too slow, and the monitors saw the traffic (a
# line with the bus's non-zero rate). The paced latency is printed (in the
# VM it is noise-bound: scripts/bench-gateway compares it with and without
# monitors).
# timeout: 120
set -eu
. "$(dirname "$0")/lib.sh"

M=50
PACED=2000
BURST=5000
st() { grep -o "\"$1\":[0-9]*" "$TEST_TMP/st.json" | head -n 1 | cut -d: -f2; }
snap() { "$CANGATE" status -s "$TEST_TMP/control.sock" --json > "$TEST_TMP/st.json"; }

vcan_up vcan0
vcan_up vcan1
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = monitors
control = $TEST_TMP/control.sock
[bus a]
interface = vcan0
dbc = $REPO/configs/vehicles/demo-ev.dbc
[bus b]
interface = vcan1
[route r]
from = a
to = b
EOC
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
i=0
while [ $i -lt $M ]; do
	spawn "$CANGATE" monitor -s "$TEST_TMP/control.sock" --plain > "$TEST_TMP/mon$i.out" 2>&1
	i=$((i + 1))
done
wait_until "snap && [ \$(st subscribers) = $M ]" 60 || fail "$M monitors did not subscribe: $(st subscribers)"

start_candump "$TEST_TMP/in.log" vcan0
pid_in=$CANDUMP_PID
start_candump "$TEST_TMP/out.log" vcan1
pid_out=$CANDUMP_PID
cangen -g 1 -I i -L 8 -D i -n $PACED vcan0
cangen -g 0 -I i -L 8 -D i -n $BURST vcan0
N=$((PACED + BURST))
wait_until "[ \$(count_frames '$TEST_TMP/out.log') -ge $N ]" 60 ||
	fail "vcan1 got $(count_frames "$TEST_TMP/out.log") of $N frames"
sleep 1.2 # a plain line a second: one after the traffic
stop "$pid_in"
stop "$pid_out"
snap
assert_eq $N "$(st forwarded)" "route forwarded"
assert_eq 0 "$(st dropped)" "route dropped"
assert_eq $M "$(st subscribers)" "monitors still subscribed"
assert_eq 0 "$(st subscribers_dropped)" "monitors dropped as too slow"
assert_eq $N "$(count_frames "$TEST_TMP/out.log")" "frames on vcan1"
assert_eq 0 "$(drop_count "$TEST_TMP/out.log")" "candump drops"
seen=0
i=0
while [ $i -lt $M ]; do
	grep -Eq '\| a up rx [1-9][0-9]*/s' "$TEST_TMP/mon$i.out" && seen=$((seen + 1))
	i=$((i + 1))
done
assert_eq $M "$seen" "monitors that showed the traffic"

# paced latency: the first PACED frames each side (forwarding keeps the
# order), matched by id and payload (cangen -I i -D i)
awk '/^\(/ && $2 == "vcan0" && n++ < '$PACED' { sent[$3] = substr($1, 2, length($1) - 2) }
	/^\(/ && $2 == "vcan1" && m++ < '$PACED' && ($3 in sent) {
		print int((substr($1, 2, length($1) - 2) - sent[$3]) * 1e6) }' \
	"$TEST_TMP/in.log" "$TEST_TMP/out.log" | sort -n > "$TEST_TMP/lat"
awk '{ v[NR] = $1 } END { if (NR) printf "# paced latency with %d monitors: p50 %d us, p99 %d us (%d frames)\n", m, v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.99) + 1], NR }' \
	m=$M "$TEST_TMP/lat"
info "$M monitors: forwarded $N of $N, none dropped"
