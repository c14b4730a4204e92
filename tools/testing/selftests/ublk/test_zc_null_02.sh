#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# null target, automatic buffer registration (--auto_zc, AUTO_BUF_REG): the
# driver registers each request's buffer at the index given in FETCH/COMMIT
# and drops it at COMMIT; fio randread/randwrite/randrw without errors.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature AUTO_BUF_REG

_add_dev -t null -d 64 --auto_zc || _fail "add -t null --auto_zc failed"
flags=$(_dev_field "$UBLK_DEV_ID" flags)
(( flags & (1 << 11) )) || _fail "AUTO_BUF_REG not granted (flags $flags)"
_fio_perf_check "/dev/ublkb$UBLK_DEV_ID" 1
[ "$(_dev_state "$UBLK_DEV_ID")" = LIVE ] || _fail "device not LIVE after fio"
_del_dev "$UBLK_DEV_ID" || _fail "del failed"
_check_dev_gone "$UBLK_DEV_ID" || _fail "nodes left after del"
n=$(_need_reg_count "$UBLK_DEV_ID")
[ "$n" = 0 ] || _fail "$n requests needed a manual registration without fallback"
_pass
