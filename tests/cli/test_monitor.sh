#!/bin/sh
# test_monitor.sh: the live views against a running daemon, on the host (a
# replay bus needs no CAN kernel).
#
# cangated replays the demo drive in real time with an extra rule that is
# violated once the gear leaves P. Then:
# - `cangate monitor` runs in an 80x24 tmux pane (send-keys, capture-pane):
#   the violated rule with its value and margin, a signal with its value-
#   table name, a marker set with m appearing among the events, the filter
#   (/), pause (p) and quit (q);
# - without a terminal it prints one plain line per second;
# - `cangate watch` prints one line per change, and names an unknown signal
#   with a "did you mean";
# - a raw subscriber gets the rate it asks for (hz=1, hz=2, the default 10,
#   counted over 3 s), and a bad hz gets a one-line error;
# - status and status --json carry per-rule state and verdict so far;
#   status --all finds the instance; mark prints its time and frames.log
#   line; session stop/start print the bundle and the verdicts;
# - a subscriber that does not read is dropped and counted;
# - socket errors: no such socket, not a socket.
#
# Run from anywhere; BUILD selects the build folder (default build).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
CANGATE=$ROOT/$BUILD/cangate
CANGATED=$ROOT/$BUILD/cangated

tmp=$(mktemp -d)
pane=cgmon$$
# a tmux server of our own: never another user's sessions
tmux() { command tmux -L "cgmon$$" "$@"; }
dpid=
cleanup() {
	tmux kill-server 2>/dev/null
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
checks=0

ok() { checks=$((checks + 1)); }
bad() {
	checks=$((checks + 1))
	failures=$((failures + 1))
	echo "FAIL: $*" >&2
}
# check WHAT REGEX FILE: FILE has a line matching REGEX
check() {
	if grep -Eq -- "$2" "$3"; then ok; else bad "$1: no line matches /$2/ in: $(cat "$3")"; fi
}
# screen_has REGEX [TIMEOUT_S]: the pane shows REGEX within the time
screen_has() {
	n=$(( ${2:-5} * 10 ))
	while [ "$n" -gt 0 ]; do
		tmux capture-pane -p -t "$pane" > "$tmp/screen" 2>/dev/null
		grep -Eq -- "$1" "$tmp/screen" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
expect_screen() {
	if screen_has "$2" "${3:-5}"; then ok; else bad "$1: the screen lacks /$2/:
$(cat "$tmp/screen")"; fi
}

for t in "$CANGATE" "$CANGATED"; do
	[ -x "$t" ] || { echo "test_monitor: build $t first" >&2; exit 2; }
done
command -v tmux > /dev/null || { echo "FAIL: test_monitor needs tmux (scripts/install-deps)" >&2; exit 1; }

sock=$tmp/ctl.sock
mkdir "$tmp/run"
cat > "$tmp/gw.ini" <<EOF
[gateway]
name = mon-test
control = $sock
include = $ROOT/configs/vehicles/demo-ev.ini

[bus vehicle]
interface = replay:$ROOT/configs/vehicles/demo-drive.log,speed=1
fd = yes
dbc = $ROOT/configs/vehicles/demo-ev.dbc

[bus rig]
interface = null
fd = yes

[route r]
from = vehicle
to = rig

[rule monitor-gear-park]
ref = test: violated once the gear leaves P
kind = assert
expect = gear == "P"

[evidence]
dir = $tmp/sessions
EOF

root_flag=
[ "$(id -u)" = 0 ] && root_flag=--allow-root
"$CANGATED" -c "$tmp/gw.ini" -f $root_flag > "$tmp/cangated.log" 2>&1 &
dpid=$!
n=50
while [ ! -S "$sock" ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
[ -S "$sock" ] || { cat "$tmp/cangated.log" >&2; echo "FAIL: cangated did not start" >&2; exit 1; }

# ------------------------------------------------------------ the screen
tmux new-session -d -s "$pane" -x 80 -y 24 "$CANGATE monitor -s $sock; echo monitor-exited \$?; sleep 30"
expect_screen "header" "^ cangate monitor +mon-test .* REC "
expect_screen "bus line" "^vehicle +up +rx +[0-9]+/s"
expect_screen "violated rule with value and margin" \
	"^  monitor-gear-park +VIOLATED now +value 3 +margin -?[0-9]" 8
expect_screen "rule counts" "^RULES [0-9]+: 1 violated now"
expect_screen "a signal with its value-table name" "^  gear +3 \(D\) +vehicle"
tmux send-keys -t "$pane" m
expect_screen "mark prompt" "^mark text: _"
tmux send-keys -t "$pane" -l "brake test 1"
tmux send-keys -t "$pane" Enter
expect_screen "mark recorded" "^mark recorded at [0-9]+\.[0-9]{6} \(after frames\.log line [0-9]+\)"
expect_screen "the mark among the events" "^  [0-9:.]+ mark +brake test 1"
tmux send-keys -t "$pane" / V e h S p d
expect_screen "filter as typed (the alias of it too)" "^SIGNALS  filter: VehSpd  \(2 of 2\)"
expect_screen "filtered alias" "^  speed +[0-9.]+ km/h +vehicle"
expect_screen "filtered signal" "^  ESC_Status\.VehSpd +[0-9.]+ km/h +vehicle"
# a reload (SIGHUP) gives the daemon a new config: the view goes on
kill -HUP "$dpid"
sleep 0.3
tmux capture-pane -p -t "$pane" | head -n 1 > "$tmp/before"
sleep 0.5
expect_screen "after a reload" "^  ESC_Status\.VehSpd +[0-9.]+ km/h +vehicle"
tmux capture-pane -p -t "$pane" | head -n 1 > "$tmp/after"
if cmp -s "$tmp/before" "$tmp/after"; then bad "no update after a reload"; else ok; fi
tmux send-keys -t "$pane" Enter p
expect_screen "pause" "\[PAUSED\]"
tmux capture-pane -p -t "$pane" | head -n 1 > "$tmp/frozen1"
sleep 0.5
tmux capture-pane -p -t "$pane" | head -n 1 > "$tmp/frozen2"
if cmp -s "$tmp/frozen1" "$tmp/frozen2"; then ok; else bad "paused screen changed"; fi
tmux send-keys -t "$pane" p
tmux send-keys -t "$pane" q
expect_screen "q quits with status 0" "^monitor-exited 0\$" 3
tmux kill-session -t "$pane" 2>/dev/null

# ------------------------------------------------------------ plain lines
timeout 2.5 "$CANGATE" monitor -s "$sock" --filter gear > "$tmp/plain" 2>&1
lines=$(wc -l < "$tmp/plain")
if [ "$lines" -ge 2 ] && [ "$lines" -le 4 ]; then ok; else bad "plain mode: $lines lines in 2.5 s"; fi
check "plain line" "mon-test recording \| vehicle up rx [0-9]+/s .*\| rules [0-9]+: 1 violated now.*\| gear=3 \(D\)" "$tmp/plain"

# ------------------------------------------------------------ watch
timeout 2 "$CANGATE" watch -s "$sock" gear ESC_Status.VehSpd > "$tmp/watch" 2>&1
check "watch: gear with its name" "^[0-9]+\.[0-9]{6} gear 3 D$" "$tmp/watch"
check "watch: a Message.Signal" "^[0-9]+\.[0-9]{6} ESC_Status\.VehSpd [0-9.]+$" "$tmp/watch"
if [ "$(grep -c ' gear ' "$tmp/watch")" = 1 ]; then ok; else bad "watch: gear printed again without a change: $(cat "$tmp/watch")"; fi
"$CANGATE" watch -s "$sock" geer > "$tmp/out" 2>&1
rc=$?
[ $rc = 2 ] && ok || bad "watch of an unknown signal: exit $rc"
check "did you mean" "^cangate watch: unknown signal or alias 'geer' \(did you mean 'gear'\?\)$" "$tmp/out"

# ------------------------------------------------------------ subscribe rates
# snaps ARG SECONDS: snapshot lines a raw `subscribe rows=1 ARG` gets in
# SECONDS after its first one (or the daemon's error line)
snaps() {
	python3 - "$sock" "$1" "$2" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(("subscribe rows=1 %s\n" % sys.argv[2]).encode())
buf = b""
while b"\n" not in buf:
    buf += s.recv(65536)
first, buf = buf.split(b"\n", 1)
if first.startswith(b'{"error"'):
    print(first.decode())
    sys.exit(0)
n = buf.count(b"\n")
end = time.monotonic() + float(sys.argv[3])
s.settimeout(0.05)
while time.monotonic() < end:
    try:
        data = s.recv(65536)
    except socket.timeout:
        continue
    if not data:
        break
    n += data.count(b"\n")
print(n)
EOF
}
n1=$(snaps hz=1 3)
n2=$(snaps hz=2 3)
n10=$(snaps "" 3)
# on ticks shared with the other subscribers: 3 (+-1) and 6 (+-1) in 3 s;
# the default is the most, 10 a second
if [ "$n1" -ge 2 ] && [ "$n1" -le 4 ]; then ok; else bad "hz=1: $n1 snapshots in 3 s"; fi
if [ "$n2" -ge 5 ] && [ "$n2" -le 7 ]; then ok; else bad "hz=2: $n2 snapshots in 3 s"; fi
if [ "$n10" -ge 20 ] && [ "$n10" -le 32 ]; then ok; else bad "default rate: $n10 snapshots in 3 s"; fi
snaps hz=0 1 > "$tmp/out"
check "hz=0 refused" "^\{\"error\":\"subscribe: hz must be 1\.\.10 \(snapshots a second\), not '0'\"\}$" "$tmp/out"
snaps hz=fast 1 > "$tmp/out"
check "hz=fast refused" "^\{\"error\":\"subscribe: hz must be 1\.\.10 .*not 'fast'\"\}$" "$tmp/out"

# ------------------------------------------------------------ status, mark, session
"$CANGATE" status -s "$sock" > "$tmp/status"
check "status: rule table" "^RULE +STATE +SO FAR +VIOL" "$tmp/status"
check "status: violated rule" "^monitor-gear-park +violated +FAIL +[1-9][0-9]* +3 \(-3\)$" "$tmp/status"
"$CANGATE" status -s "$sock" --json > "$tmp/status.json"
check "status --json: rule state" '"rules":\[.*\{"rule":"monitor-gear-park","kind":"assert","state":"violated","verdict":"FAIL","violations":[1-9][0-9]*,"worst":3,"margin":-3\}' "$tmp/status.json"
CANGATE_CONTROL=$tmp/other.sock "$CANGATE" status --all > "$tmp/all"
check "status --all: the instance" "^== $sock\$" "$tmp/all"
check "status --all: its table" "^gateway mon-test " "$tmp/all"

"$CANGATE" mark -s "$sock" lap two > "$tmp/mark"
check "mark output" "^mark recorded at [0-9]+\.[0-9]{6} \(after frames\.log line [0-9]+\)$" "$tmp/mark"
line=$(sed -n 's/.*frames\.log line \([0-9]*\).*/\1/p' "$tmp/mark")
"$CANGATE" session -s "$sock" stop > "$tmp/stop"
b=$(sed -n 's/^bundle //p' "$tmp/stop")
if [ -n "$b" ] && [ -f "$b/verdicts.json" ]; then ok; else bad "session stop: no bundle in: $(cat "$tmp/stop")"; fi
check "session stop: verdicts" "^verdicts: [0-9]+ PASS, [1-9][0-9]* FAIL, [0-9]+ NOT_EXERCISED, [0-9]+ INCONCLUSIVE$" "$tmp/stop"
fails=$(tr '{' '\n' < "$b/verdicts.json" | grep -c '"verdict":"FAIL"')
check "session stop: the FAIL count of verdicts.json" "^verdicts: .* $fails FAIL," "$tmp/stop"
# the mark follows frame line $line in that bundle
if [ -n "$line" ] && [ "$(wc -l < "$b/frames.log")" -ge "$line" ]; then ok; else bad "mark line $line beyond frames.log"; fi
"$CANGATE" session -s "$sock" start > "$tmp/start"
nb=$(sed -n 's/^bundle //p' "$tmp/start")
if [ -n "$nb" ] && [ "$nb" != "$b" ] && [ -d "$nb" ]; then ok; else bad "session start: $(cat "$tmp/start")"; fi

# ------------------------------------------------------------ a slow client
# Subscribes and never reads: dropped once its buffer is full, counted.
python3 - "$sock" > "$tmp/slow" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b"subscribe rows=1000\n")
time.sleep(15)
EOF
slow=$!
n=150
while [ $n -gt 0 ]; do
	"$CANGATE" status -s "$sock" --json > "$tmp/st.json"
	grep -q '"subscribers_dropped":1' "$tmp/st.json" && break
	sleep 0.1
	n=$((n - 1))
done
check "slow subscriber dropped and counted" '"subscribers_dropped":1' "$tmp/st.json"
kill "$slow" 2>/dev/null
wait "$slow" 2>/dev/null
check "the drop is logged" "dropping a subscriber that does not keep up" "$tmp/cangated.log"
kill -0 "$dpid" 2>/dev/null && ok || bad "cangated died"

# ------------------------------------------------------------ socket errors
"$CANGATE" status -s "$tmp/none.sock" > "$tmp/out" 2>&1
check "no such socket" "^cangate: no such socket: $tmp/none.sock \(is cangated running\?\)$" "$tmp/out"
"$CANGATE" monitor -s "$tmp/gw.ini" > "$tmp/out" 2>&1
check "not a socket" "^cangate: $tmp/gw.ini is not a socket$" "$tmp/out"
# a daemon that accepts and never answers (stopped, wedged): an error, not
# a hung script
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
c = s.accept()[0]
time.sleep(60)' "$tmp/mute.sock" &
mute=$!
n=50
while [ ! -S "$tmp/mute.sock" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
rc=0
"$CANGATE" status -s "$tmp/mute.sock" > "$tmp/out" 2>&1 || rc=$?
check "no reply: one line" "^cangate status: no reply from $tmp/mute.sock within 10 s \(is cangated stopped or overloaded\?\)$" "$tmp/out"
[ "$rc" = 2 ] && ok || bad "no reply: exit status $rc, not 2"
kill "$mute" 2>/dev/null
wait "$mute" 2>/dev/null

echo "test_monitor: $checks checks, $failures failed"
[ "$failures" = 0 ]
