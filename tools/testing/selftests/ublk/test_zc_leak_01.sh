#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A zero copy (-z) server that leaves a request's buffer registered after
# COMMIT, as happens when its UNREGISTER_IO_BUF fails (kublk test hook
# --zc_leak_unreg SECTOR: no unregister for requests at SECTOR). The request
# cannot end while its pages are in the ring's buffer table, but it must
# not stay stuck for good:
#  - kublk del: STOP_DEV waits in del_gendisk() for the request; when it
#    times out on the dying disk the driver aborts the server's parked
#    commands, kublk exits, its ring drops the registration, the request
#    ends, del completes and the reader returns;
#  - kill -9 of the server: the ring teardown drops the registration, the
#    reader returns, the device stops and del removes it.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_feature SUPPORT_ZERO_COPY
_create_file "$UBLK_TEST_DIR/backing" 64
sector=$((40 << 11))		# 40 MiB: no partition scan reads there

for how in del kill; do
	_add_dev -t loop -q 1 -d 16 -z --zc_leak_unreg $sector \
		"$UBLK_TEST_DIR/backing" || _fail "add -z failed"
	id=$UBLK_DEV_ID
	pid=$(_daemon_pid "$id")
	log=$(_daemon_log "$id")
	# the request is started after this, so it times out after 1 s
	echo 1000 >"/sys/block/ublkb$id/queue/io_timeout"
	_bg dd if="/dev/ublkb$id" of=/dev/null bs=4k count=1 \
		skip=$((sector / 8)) iflag=direct status=none
	rd=$BG_PID
	for ((i = 0; i < 300; i++)); do
		grep -q "test hook: no unregister" "$log" 2>/dev/null && break
		sleep 0.2
	done
	grep -q "test hook: no unregister" "$log" 2>/dev/null ||
		_fail "the read at sector $sector never reached the server ($how)"
	# then committed, but pinned by the registration: stays in flight
	kill -0 "$rd" 2>/dev/null ||
		_fail "the read ended although its buffer is still registered"
	inflight=$(tr -s ' ' <"/sys/block/ublkb$id/inflight")
	[ "${inflight# }" = "1 0" ] || _fail "in flight: '$inflight', wanted '1 0'"
	_log "$how: read pinned at ${SECONDS}s"

	if [ $how = del ]; then
		_del_dev "$id" || _fail "del with a pinned request failed"
	else
		kill -9 "$pid"
		_wait_pid_gone "$pid" 30 || _fail "daemon survived kill -9"
	fi
	for ((i = 0; i < 300; i++)); do
		kill -0 "$rd" 2>/dev/null || break
		sleep 0.2
	done
	kill -0 "$rd" 2>/dev/null && _fail "the pinned read is still stuck after $how"
	wait "$rd"
	_log "$how: the pinned read returned (dd exit $?) at ${SECONDS}s"
	if [ $how = kill ]; then
		_del_dev "$id" || _fail "del after kill failed"
	fi
	_check_dev_gone "$id" || _fail "nodes left after $how"
	_wait_pid_gone "$pid" 30 || _fail "daemon still alive after $how"
	_log "$how: done at ${SECONDS}s"
done
_pass
