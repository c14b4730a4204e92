#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# update_size: the new size is seen by blockdev --getsize64 and I/O
# beyond the old end works.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_feature UPDATE_SIZE
_add_dev -t null --size 256M --update-size-flag || _fail "add failed"
id=$UBLK_DEV_ID
[ "$(_dev_size "$id")" = $((256 << 20)) ] || _fail "initial size $(_dev_size "$id")"
"$KUBLK" update_size -n "$id" -s 512M || _fail "update_size failed"
for ((i = 0; i < 50; i++)); do
	[ "$(_dev_size "$id")" = $((512 << 20)) ] && break
	_sleep 0.1
done
[ "$(_dev_size "$id")" = $((512 << 20)) ] || _fail "size after update: $(_dev_size "$id")"
dd if="/dev/ublkb$id" of=/dev/null bs=1M count=1 skip=400 iflag=direct 2>/dev/null ||
	_fail "read beyond the old end failed"
"$KUBLK" update_size -n "$id" -s 128M || _fail "shrinking failed"
for ((i = 0; i < 50; i++)); do
	[ "$(_dev_size "$id")" = $((128 << 20)) ] && break
	_sleep 0.1
done
[ "$(_dev_size "$id")" = $((128 << 20)) ] || _fail "size after shrink: $(_dev_size "$id")"
[ "$(_dev_field "$id" size)" = $((128 << 20)) ] || _fail "GET_PARAMS size not updated"
_pass
