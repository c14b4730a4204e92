#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# loop target, user copy (-u): fio write + crc32c verify.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature USER_COPY
_create_file "$UBLK_TEST_DIR/backing" 256
_add_dev -t loop -u "$UBLK_TEST_DIR/backing" || _fail "add -t loop -u failed"
[ "$(_dev_size "$UBLK_DEV_ID")" = $((256 << 20)) ] || _fail "size $(_dev_size "$UBLK_DEV_ID")"
_fio_verify_check "/dev/ublkb$UBLK_DEV_ID" 48M
# the data must really be in the backing file
dd if="/dev/ublkb$UBLK_DEV_ID" of="$UBLK_TEST_DIR/dev.img" bs=1M count=48 iflag=direct 2>/dev/null ||
	_fail "reading the device back failed"
cmp -n $((48 << 20)) "$UBLK_TEST_DIR/dev.img" "$UBLK_TEST_DIR/backing" ||
	_fail "device content differs from the backing file"
_del_dev "$UBLK_DEV_ID" || _fail "del failed"
_check_dev_gone "$UBLK_DEV_ID" || _fail "nodes left after del"
_pass
