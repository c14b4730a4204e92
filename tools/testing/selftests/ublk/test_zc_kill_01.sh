#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kill -9 of an --auto_zc daemon (no recovery) with I/O in flight, so the
# driver's automatic registrations are still in the dying ring: fio ends
# with errors instead of hanging, the disk goes away or fails I/O, del
# works, for the null and the loop target.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature AUTO_BUF_REG
_create_file "$UBLK_TEST_DIR/backing" 64
for spec in "null -d 64" "loop $UBLK_TEST_DIR/backing"; do
	# shellcheck disable=SC2086
	_add_dev -t $spec --auto_zc || _fail "add -t $spec --auto_zc failed"
	id=$UBLK_DEV_ID
	_bg fio --name=crash --filename="/dev/ublkb$id" --ioengine=io_uring \
		--direct=1 --rw=randrw --bs=16k --iodepth=32 --runtime=60 \
		--time_based --output="$UBLK_TEST_DIR/fio.crash.out"
	fio_pid=$BG_PID
	sleep 2
	kill -0 "$fio_pid" 2>/dev/null || _fail "fio ended before the kill ($spec)"
	pid=$(_daemon_pid "$id")
	kill -9 "$pid"
	_wait_pid_gone "$pid" 20 || _fail "daemon survived kill -9 ($spec)"
	for ((i = 0; i < 300; i++)); do kill -0 "$fio_pid" 2>/dev/null || break; _sleep 0.1; done
	kill -0 "$fio_pid" 2>/dev/null && _fail "fio hangs after the daemon died ($spec)"
	wait "$fio_pid" && _fail "fio saw no error after the daemon died ($spec)"
	for ((i = 0; i < 100; i++)); do [ -b "/dev/ublkb$id" ] || break; _sleep 0.1; done
	st=$(_dev_state "$id")
	[ "$st" = LIVE ] && [ -b "/dev/ublkb$id" ] &&
		_fail "disk present and LIVE without a daemon ($spec)"
	timeout 20 dd if="/dev/ublkb$id" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null &&
		_fail "read succeeded without a daemon ($spec)"
	timeout 60 "$KUBLK" del -n "$id" || _fail "del after crash failed ($spec)"
	_check_dev_gone "$id" || _fail "nodes left ($spec)"
	_log "$spec: --auto_zc crash without recovery ok (state was $st)"
done
_pass
