#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# USER_RECOVERY_FAIL_IO (-e 1): after kill -9 the device is FAIL_IO and
# I/O fails fast instead of queueing; recover restores LIVE with data intact.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio cmp
_need_feature USER_RECOVERY_FAIL_IO
_create_file "$UBLK_TEST_DIR/backing" 64
_add_dev -t loop -e 1 "$UBLK_TEST_DIR/backing" || _fail "add -e 1 failed"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
flags=$(_dev_field "$id" flags)
(( flags & (1 << 9) )) || _fail "USER_RECOVERY_FAIL_IO not granted ($flags)"
head -c $((8 << 20)) /dev/urandom >"$UBLK_TEST_DIR/pattern"
dd if="$UBLK_TEST_DIR/pattern" of="$dev" bs=1M oflag=direct 2>/dev/null || _fail "pattern write failed"
_bg fio --name=bg --filename="$dev" --ioengine=io_uring --direct=1 \
	--rw=randread --bs=4k --iodepth=16 --size=8M --runtime=30 --time_based \
	--output="$UBLK_TEST_DIR/fio.bg.out"
fio_pid=$BG_PID
sleep 2
old=$(_daemon_pid "$id")
kill -9 "$old"
_wait_pid_gone "$old" 20 || _fail "daemon survived kill -9"
_wait_state "$id" FAIL_IO 30 || _fail "device not FAIL_IO"
for ((i = 0; i < 300; i++)); do kill -0 "$fio_pid" 2>/dev/null || break; _sleep 0.1; done
kill -0 "$fio_pid" 2>/dev/null && _fail "fio still running while the device fails I/O"
wait "$fio_pid" && _fail "fio saw no error without a server"
timeout 20 dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null
rc=$?
[ $rc = 124 ] && _fail "read hangs in FAIL_IO state"
[ $rc = 0 ] && _fail "read succeeded in FAIL_IO state"
"$KUBLK" recover -n "$id" || _fail "recover failed"
_wait_state "$id" LIVE 30 || _fail "device not LIVE after recover"
cmp -n $((8 << 20)) "$dev" "$UBLK_TEST_DIR/pattern" || _fail "data lost across recovery"
_fio_verify_check "$dev" 16M --offset=16M
_pass
