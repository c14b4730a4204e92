#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# loop target with two queues: two verifying fio jobs on separate regions.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
[ "$(nproc)" -ge 2 ] || _skip "needs 2 CPUs for 2 queues"
_create_file "$UBLK_TEST_DIR/backing" 128
_add_dev -t loop -q 2 -d 64 "$UBLK_TEST_DIR/backing" || _fail "add -q 2 failed"
_fio_verify_check "/dev/ublkb$UBLK_DEV_ID" 32M --numjobs=2 --offset_increment=48M
_pass
