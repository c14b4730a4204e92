#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Parameters reach the block layer: block sizes, size, max I/O size,
# discard, write cache.
. "$(dirname "$0")/test_common.sh"
_prep_test

_add_dev -t null -b 4096 --size 64M --max_io_buf 256K || _fail "add failed"
id=$UBLK_DEV_ID
q=/sys/block/ublkb$id/queue
[ "$(blockdev --getss "/dev/ublkb$id")" = 4096 ] || _fail "logical block size $(blockdev --getss "/dev/ublkb$id")"
[ "$(blockdev --getpbsz "/dev/ublkb$id")" = 4096 ] || _fail "physical block size"
[ "$(_dev_size "$id")" = $((64 << 20)) ] || _fail "size $(_dev_size "$id")"
[ "$(cat $q/max_sectors_kb)" -le 256 ] || _fail "max_sectors_kb $(cat $q/max_sectors_kb) > 256"
[ "$(cat $q/discard_granularity)" = 4096 ] || _fail "discard_granularity $(cat $q/discard_granularity)"
[ "$(_dev_field "$id" max_io_buf)" = $((256 << 10)) ] || _fail "max_io_buf $(_dev_field "$id" max_io_buf)"
# I/O at the maximum size works
dd if="/dev/ublkb$id" of=/dev/null bs=256k count=8 iflag=direct 2>/dev/null || _fail "256k reads failed"

_create_file "$UBLK_TEST_DIR/backing" 32
_add_dev -t loop "$UBLK_TEST_DIR/backing" || _fail "add loop failed"
id=$UBLK_DEV_ID
q=/sys/block/ublkb$id/queue
[ "$(blockdev --getss "/dev/ublkb$id")" = 512 ] || _fail "loop logical block size"
[ "$(_dev_size "$id")" = $((32 << 20)) ] || _fail "loop size $(_dev_size "$id")"
grep -q "write back" $q/write_cache || _fail "loop: write cache not enabled: $(cat $q/write_cache)"
_pass
