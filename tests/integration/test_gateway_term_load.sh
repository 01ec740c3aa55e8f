#!/bin/sh
# SIGTERM in the middle of a burst: cangated exits 0 promptly, closes its
# evidence session (manifest closed, bundle verifies, session_stop event),
# and every status snapshot taken under load satisfies the route invariant
# in = forwarded + filtered + rate_limited + dropped + queued exactly.
# timeout: 90
set -eu
. "$(dirname "$0")/lib.sh"

st() {
	tr '{' '\n' < "$TEST_TMP/st.json" | grep "^\"name\":\"$1\"" |
		grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2
}
snap() { "$CANGATE" status -s "$TEST_TMP/control.sock" --json > "$TEST_TMP/st.json"; }
invariant() {
	assert_eq "$(st r in)" "$(( $(st r forwarded) + $(st r filtered) + $(st r rate_limited) + $(st r dropped) + $(st r queued) ))" "route invariant ($1)"
}

vcan_up vcan0
vcan_up vcan1
mkdir "$TEST_TMP/sessions"
cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = term
control = $TEST_TMP/control.sock
[bus a]
interface = vcan0
[bus b]
interface = vcan1
[route r]
from = a
to = b
block = 0x7FF
rate = 0x100 5ms
[evidence]
dir = $TEST_TMP/sessions
procedure = term
EOC
start_cangated "$TEST_TMP/gw.conf" vcan0 vcan1
spawn cangen -g 0 -I r -L 8 -D r -n 200000 vcan0
GEN=$SPAWN_PID
wait_until "snap && [ \$(st r in) -gt 2000 ]" 20 || fail "no traffic through the gateway"
for i in 1 2 3; do
	snap
	invariant "snapshot $i under load"
done
t0=$(date +%s)
stop "$CANGATED_PID" 20 || fail "cangated exit status $? on SIGTERM under load"
t1=$(date +%s)
[ $((t1 - t0)) -le 10 ] || fail "shutdown took $((t1 - t0)) s"
stop "$GEN" || true
[ ! -e "$TEST_TMP/control.sock" ] || fail "control socket left behind"
b=$(ls -d "$TEST_TMP"/sessions/*/)
assert_grep '"status": *"closed"' "$b/manifest.json"
assert_grep '"type":"session_stop"' "$b/events.jsonl"
"$CANGATE" verify "$b" > "$TEST_TMP/verify.out" || { cat "$TEST_TMP/verify.out" >&2; fail "bundle does not verify"; }
# every frame in frames.log is a received one (R) or one we sent (T);
# we never send more than we received
r=$(grep -c ' R$' "$b/frames.log" || true)
t=$(grep -c ' T$' "$b/frames.log" || true)
[ "$r" -ge "$(st r in)" ] || fail "frames.log has $r received frames, status said $(st r in) earlier"
[ "$t" -le "$r" ] || fail "more sent ($t) than received ($r)"
info "recorded $r received, $t sent"
