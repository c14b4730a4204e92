#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# null target, NEED_GET_DATA (-g): fio randread/randwrite/randrw.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature NEED_GET_DATA
_add_dev -t null -g -d 64 || _fail "add -t null -g -d 64 failed"
_fio_perf_check "/dev/ublkb$UBLK_DEV_ID" 1
[ "$(_dev_state "$UBLK_DEV_ID")" = LIVE ] || _fail "device not LIVE after fio"
_del_dev "$UBLK_DEV_ID" || _fail "del failed"
_check_dev_gone "$UBLK_DEV_ID" || _fail "nodes left after del"
_pass
