#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# loop target, NEED_GET_DATA: mkfs.ext4, files with sha256, remount, verify, fsck -n.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_feature NEED_GET_DATA
_create_file "$UBLK_TEST_DIR/backing" 192
_add_dev -t loop -g "$UBLK_TEST_DIR/backing" || _fail "add -t loop -g failed"
_ext4_check "/dev/ublkb$UBLK_DEV_ID"
# and the file system survives a device restart on the same backing file
_del_dev "$UBLK_DEV_ID" || _fail "del failed"
_add_dev -t loop -g "$UBLK_TEST_DIR/backing" || _fail "re-add failed"
fsck.ext4 -n -f "/dev/ublkb$UBLK_DEV_ID" >/dev/null 2>&1 || _fail "fsck after re-add reports errors"
_pass
