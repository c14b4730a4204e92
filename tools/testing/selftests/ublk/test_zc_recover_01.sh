#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Zero copy (-z) with USER_RECOVERY_REISSUE (-r 1 -i 1): fio with crc32c
# verify runs across kill -9 of the daemon while request buffers are
# registered in its ring; the ring teardown must release them, the requests
# are reissued to the recovered daemon (still zero copy) and fio must pass.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature SUPPORT_ZERO_COPY
_need_feature USER_RECOVERY_REISSUE
_create_file "$UBLK_TEST_DIR/backing" 128
_add_dev -t loop -z -r 1 -i 1 "$UBLK_TEST_DIR/backing" || _fail "add -z -r 1 -i 1 failed"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
_kill_recover_under_fio "$id" 16M 800
fio_pid=$BG_PID
flags=$(_dev_field "$id" flags)
(( flags & 0x1 )) || _fail "SUPPORT_ZERO_COPY lost across recovery (flags $flags)"
_wait_bg_fio "$fio_pid" 150 "fio did not finish after recovery"
_parse_fio "$UBLK_TEST_DIR/fio.verify.out"
_check_fio verify write
# the recovered zero-copy daemon keeps serving
_fio_verify_check "$dev" 8M --offset=64M
_del_dev "$id" || _fail "del failed"
_check_dev_gone "$id" || _fail "nodes left after del"
_pass
