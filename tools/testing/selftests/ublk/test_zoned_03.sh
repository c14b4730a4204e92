#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# zoned target: fio --zonemode=zbd with crc32c verify, sequential writes
# with queue depth (user copy) and random zone writes under an open zone
# limit (zero copy when available).
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature ZONED

_add_dev -t zoned -u --size 32M --zone_size 2 --conv_zones 1 ||
	_fail "add -t zoned -u failed"
dev=/dev/ublkb$UBLK_DEV_ID
_run_fio zbd_seq --filename="$dev" --direct=1 --zonemode=zbd \
	--ioengine=io_uring --iodepth=4 --rw=write --bs=64k --size=16M \
	--verify=crc32c --do_verify=1 --verify_fatal=1
_check_fio zbd_seq write
_del_dev "$UBLK_DEV_ID" || _fail "del failed"

m=-u
_have_feature SUPPORT_ZERO_COPY && m=-z
_add_dev -t zoned $m --size 32M --zone_size 2 --max_open 4 ||
	_fail "add -t zoned $m failed"
dev=/dev/ublkb$UBLK_DEV_ID
[ "$(cat /sys/block/ublkb$UBLK_DEV_ID/queue/max_open_zones)" = 4 ] ||
	_fail "max_open_zones not 4"
_run_fio zbd_rand --filename="$dev" --direct=1 --zonemode=zbd \
	--ioengine=psync --rw=randwrite --bs=16k --size=16M \
	--max_open_zones=4 --verify=crc32c --do_verify=1 --verify_fatal=1
_check_fio zbd_rand write
_del_dev "$UBLK_DEV_ID" || _fail "del failed"
_check_dev_gone "$UBLK_DEV_ID" || _fail "nodes left after del"
_pass
