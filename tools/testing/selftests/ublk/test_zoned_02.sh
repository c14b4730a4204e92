#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# zoned target, user copy and zero copy: direct writes at the write pointer
# work and read back; writes ahead of or behind the write pointer, and into
# a full zone, fail without moving it; conventional zones take writes in
# any order; a reset zone reads back zeroes.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd blkzone cmp
_need_feature ZONED
modes=(-u)
_have_feature SUPPORT_ZERO_COPY && modes+=(-z)
ZONE_SECTORS=4096		# 2M zones: 32 blocks of 64K
T=$UBLK_TEST_DIR
head -c 256K /dev/urandom >"$T/pat"
head -c 64K /dev/zero >"$T/zero"
cat "$T/pat" "$T/pat" >"$T/pat2"

# _w SEEK COUNT [FILE]: 64K direct writes at block SEEK
_w() {
	dd if="${3:-$T/pat}" of="$dev" bs=64k count="$2" seek="$1" \
		oflag=direct status=none 2>/dev/null
}

for m in "${modes[@]}"; do
	_add_dev -t zoned "$m" --size 32M --zone_size 2 --conv_zones 1 ||
		_fail "add -t zoned $m failed"
	dev=/dev/ublkb$UBLK_DEV_ID

	# the first write to a zone, not at its write pointer, reaches the
	# server (no write plug yet) and must fail there
	_w $((4 * 32 + 1)) 1 && _fail "$m: write ahead of an empty zone's wp worked"
	_zone_check "$dev" 4 em 0

	# sequential writes from the zone start
	_w $((2 * 32)) 4 || _fail "$m: sequential writes failed"
	_zone_check "$dev" 2 oi 512
	_w $((2 * 32 + 8)) 1 && _fail "$m: write ahead of the wp worked"
	_w $((2 * 32)) 1 && _fail "$m: write behind the wp worked"
	_zone_check "$dev" 2 oi 512
	_w $((2 * 32 + 4)) 4 || _fail "$m: write at the wp after errors failed"
	_zone_check "$dev" 2 oi 1024
	dd if="$dev" of="$T/rd" bs=64k count=8 skip=$((2 * 32)) iflag=direct \
		status=none || _fail "$m: read back failed"
	cmp "$T/pat2" "$T/rd" || _fail "$m: data read back differs"

	# fill the zone: full, and no more writes
	_w $((2 * 32 + 8)) 24 /dev/zero || _fail "$m: filling the zone failed"
	_zone_check "$dev" 2 fu
	_w $((2 * 32 + 31)) 1 && _fail "$m: write into a full zone worked"

	# conventional zone 0: any order
	_w 5 1 || _fail "$m: conventional write at block 5 failed"
	_w 1 1 || _fail "$m: conventional write at block 1 failed"
	_w 1 1 || _fail "$m: conventional rewrite at block 1 failed"
	dd if="$dev" of="$T/rd" bs=64k count=1 skip=5 iflag=direct status=none
	head -c 64K "$T/pat" | cmp - "$T/rd" || _fail "$m: conventional data differs"

	# a reset zone reads back zeroes and takes writes from its start again
	blkzone reset -o $((2 * ZONE_SECTORS)) -c 1 "$dev" || _fail "$m: reset failed"
	dd if="$dev" of="$T/rd" bs=64k count=1 skip=$((2 * 32)) iflag=direct \
		status=none
	cmp "$T/zero" "$T/rd" || _fail "$m: reset zone does not read zeroes"
	_w $((2 * 32)) 1 || _fail "$m: write after reset failed"
	_zone_check "$dev" 2 oi 128

	_del_dev "$UBLK_DEV_ID" || _fail "del failed"
	_check_dev_gone "$UBLK_DEV_ID" || _fail "nodes left after del"
	_log "mode $m ok"
done
_pass
