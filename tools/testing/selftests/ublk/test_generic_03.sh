#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Explicit ids: add -n ID creates /dev/ublkbID; a second add with the
# same id fails (EEXIST) and leaves the first device alone.
. "$(dirname "$0")/test_common.sh"
_prep_test

id=77
while [ -e "/dev/ublkc$id" ]; do id=$((id + 1)); done
_add_dev -t null -n "$id" || _fail "add -n $id failed"
[ "$UBLK_DEV_ID" = "$id" ] || _fail "asked for id $id, got $UBLK_DEV_ID"
[ -b "/dev/ublkb$id" ] || _fail "/dev/ublkb$id missing"
if out=$("$KUBLK" add -t null -n "$id" 2>&1); then
	_fail "second add -n $id succeeded: $out"
fi
grep -qi "exists" <<<"$out" || _fail "expected EEXIST, got: $out"
[ "$(_dev_state "$id")" = LIVE ] || _fail "first device disturbed"
[ "$(_dev_field "$id" pid)" = "$(_daemon_pid "$id")" ] || _fail "pid changed"
dd if="/dev/ublkb$id" of=/dev/null bs=4k count=16 iflag=direct 2>/dev/null ||
	_fail "I/O on dev $id failed after the duplicate add"
_pass
