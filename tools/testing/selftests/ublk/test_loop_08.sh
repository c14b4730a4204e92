#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# loop target: DISCARD and WRITE_ZEROES read back as zeroes, FLUSH works,
# data outside the ranges is untouched.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd blkdiscard cmp sha256sum
_create_file "$UBLK_TEST_DIR/backing" 64
_add_dev -t loop "$UBLK_TEST_DIR/backing" || _fail "add failed"
dev=/dev/ublkb$UBLK_DEV_ID
q=/sys/block/ublkb$UBLK_DEV_ID/queue
[ "$(cat $q/discard_max_bytes)" -gt 0 ] || _fail "discard not enabled"
head -c $((16 << 20)) /dev/urandom >"$UBLK_TEST_DIR/pattern"
dd if="$UBLK_TEST_DIR/pattern" of="$dev" bs=1M oflag=direct conv=fsync 2>/dev/null ||
	_fail "writing the pattern failed"
tail_sum=$(dd if="$dev" bs=1M skip=8 count=8 iflag=direct 2>/dev/null | sha256sum)
blkdiscard -o 0 -l $((1 << 20)) "$dev" || _fail "blkdiscard failed"
cmp -n $((1 << 20)) "$dev" /dev/zero || _fail "discarded range not zero"
blkdiscard -z -o $((2 << 20)) -l $((1 << 20)) "$dev" || _fail "blkdiscard -z failed"
cmp -n $((1 << 20)) -i $((2 << 20)):0 "$dev" /dev/zero || _fail "zeroed range not zero"
cmp -n $((1 << 20)) -i $((1 << 20)) "$dev" "$UBLK_TEST_DIR/pattern" ||
	_fail "data between the ranges changed"
[ "$(dd if="$dev" bs=1M skip=8 count=8 iflag=direct 2>/dev/null | sha256sum)" = "$tail_sum" ] ||
	_fail "data after the ranges changed"
sync "$dev" 2>/dev/null || blockdev --flushbufs "$dev" || _fail "flush failed"
cmp -n $((16 << 20)) "$dev" "$UBLK_TEST_DIR/backing" || _fail "device and backing file differ"
_pass
