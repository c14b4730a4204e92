#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Repeated crash/recover with user copy and two queues under REISSUE:
# a verifying fio survives two daemon crashes.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature USER_RECOVERY_REISSUE
_need_feature USER_COPY
q=1
[ "$(nproc)" -ge 2 ] && q=2
_create_file "$UBLK_TEST_DIR/backing" 128
_add_dev -t loop -q $q -u -r 1 -i 1 "$UBLK_TEST_DIR/backing" || _fail "add failed"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
_bg fio --name=verify --filename="$dev" --ioengine=io_uring --direct=1 \
	--rw=randwrite --bs=4k --iodepth=32 --size=48M --rate_iops=1000 \
	--verify=crc32c --verify_fatal=1 --do_verify=1 --numjobs=$q \
	--offset_increment=64M --group_reporting \
	--output-format=terse --terse-version=3 --output="$UBLK_TEST_DIR/fio.verify.out"
fio_pid=$BG_PID
for round in 1 2; do
	sleep 2
	kill -0 "$fio_pid" 2>/dev/null || _fail "fio finished before crash $round"
	old=$(_daemon_pid "$id")
	kill -9 "$old"
	_wait_pid_gone "$old" 20 || _fail "daemon survived kill -9 ($round)"
	_wait_state "$id" QUIESCED 30 || _fail "not QUIESCED ($round)"
	"$KUBLK" recover -n "$id" || _fail "recover $round failed"
	_wait_state "$id" LIVE 30 || _fail "not LIVE after recover $round"
done
for ((i = 0; i < 2000; i++)); do kill -0 "$fio_pid" 2>/dev/null || break; _sleep 0.1; done
kill -0 "$fio_pid" 2>/dev/null && _fail "fio did not finish"
wait "$fio_pid"
FIO_RC=$?
_parse_fio "$UBLK_TEST_DIR/fio.verify.out"
_check_fio verify write
_pass
