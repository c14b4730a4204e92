#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nbd target on qemu-nbd exporting a qcow2 image under a name (--export),
# auto zero copy when available: fio verify, discard (NBD_CMD_TRIM) and
# write zeroes read back as zeroes, and a wrong export name is refused by
# the server with a clear error.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio qemu-nbd qemu-img blkdiscard
qemu-img create -q -f qcow2 "$UBLK_TEST_DIR/disk.qcow2" 16M ||
	_fail "qemu-img create failed"
_nbd_port
_start_qemu_nbd "$UBLK_TEST_DIR/disk.qcow2" -f qcow2 -x disk --discard=unmap

if _add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" --export nosuch \
	>"$UBLK_TEST_DIR/bad.out" 2>&1; then
	_fail "add with an unknown export name succeeded"
fi
grep -q "unknown export" "$UBLK_TEST_DIR/bad.out" || {
	cat "$UBLK_TEST_DIR/bad.out"
	_fail "no clear error for an unknown export"
}

mode=()
_have_feature AUTO_BUF_REG && mode=(--auto_zc)
_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" --export disk "${mode[@]}" ||
	_fail "add -t nbd (qemu-nbd) failed"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
[ "$(_dev_size "$id")" = $((16 << 20)) ] || _fail "size $(_dev_size "$id")"
_fio_verify_check "$dev" 2M --bsrange=4k-64k
head -c 1M /dev/urandom | dd of="$dev" bs=1M seek=10 oflag=direct 2>/dev/null ||
	_fail "write failed"
blkdiscard -o $((10 << 20)) -l $((512 << 10)) "$dev" || _fail "blkdiscard failed"
blkdiscard -z -o $((10 << 20 | 512 << 10)) -l $((512 << 10)) "$dev" ||
	_fail "blkdiscard -z failed"
[ "$(dd if="$dev" bs=1M skip=10 count=1 iflag=direct 2>/dev/null |
	tr -d '\0' | wc -c)" = 0 ] ||
	_fail "discarded / zeroed range does not read back as zeroes"
_del_dev "$id" || _fail "del failed"
_pass
