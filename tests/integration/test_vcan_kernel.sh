#!/bin/sh
# The kernel side the gateway tests stand on: vcan delivers frames to local
# sockets, can-gw forwards classic frames exactly (count and payload) and CAN
# FD frames only on a route created with -X.  If this fails, every
# test_gateway_* failure is suspect.
# timeout: 60
set -eu
. "$(dirname "$0")/lib.sh"

N=1000

info "cansend on vcan0 reaches candump"
start_candump "$TEST_TMP/single.log" vcan0
cansend vcan0 123#DEADBEEF
wait_frames "$TEST_TMP/single.log" 1 5
stop "$CANDUMP_PID"
assert_eq 1 "$(count_frames "$TEST_TMP/single.log")" "frames seen"
assert_eq "123#DEADBEEF" "$(payloads "$TEST_TMP/single.log")" "frame"

info "cangw vcan0 -> vcan1 forwards $N cangen frames exactly"
cangw -A -s vcan0 -d vcan1 -e
start_candump "$TEST_TMP/in.log" vcan0
start_candump "$TEST_TMP/out.log" vcan1
# The burst fills socket queues as fast as the kernel allows.
cangen -g 0 -I i -L 8 -D i -n "$N" vcan0
wait_frames "$TEST_TMP/out.log" "$N" 20
# Anything extra would arrive right behind the last frame.
sleep 0.2
stop "$CANDUMP_PID"
assert_eq 0 "$(drop_count "$TEST_TMP/out.log")" "candump drops on vcan1"
assert_eq "$N" "$(count_frames "$TEST_TMP/out.log" vcan1)" "frames on vcan1"
assert_eq "$N" "$(count_frames "$TEST_TMP/in.log" vcan0)" "frames on vcan0"
assert_eq "$N" "$(cangw_handled vcan0 vcan1)" "cangw handled"
compare_payloads "$TEST_TMP/in.log" "$TEST_TMP/out.log" || fail "vcan1 frames differ from vcan0's"
# cangen -I i -D i: IDs and data count up from 0, so the last one is known.
assert_eq "3E7#E703000000000000" "$(payloads "$TEST_TMP/out.log" | tail -n 1)" "last frame"

info "CAN FD: a route without -X drops FD frames, one with -X forwards them"
data=$(i=0; while [ $i -lt 64 ]; do printf '%02X' $i; i=$((i + 1)); done)
start_candump "$TEST_TMP/fd1.log" vcan1
cansend vcan0 "1ABCDE01##1$data"
cangw -A -s vcan2 -d vcan3 -e -X
start_candump "$TEST_TMP/fd3.log" vcan3
cansend vcan2 "1ABCDE02##1$data"
wait_frames "$TEST_TMP/fd3.log" 1 5
sleep 0.2
# Received FD frames carry the FDF flag: sent as ##1, seen as ##5.
assert_eq "1ABCDE02##5$data" "$(payloads "$TEST_TMP/fd3.log")" "FD frame on vcan3"
assert_eq 0 "$(count_frames "$TEST_TMP/fd1.log")" "FD frames through the classic-only route"
assert_eq 1 "$(cangw_handled vcan2 vcan3)" "FD route handled"
