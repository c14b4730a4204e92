#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# null target, zero copy (-z): every READ/WRITE is bracketed by
# REGISTER_IO_BUF / UNREGISTER_IO_BUF in one linked submission; fio
# randread/randwrite/randrw must run without errors.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature SUPPORT_ZERO_COPY

_add_dev -t null -d 64 -z || _fail "add -t null -z failed"
flags=$(_dev_field "$UBLK_DEV_ID" flags)
(( flags & 0x1 )) || _fail "SUPPORT_ZERO_COPY not granted (flags $flags)"
_fio_perf_check "/dev/ublkb$UBLK_DEV_ID" 1
[ "$(_dev_state "$UBLK_DEV_ID")" = LIVE ] || _fail "device not LIVE after fio"
_del_dev "$UBLK_DEV_ID" || _fail "del failed"
_check_dev_gone "$UBLK_DEV_ID" || _fail "nodes left after del"
grep -q "unregister buffer\|register buffer" "$(_daemon_log "$UBLK_DEV_ID")" &&
	_fail "the daemon logged buffer (un)registration errors"
_pass
