# tests/integration/lib.sh: helpers for the vcan integration tests.
# Source it first thing:   . "$(dirname "$0")/lib.sh"
# POSIX sh (dash in the VM and on Debian hosts). Tests run as root on a
# kernel with can, can-raw, can-gw and vcan; tests/integration/run gives each
# one fresh vcan0..vcan3 (kernel default MTU 72: FD-capable) and no cangw rules.
#
# Everything started with spawn, start_candump or start_cangated is killed
# when the test exits; add more cleanup with at_exit 'CMD'.  Don't set your
# own EXIT trap: it would replace this one.

# Scripts outside tests/integration (bench-gateway) set CANGATE_REPO first.
# shellcheck disable=SC2034 # the variables below are for the tests
REPO=${CANGATE_REPO:-$(cd "$(dirname "$0")/../.." && pwd -P)}
BUILD=${BUILD:-build}
CANGATED=$REPO/$BUILD/cangated
CANGATE=$REPO/$BUILD/cangate
# Scratch dir of this test, removed at exit (the runner sets TEST_TMP).
if [ -z "${TEST_TMP:-}" ]; then
	TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cgtest.XXXXXX")
	_LIB_RM_TMP=$TEST_TMP
fi
_LIB_PIDS=
_LIB_AT_EXIT=
# In the VM (TCG) starting a dynamically linked program costs 3-4 times what
# the static busybox does (20-100 ms): the polling helpers use busybox there.
_BB=
[ "${CANGATE_IN_VM:-0}" = 1 ] && [ -x /bin/busybox ] && _BB=/bin/busybox
# candump's receive buffer: its default drops frames at full speed.
CANDUMP_RCVBUF=33554432

_lib_cleanup() {
	_lib_rc=$?
	set +e
	[ -n "$_LIB_AT_EXIT" ] && eval "$_LIB_AT_EXIT"
	for _p in $_LIB_PIDS; do
		kill -TERM "$_p" 2>/dev/null
	done
	for _p in $_LIB_PIDS; do
		_lib_reap "$_p" 40 || kill -KILL "$_p" 2>/dev/null
	done
	[ -n "${_LIB_RM_TMP:-}" ] && rm -rf "$_LIB_RM_TMP"
	exit $_lib_rc
}
trap _lib_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# at_exit 'CMD': run CMD (eval'd) when the test exits, before processes are killed.
at_exit() { _LIB_AT_EXIT="$_LIB_AT_EXIT
$1"; }

# _lib_reap PID TICKS: true once PID has exited (reaped if our child; its
# status in $_LIB_STATUS) within TICKS x 50 ms.
_lib_reap() {
	_n=0
	while kill -0 "$1" 2>/dev/null; do
		# A zombie child still answers kill -0: wait reaps it below.
		_st=
		read -r _st 2>/dev/null < "/proc/$1/stat"
		_st=${_st##*) }
		[ "${_st%% *}" = Z ] && break
		[ "$_n" -ge "$2" ] && return 1
		$_BB sleep 0.05
		_n=$((_n + 1))
	done
	wait "$1" 2>/dev/null
	_LIB_STATUS=$?
	return 0
}

info() { echo "# $*"; }

# fail MSG: end the test as failed.
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-value}: expected '$1', got '$2'"
}

# assert_ne UNEXPECTED ACTUAL [WHAT]
assert_ne() {
	[ "$1" != "$2" ] || fail "${3:-value}: got '$2', which it must not be"
}

# assert_ge MIN ACTUAL [WHAT]: integers, ACTUAL >= MIN.
assert_ge() {
	[ "$2" -ge "$1" ] 2>/dev/null || fail "${3:-value}: expected at least $1, got '$2'"
}

# assert_grep PATTERN FILE [WHAT]: FILE has a line matching the ERE.
assert_grep() {
	grep -Eq -- "$1" "$2" || fail "${3:-$2}: no line matches '$1'"
}

# wait_until 'CMD' [TIMEOUT_S]: poll CMD (eval'd) every 50 ms until it
# succeeds; false after TIMEOUT_S (default 10).  Use: wait_until '...' 5 || fail ...
wait_until() {
	_w_cmd=$1
	_w_left=$(( ${2:-10} * 20 ))
	while ! eval "$_w_cmd"; do
		[ "$_w_left" -le 0 ] && { echo "# wait_until timed out: $_w_cmd" >&2; return 1; }
		$_BB sleep 0.05
		_w_left=$((_w_left - 1))
	done
	return 0
}

