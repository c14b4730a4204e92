#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# zoned target, open and active zone limits (--max_open 2 --max_active 3):
# explicit opens beyond the limit fail, an implicit open closes an
# implicitly open zone to make room, a zone beyond the active limit cannot
# be opened, and finishing or closing zones gives the resources back.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd blkzone
_need_feature ZONED
_add_dev -t zoned --size 32M --zone_size 2 --max_open 2 --max_active 3 ||
	_fail "add -t zoned failed"
dev=/dev/ublkb$UBLK_DEV_ID
sys=/sys/block/ublkb$UBLK_DEV_ID/queue
ZONE_SECTORS=4096
[ "$(cat $sys/max_open_zones)" = 2 ] || _fail "max_open_zones $(cat $sys/max_open_zones)"
[ "$(cat $sys/max_active_zones)" = 3 ] || _fail "max_active_zones $(cat $sys/max_active_zones)"

zop() { blkzone "$1" -o $(($2 * ZONE_SECTORS)) -c 1 "$dev" 2>/dev/null; }

zop open 0 || _fail "open 0 failed"
zop open 1 || _fail "open 1 failed"
zop open 2 && _fail "third explicit open worked (max_open 2)"
_zone_check "$dev" 2 em 0
_zone_write "$dev" 2 0 4 && _fail "write to a third zone worked (max_open 2)"
_zone_check "$dev" 2 em 0

# closing an empty open zone frees both resources
zop close 0 || _fail "close 0 failed"
_zone_check "$dev" 0 em 0
_zone_write "$dev" 2 0 4 || _fail "write to zone 2 failed"
_zone_check "$dev" 2 oi 8
# open limit: the implicitly open zone 2 is closed to open zone 3
_zone_write "$dev" 3 0 4 || _fail "write to zone 3 failed"
_zone_check "$dev" 2 cl 8
_zone_check "$dev" 3 oi 8
_zone_check "$dev" 1 oe 0
# active limit: zones 1, 2, 3 are active
_zone_write "$dev" 4 0 4 && _fail "write to a fourth active zone worked (max_active 3)"
zop open 4 && _fail "open of a fourth active zone worked (max_active 3)"
_zone_check "$dev" 4 em 0
# finishing zone 2 frees an active zone
zop finish 2 || _fail "finish 2 failed"
_zone_check "$dev" 2 fu
_zone_write "$dev" 4 0 4 || _fail "write to zone 4 after finish failed"
_zone_check "$dev" 4 oi 8
_zone_check "$dev" 3 cl 8
# reset gives back the active zones
blkzone reset "$dev" || _fail "reset all failed"
for z in 0 1 2 3 4; do
	_zone_check "$dev" $z em 0
done
zop open 5 && zop open 6 || _fail "opens after reset failed"

_del_dev "$UBLK_DEV_ID" || _fail "del failed"
_check_dev_gone "$UBLK_DEV_ID" || _fail "nodes left after del"
_pass
