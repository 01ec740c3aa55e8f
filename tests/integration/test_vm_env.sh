#!/bin/sh
# The test environment itself: the lib.sh helpers give right answers on
# known input (a helper that always agrees would hide every gateway bug), and
# in the VM the guest has what tests rely on: a clock near the host's, a
# 2 MB /mnt/small that fills up, the built binaries' libraries.
# timeout: 60
set -eu
. "$(dirname "$0")/lib.sh"

info "log helpers on a known log"
cat > "$TEST_TMP/a.log" <<'EOF'
(1700000000.000001) vcan0 123#11223344
DROPCOUNT: dropped 3 CAN frames on 'vcan0' socket (total drops 3)
(1700000000.000002) vcan1 1ABCDE01##5AA
DROPCOUNT: dropped 2 CAN frames on 'vcan0' socket (total drops 5)
(1700000000.000003) vcan0 7FF#
EOF
assert_eq 3 "$(count_frames "$TEST_TMP/a.log")" "count_frames"
assert_eq 2 "$(count_frames "$TEST_TMP/a.log" vcan0)" "count_frames vcan0"
assert_eq 5 "$(drop_count "$TEST_TMP/a.log")" "drop_count"
assert_eq "123#11223344 1ABCDE01##5AA 7FF#" "$(payloads "$TEST_TMP/a.log" | tr '\n' ' ' | sed 's/ $//')" "payloads"
# Same frames, other timestamps and interfaces: equal.
sed 's/^(17/(18/; s/ vcan[01] / vcan3 /' "$TEST_TMP/a.log" > "$TEST_TMP/b.log"
compare_payloads "$TEST_TMP/a.log" "$TEST_TMP/b.log" || fail "compare_payloads: equal logs differ"
# One data byte changed, or one frame missing: different.
sed 's/123#11223344/123#11223345/' "$TEST_TMP/a.log" > "$TEST_TMP/c.log"
! compare_payloads "$TEST_TMP/a.log" "$TEST_TMP/c.log" 2>/dev/null || fail "compare_payloads missed a changed byte"
grep -v 7FF "$TEST_TMP/a.log" > "$TEST_TMP/d.log"
! compare_payloads "$TEST_TMP/a.log" "$TEST_TMP/d.log" 2>/dev/null || fail "compare_payloads missed a lost frame"

info "wait_until and assertions"
wait_until 'true' 1 || fail "wait_until true"
! wait_until 'false' 1 2>/dev/null || fail "wait_until false succeeded"
( assert_eq 1 2 "x" ) 2>/dev/null && fail "assert_eq 1 2 passed"
( assert_ge 5 4 "x" ) 2>/dev/null && fail "assert_ge 5 4 passed"
assert_ge 4 5 "assert_ge"

info "receiver counting and vcan MTUs"
assert_eq 0 "$(rcv_count vcan2)" "receivers on a fresh vcan2"
start_candump "$TEST_TMP/c2.log" vcan2
assert_eq 1 "$(rcv_count vcan2)" "receivers with candump"
cangw -A -s vcan2 -d vcan3 -e
assert_eq 2 "$(rcv_count vcan2)" "receivers with candump and a cangw rule"
stop "$CANDUMP_PID"
assert_eq 1 "$(rcv_count vcan2)" "receivers after candump stopped"
vcan_up vcan2 fd
assert_eq 72 "$(cat /sys/class/net/vcan2/mtu)" "FD MTU"
vcan_up vcan2
assert_eq 16 "$(cat /sys/class/net/vcan2/mtu)" "classic MTU"
assert_eq 72 "$(cat /sys/class/net/vcan0/mtu)" "MTU of the runner's vcan0"

for bin in "$CANGATED" "$CANGATE"; do
	[ -x "$bin" ] || continue
	if ldd "$bin" | grep -q 'not found'; then
		ldd "$bin" | grep 'not found' >&2
		fail "$bin: libraries missing"
	fi
done

if [ "${CANGATE_IN_VM:-0}" = 1 ]; then
	info "VM: clock, /mnt/small, shares"
	# cmd.sh was written on the host just before the boot.
	host_t=$(stat -c %Y "$CANGATE_RESULTS/cmd.sh")
	now=$(date +%s)
	[ "$now" -ge $((host_t - 5)) ] && [ "$now" -le $((host_t + 900)) ] ||
		fail "guest clock $now is not near the host's $host_t"
	assert_eq "$REPO" "$(cat "$CANGATE_RESULTS/repo-path")" "repo path"
	! touch "$REPO/.vmtest-rw" 2>/dev/null || fail "the repo is writable in the VM"
	df -k /mnt/small | awk 'NR == 2 { exit !($2 <= 2048) }' || fail "/mnt/small is not 2 MB"
	if dd if=/dev/zero of=/mnt/small/fill bs=64k count=64 2>"$TEST_TMP/dd.err"; then
		fail "4 MB fitted into /mnt/small"
	fi
	assert_grep 'No space left' "$TEST_TMP/dd.err" "dd error"
	rm -f /mnt/small/fill
	# Busybox must not shadow the real tools.
	ip -V | grep -q iproute2 || fail "ip is not iproute2's"
	date +%N | grep -Eq '^[0-9]{9}$' || fail "date is not GNU date"
fi
