#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nbd target with USER_RECOVERY_REISSUE (-r 1 -i 1, zero copy when
# available): the NBD
# server is killed under a read load; the daemon exits on the lost
# connection, the device waits QUIESCED with the I/O held; the server comes
# back on the same file and port, 'kublk recover' reconnects, the reads
# finish without errors and the data is intact.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio nbdkit cmp
_need_feature USER_RECOVERY
mode=()
_have_feature SUPPORT_ZERO_COPY && mode=(-z)
_create_file "$UBLK_TEST_DIR/export.img" 4
_nbd_port
_start_nbdkit file file="$UBLK_TEST_DIR/export.img"
_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" -r 1 -i 1 "${mode[@]}" ||
	_fail "add -t nbd -r 1 -i 1 failed"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
head -c $((2 << 20)) /dev/urandom >"$UBLK_TEST_DIR/pattern"
dd if="$UBLK_TEST_DIR/pattern" of="$dev" bs=1M oflag=direct 2>/dev/null ||
	_fail "pattern write failed"

_bg fio --name=bg --filename="$dev" --ioengine=io_uring --direct=1 \
	--rw=randread --bs=4k --iodepth=4 --size=2M --runtime=8 --time_based \
	--output="$UBLK_TEST_DIR/fio.bg.out"
fio_pid=$BG_PID
sleep 2
old=$(_daemon_pid "$id")
kill -9 "$NBD_SRV_PID"
_wait_pid_gone "$old" 20 || _fail "daemon did not exit when the server died"
_wait_state "$id" QUIESCED 30 || _fail "device did not become QUIESCED"
grep -q "recover the device" "$(_daemon_log "$id")" ||
	_fail "daemon log does not say why it exited"
_start_nbdkit file file="$UBLK_TEST_DIR/export.img"
"$KUBLK" recover -n "$id" || _fail "recover failed"
_wait_state "$id" LIVE 30 || _fail "device not LIVE after recover"
_wait_pid_gone "$fio_pid" 30 || _fail "fio hangs after recovery"
wait "$fio_pid" || {
	cat "$UBLK_TEST_DIR/fio.bg.out"
	_fail "reads failed across the server restart"
}
cmp -n $((2 << 20)) "$dev" "$UBLK_TEST_DIR/pattern" ||
	_fail "data differs after recovery"
_del_dev "$id" || _fail "del failed"
_pass
