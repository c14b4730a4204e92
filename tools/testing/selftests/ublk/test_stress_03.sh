#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Churn: add/fio/del cycles in all copy modes and queue counts; ids are
# reused and nothing is left behind.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
before=$(_dev_count)
q2=1
[ "$(nproc)" -ge 2 ] && q2=2
modes=("" "-g")
_have_feature USER_COPY && modes+=("-u")
for round in 1 2 3; do
	for m in "${modes[@]}"; do
		q=$(( (round % 2) ? 1 : q2 ))
		# shellcheck disable=SC2086
		_add_dev -t null -q $q -d 16 $m || _fail "add round $round '$m' failed"
		id=$UBLK_DEV_ID
		_run_fio churn --filename="/dev/ublkb$id" --ioengine=io_uring \
			--direct=1 --rw=randrw --bs=16k --iodepth=16 --numjobs=$q \
			--runtime=1 --time_based
		_check_fio churn rw
		_del_dev "$id" >/dev/null || _fail "del round $round '$m' failed"
		_check_dev_gone "$id" || _fail "nodes left round $round"
	done
done
after=$(_dev_count)
[ "$before" = "$after" ] || _fail "device count $before -> $after"
_pass
