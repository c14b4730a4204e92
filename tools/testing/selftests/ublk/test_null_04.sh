#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# null target with two queues (-q 2): fio with two jobs on each direction.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
[ "$(nproc)" -ge 2 ] || _skip "needs 2 CPUs for 2 queues"
_add_dev -t null -q 2 -d 32 || _fail "add -q 2 failed"
[ "$(_dev_field "$UBLK_DEV_ID" queues)" = 2 ] || _fail "device does not have 2 queues"
[ "$(ls "/sys/block/ublkb$UBLK_DEV_ID/mq" | wc -l)" = 2 ] ||
	_fail "block layer does not see 2 hw queues"
_fio_perf_check "/dev/ublkb$UBLK_DEV_ID" 2
# one job pinned on each CPU so both queues get requests
for cpu in 0 1; do
	_run_fio cpu$cpu --filename="/dev/ublkb$UBLK_DEV_ID" --ioengine=io_uring \
		--direct=1 --rw=randread --bs=4k --iodepth=16 --runtime=2 \
		--time_based --cpus_allowed=$cpu
	_check_fio cpu$cpu read
done
_pass
