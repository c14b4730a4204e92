#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# loop target, zero copy (-z): REGISTER_IO_BUF -> READ_FIXED/WRITE_FIXED
# (hardlink) -> UNREGISTER_IO_BUF per request, linked in one submission.
# fio write + crc32c verify, then mkfs.ext4 + files with sha256 + remount +
# verify + fsck -n; after del the backing file holds exactly what the
# device showed, and the file system survives a re-add in the same mode.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature SUPPORT_ZERO_COPY
mode=(-z)

_create_file "$UBLK_TEST_DIR/backing" 128
_add_dev -t loop "${mode[@]}" "$UBLK_TEST_DIR/backing" || _fail "add -t loop ${mode[*]} failed"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
[ "$(_dev_size "$id")" = $((128 << 20)) ] || _fail "size $(_dev_size "$id")"
_fio_verify_check "$dev" 32M
_ext4_check "$dev"
sum=$(_sum_mb "$dev" 128)
_del_dev "$id" || _fail "del failed"
_check_dev_gone "$id" || _fail "nodes left after del"
[ "$(_sum_mb "$UBLK_TEST_DIR/backing" 128)" = "$sum" ] ||
	_fail "backing file differs from what the device showed"
_add_dev -t loop "${mode[@]}" "$UBLK_TEST_DIR/backing" || _fail "re-add failed"
fsck.ext4 -n -f "/dev/ublkb$UBLK_DEV_ID" >"$UBLK_TEST_DIR/fsck2.out" 2>&1 || {
	cat "$UBLK_TEST_DIR/fsck2.out"
	_fail "fsck after re-add reports errors"
}
_del_dev "$UBLK_DEV_ID" || _fail "del after re-add failed"
_pass
