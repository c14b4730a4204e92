#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# USER_RECOVERY_REISSUE (-r 1 -i 1): fio with crc32c verify runs across
# kill -9 of the daemon and recovery, and must pass: in-flight I/O is reissued.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature USER_RECOVERY_REISSUE
_create_file "$UBLK_TEST_DIR/backing" 128
_add_dev -t loop -r 1 -i 1 "$UBLK_TEST_DIR/backing" || _fail "add -r 1 -i 1 failed"
id=$UBLK_DEV_ID
_kill_recover_under_fio "$id" 32M 1500
fio_pid=$BG_PID
_wait_bg_fio "$fio_pid" 150 "fio did not finish after recovery"
_parse_fio "$UBLK_TEST_DIR/fio.verify.out"
_check_fio verify write
_pass
