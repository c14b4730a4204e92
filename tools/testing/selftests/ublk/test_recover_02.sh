#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# USER_RECOVERY_REISSUE (-r 1 -i 1): fio with crc32c verify runs across
# kill -9 of the daemon and recovery, and must pass: in-flight I/O is reissued.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature USER_RECOVERY_REISSUE
_create_file "$UBLK_TEST_DIR/backing" 128
_add_dev -t loop -r 1 -i 1 "$UBLK_TEST_DIR/backing" || _fail "add -r 1 -i 1 failed"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
# rate-limited, so the crash lands in the middle of the write phase
_bg fio --name=verify --filename="$dev" --ioengine=io_uring --direct=1 \
	--rw=randwrite --bs=4k --iodepth=16 --size=32M --rate_iops=1500 \
	--verify=crc32c --verify_fatal=1 --do_verify=1 \
	--output-format=terse --terse-version=3 --output="$UBLK_TEST_DIR/fio.verify.out"
fio_pid=$BG_PID
sleep 2
kill -0 "$fio_pid" 2>/dev/null || _fail "fio finished before the crash, test is void"
old=$(_daemon_pid "$id")
kill -9 "$old"
_wait_pid_gone "$old" 20 || _fail "daemon survived kill -9"
_wait_state "$id" QUIESCED 30 || _fail "device not QUIESCED"
"$KUBLK" recover -n "$id" || _fail "recover failed"
_wait_state "$id" LIVE 30 || _fail "device not LIVE after recover"
for ((i = 0; i < 1500; i++)); do kill -0 "$fio_pid" 2>/dev/null || break; _sleep 0.1; done
kill -0 "$fio_pid" 2>/dev/null && _fail "fio did not finish after recovery"
wait "$fio_pid"
FIO_RC=$?
_parse_fio "$UBLK_TEST_DIR/fio.verify.out"
_check_fio verify write
_pass
