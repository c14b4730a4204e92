#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nbd target, the NBD server is killed while fio runs (zero copy, then copy
# mode): fio ends with I/O errors instead of hanging, new I/O fails with
# EIO, and del works.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio nbdkit
modes=("")
_have_feature SUPPORT_ZERO_COPY && modes=("-z" "")
for m in "${modes[@]}"; do
	_nbd_port
	_start_nbdkit memory 32M
	# shellcheck disable=SC2086
	_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" $m ||
		_fail "add -t nbd $m failed"
	id=$UBLK_DEV_ID
	fio --name=kill --filename="/dev/ublkb$id" --ioengine=io_uring \
		--direct=1 --rw=randrw --bsrange=4k-256k --iodepth=16 \
		--runtime=30 --time_based >"$UBLK_TEST_DIR/fio.out" 2>&1 &
	fio_pid=$!
	_UBLK_PIDS+=("$fio_pid")
	sleep 2
	kill -9 "$NBD_SRV_PID"
	_wait_pid_gone "$fio_pid" 20 || _fail "fio hangs after the server died ($m)"
	wait "$fio_pid" && _fail "fio did not see errors after the server died ($m)"
	dd if="/dev/ublkb$id" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null &&
		_fail "read after the server died succeeded ($m)"
	_del_dev "$id" || _fail "del after the server died failed ($m)"
	_check_dev_gone "$id" || _fail "nodes left after del ($m)"
	grep -q "nbd connection lost" "$(_daemon_log "$id")" ||
		_fail "no 'connection lost' in the daemon log ($m)"
	_log "mode '$m': I/O failed, del ok"
done
_pass
