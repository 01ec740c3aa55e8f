#!/bin/sh
# Privileges: as root, cangated refuses to start without --allow-root or a
# [gateway] user. With user = cangate it opens its sockets, then runs as
# that user and group (no way back to root): the control socket belongs to
# cangate:cangate (mode 0660), the evidence bundle is written as cangate, and
# a CAN interface that disappears is reopened without any privilege. The
# signing key (mode 0600, root's) is read before the drop: the session that
# starts after it, and one after a SIGHUP reload, are signed although the
# cangate user cannot read the key (so it cannot re-sign a bundle).
# timeout: 60
set -eu
. "$(dirname "$0")/lib.sh"

uid=$(awk -F: '$1 == "cangate" { print $3 }' /etc/passwd)
gid=$(awk -F: '$1 == "cangate" { print $4 }' /etc/passwd)
[ -n "$uid" ] || fail "no cangate user in /etc/passwd (the VM image has one)"

st() {
	tr '{' '\n' < "$TEST_TMP/st.json" | grep "^\"name\":\"$1\"" |
		grep -o "\"$2\":[0-9a-z\"]*" | head -n 1 | cut -d: -f2 | tr -d '"'
}
snap() { "$CANGATE" status -s "$TEST_TMP/control.sock" --json > "$TEST_TMP/st.json"; }

vcan_up vcan0
vcan_up vcan1
mkdir "$TEST_TMP/sessions"
chown "$uid:$gid" "$TEST_TMP/sessions"
chmod 755 "$TEST_TMP"
conf() {
	cat > "$TEST_TMP/gw.conf" <<EOC
[gateway]
name = priv
control = $TEST_TMP/control.sock
$1
[bus a]
interface = vcan0
[bus b]
interface = vcan1
[route r]
from = a
to = b
[evidence]
dir = $TEST_TMP/sessions
sign_key = $TEST_TMP/rig.key
EOC
	# the bundle copies the config: the dropped user must read it
	chmod 644 "$TEST_TMP/gw.conf"
}

"$CANGATE" keygen -o "$TEST_TMP/rig" > /dev/null
chmod 600 "$TEST_TMP/rig.key"
assert_eq "-rw------- 0" "$(ls -ln "$TEST_TMP/rig.key" | awk '{ print $1, $3 }')" "signing key: root's alone"

info "root without --allow-root or user: refused"
conf ""
rc=0
"$CANGATED" -c "$TEST_TMP/gw.conf" > "$TEST_TMP/refused.log" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status"
assert_grep "refusing to run as root" "$TEST_TMP/refused.log"
[ ! -e "$TEST_TMP/control.sock" ] || fail "control socket created before refusing"

info "user = cangate"
conf "user = cangate"
before0=$(rcv_count vcan0)
spawn "$CANGATED" -c "$TEST_TMP/gw.conf" -f > "$TEST_TMP/cangated.log" 2>&1
pid=$SPAWN_PID
wait_until "[ \$(rcv_count vcan0) -gt $before0 ] && [ -S $TEST_TMP/control.sock ]" 10 || {
	cat "$TEST_TMP/cangated.log" >&2
	fail "cangated did not start"
}
wait_until "grep -q 'running as user cangate' '$TEST_TMP/cangated.log'" 5 || fail "no privilege drop logged"
assert_eq "$uid $uid $uid $uid" "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' /proc/$pid/status)" "uids"
assert_eq "$gid $gid $gid $gid" "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' /proc/$pid/status)" "gids"
assert_eq "0000000000000000" "$(awk '/^CapEff:/ { print $2 }' /proc/$pid/status)" "effective capabilities"
assert_eq "srw-rw---- $uid $gid" "$(ls -ln "$TEST_TMP/control.sock" | awk '{ print $1, $3, $4 }')" "control socket"

start_candump "$TEST_TMP/out.log" vcan1
cansend vcan0 123#01
wait_frames "$TEST_TMP/out.log" 1 5
info "the rig interface goes away and comes back: reopened as cangate"
ip link del vcan1
wait_until "snap && [ \"\$(st b state)\" = down ]" 10 || fail "bus b not down"
ip link add vcan1 type vcan && ip link set vcan1 mtu 16 && ip link set vcan1 up
wait_until "snap && [ \"\$(st b state)\" = up ]" 10 || fail "bus b not reopened without privileges"
stop "$CANDUMP_PID" || true
start_candump "$TEST_TMP/out2.log" vcan1
cansend vcan0 456#02
wait_frames "$TEST_TMP/out2.log" 1 5
stop "$CANDUMP_PID"
assert_eq "456#02" "$(payloads "$TEST_TMP/out2.log" | tr -d '\n')" "forwarded after the reopen"
kill -HUP "$pid"
wait_until "grep -q '\"type\":\"reload\"' $TEST_TMP/sessions/*/events.jsonl" 10 || fail "no reload event"
if grep -q '"type":"reload","ok":false' "$TEST_TMP"/sessions/*/events.jsonl; then
	fail "reload failed: $(grep '"type":"reload"' "$TEST_TMP"/sessions/*/events.jsonl)"
fi
"$CANGATE" session -s "$TEST_TMP/control.sock" stop
"$CANGATE" session -s "$TEST_TMP/control.sock" start
stop "$pid" || fail "cangated exit status $? on SIGTERM"
n=0
for b in "$TEST_TMP"/sessions/*/; do
	n=$((n + 1))
	assert_eq "$uid" "$(ls -ln "$b/manifest.json" | awk '{ print $3 }')" "bundle owner"
	"$CANGATE" verify --pubkey "$TEST_TMP/rig.pub" "$b" > "$TEST_TMP/verify.out" || {
		cat "$TEST_TMP/verify.out" >&2
		fail "bundle $b does not verify with the key"
	}
	assert_grep "signature OK" "$TEST_TMP/verify.out"
done
# the reload rotates the session (one bundle per config), then stop/start
assert_eq 3 "$n" "bundles (before and after the reload, after the restart)"
