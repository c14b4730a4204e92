#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# stop --safe (TRY_STOP_DEV) is refused while the block device is open,
# succeeds once it is closed; del then removes the device.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_feature SAFE_STOP_DEV
_add_dev -t null || _fail "add failed"
id=$UBLK_DEV_ID
pid=$(_daemon_pid "$id")
exec 3<>"/dev/ublkb$id" || _fail "cannot open /dev/ublkb$id"
if out=$("$KUBLK" stop -n "$id" --safe 2>&1); then
	exec 3>&-
	_fail "stop --safe succeeded with the device open"
fi
grep -qi "busy" <<<"$out" || { exec 3>&-; _fail "expected EBUSY, got: $out"; }
[ "$(_dev_state "$id")" = LIVE ] || { exec 3>&-; _fail "device not LIVE after refused stop"; }
kill -0 "$pid" || { exec 3>&-; _fail "daemon died after refused stop"; }
dd if="/dev/ublkb$id" of=/dev/null bs=4k count=4 iflag=direct 2>/dev/null ||
	{ exec 3>&-; _fail "I/O failed after refused stop"; }
exec 3>&-
"$KUBLK" stop -n "$id" --safe || _fail "stop --safe failed with the device closed"
_wait_pid_gone "$pid" 30 || _fail "daemon did not exit after stop"
for ((i = 0; i < 50; i++)); do [ -b "/dev/ublkb$id" ] || break; _sleep 0.1; done
[ -b "/dev/ublkb$id" ] && _fail "block device still present after stop"
[ "$(_dev_state "$id")" = DEAD ] || _fail "state after stop: $(_dev_state "$id")"
_del_dev "$id" || _fail "del after stop failed"
_check_dev_gone "$id" || _fail "nodes left after del"
_pass
