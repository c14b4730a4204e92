#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# zoned target, user copy: the disk is host-managed with the geometry asked
# for, REPORT_ZONES gives conventional and empty sequential zones, and
# blkzone open/close/finish/reset/reset-all move the zones through the
# expected conditions and write pointers.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd blkzone
_need_feature ZONED
_add_dev -t zoned --size 64M --zone_size 4 --conv_zones 2 ||
	_fail "add -t zoned failed"
dev=/dev/ublkb$UBLK_DEV_ID
sys=/sys/block/ublkb$UBLK_DEV_ID/queue
ZONE_SECTORS=8192

[ "$(cat $sys/zoned)" = host-managed ] || _fail "not host-managed: $(cat $sys/zoned)"
[ "$(cat $sys/chunk_sectors)" = $ZONE_SECTORS ] ||
	_fail "chunk_sectors $(cat $sys/chunk_sectors)"
[ "$(cat $sys/nr_zones)" = 16 ] || _fail "nr_zones $(cat $sys/nr_zones)"
[ "$(cat $sys/zone_append_max_bytes)" -gt 0 ] || _fail "no zone append limit"

blkzone report "$dev" >"$UBLK_TEST_DIR/report" || _fail "blkzone report failed"
n=$(grep -c 'start:' "$UBLK_TEST_DIR/report")
[ "$n" = 16 ] || { cat "$UBLK_TEST_DIR/report"; _fail "$n zones reported"; }
[ "$(grep -c '(nw)' "$UBLK_TEST_DIR/report")" = 2 ] ||
	{ cat "$UBLK_TEST_DIR/report"; _fail "expected 2 conventional zones"; }
[ "$(grep -c '(em)' "$UBLK_TEST_DIR/report")" = 14 ] ||
	{ cat "$UBLK_TEST_DIR/report"; _fail "expected 14 empty zones"; }
_zone_check "$dev" 0 nw
_zone_check "$dev" 2 em 0
# zone starts and lengths
for i in 0 5 15; do
	line=$(_zone_line "$dev" $i)
	[[ $line =~ start:\ 0x0*([0-9a-f]+),\ len\ 0x0*([0-9a-f]+) ]] &&
		[ $((16#${BASH_REMATCH[1]})) = $((i * ZONE_SECTORS)) ] &&
		[ $((16#${BASH_REMATCH[2]})) = $ZONE_SECTORS ] ||
		_fail "zone $i: $line"
done

# explicit open / close of an empty zone
blkzone open -o $((2 * ZONE_SECTORS)) -c 1 "$dev" || _fail "open failed"
_zone_check "$dev" 2 oe 0
blkzone close -o $((2 * ZONE_SECTORS)) -c 1 "$dev" || _fail "close failed"
_zone_check "$dev" 2 em 0

# a write opens implicitly, close keeps the write pointer
_zone_write "$dev" 3 0 8 || _fail "write at zone 3 start failed"
_zone_check "$dev" 3 oi 16
blkzone close -o $((3 * ZONE_SECTORS)) -c 1 "$dev" || _fail "close 3 failed"
_zone_check "$dev" 3 cl 16
blkzone open -o $((3 * ZONE_SECTORS)) -c 1 "$dev" || _fail "open 3 failed"
_zone_check "$dev" 3 oe 16
_zone_write "$dev" 3 8 4 || _fail "write at zone 3 wp failed"
_zone_check "$dev" 3 oe 24

# finish: full, write pointer at the end; reset: empty again
blkzone finish -o $((3 * ZONE_SECTORS)) -c 1 "$dev" || _fail "finish failed"
_zone_check "$dev" 3 fu
blkzone finish -o $((4 * ZONE_SECTORS)) -c 2 "$dev" || _fail "finish 4-5 failed"
_zone_check "$dev" 4 fu
_zone_check "$dev" 5 fu
blkzone reset -o $((3 * ZONE_SECTORS)) -c 1 "$dev" || _fail "reset failed"
_zone_check "$dev" 3 em 0
_zone_check "$dev" 4 fu

# management of a conventional zone is refused
blkzone open -o 0 -c 1 "$dev" 2>/dev/null && _fail "open of a conventional zone worked"
blkzone reset -o $ZONE_SECTORS -c 1 "$dev" 2>/dev/null &&
	_fail "reset of a conventional zone worked"

# reset of the whole device (RESET_ALL)
_zone_write "$dev" 7 0 64 || _fail "write at zone 7 failed"
_zone_check "$dev" 7 oi 128
blkzone reset "$dev" || _fail "reset all failed"
blkzone report "$dev" >"$UBLK_TEST_DIR/report" || _fail "blkzone report failed"
[ "$(grep -c '(em)' "$UBLK_TEST_DIR/report")" = 14 ] ||
	{ cat "$UBLK_TEST_DIR/report"; _fail "not all sequential zones empty"; }
_zone_check "$dev" 0 nw

_del_dev "$UBLK_DEV_ID" || _fail "del failed"
_check_dev_gone "$UBLK_DEV_ID" || _fail "nodes left after del"
_pass