# vcan_up NAME [fd]: (re)create vcan NAME, classic (MTU 16) or CAN FD (MTU 72).
vcan_up() {
	ip link del "$1" 2>/dev/null || true # absent is fine; set -e must not end the test
	ip link add "$1" type vcan || fail "cannot create vcan $1"
	if [ "${2:-}" = fd ]; then
		ip link set "$1" mtu 72
	else
		ip link set "$1" mtu 16
	fi || fail "cannot set the MTU of $1"
	ip link set "$1" up || fail "cannot bring $1 up"
}

# vcan_down NAME: remove it (sockets bound to it see ENODEV / "network down").
vcan_down() { ip link del "$1" 2>/dev/null || true; }

# rcv_count IFACE: sockets' receive filters registered on IFACE in the kernel
# (raw sockets, cangw rules: every line of /proc/net/can/rcvlist_*).
rcv_count() {
	$_BB awk -v d="$1" '$1 == d && NF >= 7 { n++ } END { print n + 0 }' \
		/proc/net/can/rcvlist_all /proc/net/can/rcvlist_fil /proc/net/can/rcvlist_inv \
		/proc/net/can/rcvlist_sff /proc/net/can/rcvlist_eff
}

# wait_for_rcv IFACE [MIN [TIMEOUT_S]]: wait until at least MIN (default 1)
# receive filters are bound on IFACE: a receiver is listening, without sleeping.
wait_for_rcv() {
	wait_until "[ \$(rcv_count $1) -ge ${2:-1} ]" "${3:-10}" ||
		fail "no receiver bound on $1 (rcv_count $(rcv_count "$1") < ${2:-1})"
}

# spawn CMD [ARG...]: start CMD in the background (killed at exit); its pid
# is in $SPAWN_PID.  Redirect its output yourself: spawn prog >log 2>&1
spawn() {
	"$@" &
	SPAWN_PID=$!
	_LIB_PIDS="$_LIB_PIDS $SPAWN_PID"
}

