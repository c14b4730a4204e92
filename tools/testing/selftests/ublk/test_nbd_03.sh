#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nbd target on nbdkit's file plugin, zero copy: mkfs.ext4 + files with
# sha256 + remount + verify + fsck; after del the file behind the export
# holds exactly what the device showed, and flushes reached the server.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd nbdkit
_need_feature SUPPORT_ZERO_COPY
_create_file "$UBLK_TEST_DIR/export.img" 16
_nbd_port
_start_nbdkit file file="$UBLK_TEST_DIR/export.img"

_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" -z ||
	_fail "add -t nbd -z (file plugin) failed"
id=$UBLK_DEV_ID
[ "$(_dev_size "$id")" = $((16 << 20)) ] || _fail "size $(_dev_size "$id")"
_ext4_check "/dev/ublkb$id"
sum=$(_sum_mb "/dev/ublkb$id" 16)
_del_dev "$id" || _fail "del failed"
[ "$(_sum_mb "$UBLK_TEST_DIR/export.img" 16)" = "$sum" ] ||
	_fail "the exported file differs from what the device showed"
_pass