# stop PID [TIMEOUT_S]: SIGTERM, wait for exit (SIGKILL after TIMEOUT_S,
# default 5); returns the process' exit status.
stop() {
	kill -TERM "$1" 2>/dev/null
	if _lib_reap "$1" $(( ${2:-5} * 20 )); then
		return $_LIB_STATUS
	fi
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	echo "# stop: $1 needed SIGKILL" >&2
	return 137
}
# start_candump OUTFILE IFACE...: candump -L (log format, live) of IFACE(s)
# into OUTFILE with a 32 MB receive buffer and drop monitoring; returns once
# its sockets are bound.  Pid in $CANDUMP_PID; stop it with: stop $CANDUMP_PID
start_candump() {
	_c_out=$1
	shift
	_c_before=
	for _c_if in "$@"; do
		_c_before="$_c_before $_c_if=$(rcv_count "$_c_if")"
	done
	spawn candump -r "$CANDUMP_RCVBUF" -d -L "$@" >"$_c_out" 2>"$_c_out.err"
	CANDUMP_PID=$SPAWN_PID
	for _c_kv in $_c_before; do
		wait_for_rcv "${_c_kv%%=*}" $(( ${_c_kv#*=} + 1 ))
	done
}

# start_candump_ts OUTFILE IFACE...: like start_candump, absolute timestamps
# in the human format (candump -t a): for latency measurements.
start_candump_ts() {
	_c_out=$1
	shift
	_c_before=
	for _c_if in "$@"; do
		_c_before="$_c_before $_c_if=$(rcv_count "$_c_if")"
	done
	spawn candump -r "$CANDUMP_RCVBUF" -d -t a "$@" >"$_c_out" 2>"$_c_out.err"
	CANDUMP_PID=$SPAWN_PID
	for _c_kv in $_c_before; do
		wait_for_rcv "${_c_kv%%=*}" $(( ${_c_kv#*=} + 1 ))
	done
}

# count_frames FILE [IFACE]: frames in a candump -L log (DROPCOUNT lines and
# other noise are not counted), optionally only those of IFACE.
count_frames() {
	$_BB awk -v d="${2:-}" '/^\(/ && (d == "" || $2 == d) { n++ } END { print n + 0 }' "$1"
}

# wait_frames FILE N [TIMEOUT_S]: wait until a candump log has N frames.
wait_frames() {
	wait_until "[ \$(count_frames $1) -ge $2 ]" "${3:-10}" ||
		fail "$1: $(count_frames "$1") frames, expected $2"
}

# drop_count FILE: frames candump itself dropped (its -d DROPCOUNT lines).
drop_count() {
	awk '/^DROPCOUNT/ { sub(/\)$/, "", $NF); n = $NF } END { print n + 0 }' "$1"
}

# payloads FILE [IFACE]: the ID#DATA field of each frame, no timestamps or
# interface names: what two logs are compared on.
payloads() {
	awk -v d="${2:-}" '/^\(/ && (d == "" || $2 == d) { print $3 }' "$1"
}

# compare_payloads LOG_A LOG_B: true when both logs carry the same frames
# (ID, flags, data) in the same order; else prints the first differences.
compare_payloads() {
	payloads "$1" > "$TEST_TMP/.cmp_a"
	payloads "$2" > "$TEST_TMP/.cmp_b"
	if cmp -s "$TEST_TMP/.cmp_a" "$TEST_TMP/.cmp_b"; then
		return 0
	fi
	echo "# payloads differ: $1 ($(wc -l < "$TEST_TMP/.cmp_a") frames) vs $2 ($(wc -l < "$TEST_TMP/.cmp_b") frames)" >&2
	diff "$TEST_TMP/.cmp_a" "$TEST_TMP/.cmp_b" | head -n 10 >&2
	return 1
}

# bundle_recheck BUNDLE CONFIG: fail unless the bundle's violations.jsonl
# equals `cangate check --end` (its manifest's end) of its frames.log under
# CONFIG (its own copy in config/) byte for byte: live == offline.
bundle_recheck() {
	_r_end=$(sed -n 's/.*"end_ns": *\([0-9]*\).*/\1/p' "$1/manifest.json")
	[ -n "$_r_end" ] || fail "no end_ns in $1/manifest.json"
	_r_end=$(echo "$_r_end" | sed 's/\(.*\)\(.........\)$/\1.\2/')
	_r_rc=0
	"$CANGATE" check --end "$_r_end" -c "$2" "$1/frames.log" \
		> "$TEST_TMP/check.jsonl" 2> "$TEST_TMP/check.err" || _r_rc=$?
	[ "$_r_rc" -le 1 ] || { cat "$TEST_TMP/check.err" >&2; fail "cangate check exit $_r_rc"; }
	cmp -s "$TEST_TMP/check.jsonl" "$1/violations.jsonl" || {
		diff "$TEST_TMP/check.jsonl" "$1/violations.jsonl" | head -n 8 >&2
		# the frames around the first line live named differently
		_r_l=$(diff "$TEST_TMP/check.jsonl" "$1/violations.jsonl" |
			sed -n 's/^> .*"lines":\[[0-9]*,\([0-9]*\)\].*/\1/p' | head -n 1)
		[ -z "$_r_l" ] || awk -v l="$_r_l" 'NR >= l - 15 && NR <= l + 3 { print "# " NR ": " $0 }' \
			"$1/frames.log" >&2
		fail "$1: live violations differ from cangate check --end of its frames.log"
	}
}

# cangw_handled SRC DST: the "N handled" counter of the kernel cangw rule.
cangw_handled() {
	cangw -L 2>/dev/null | awk -v s="$1" -v d="$2" '
		{ for (i = 1; i < NF; i++) { if ($i == "-s") src = $(i + 1); if ($i == "-d") dst = $(i + 1) } }
		src == s && dst == d { for (i = 1; i < NF; i++) if ($(i + 1) == "handled") print $i; exit }'
}

# cangated_root_flag: --allow-root when cangated has it (tests run as root
# and cangated refuses root without it or a [gateway] user).
cangated_root_flag() {
	"$CANGATED" -h 2>&1 | grep -q -- --allow-root && echo --allow-root
	return 0
}

# start_cangated CONFIG [IFACE...]: run build/cangated -c CONFIG -f
# [--allow-root] in the background (output in $TEST_TMP/cangated.log, pid in
# $CANGATED_PID) and wait until it has bound a receiver on each IFACE.
start_cangated() {
	_g_conf=$1
	shift
	[ -x "$CANGATED" ] || fail "$CANGATED not built"
	_g_before=
	for _g_if in "$@"; do
		_g_before="$_g_before $_g_if=$(rcv_count "$_g_if")"
	done
	# shellcheck disable=SC2046 # the flag is one word or none
	spawn "$CANGATED" -c "$_g_conf" -f $(cangated_root_flag) >>"$TEST_TMP/cangated.log" 2>&1
	CANGATED_PID=$SPAWN_PID
	for _g_kv in $_g_before; do
		wait_until "[ \$(rcv_count ${_g_kv%%=*}) -gt ${_g_kv#*=} ] || ! kill -0 $CANGATED_PID 2>/dev/null" 10 ||
			fail "cangated bound no receiver on ${_g_kv%%=*}"
		kill -0 "$CANGATED_PID" 2>/dev/null || {
			tail -n 20 "$TEST_TMP/cangated.log" >&2
			fail "cangated exited at start"
		}
	done
}
