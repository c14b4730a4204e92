#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# I/O racing delete: 'kublk del' while fio is running must finish, fio
# must end with errors (not hang), nodes and daemon must be gone.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_create_file "$UBLK_TEST_DIR/backing" 64
q=1
[ "$(nproc)" -ge 2 ] && q=2
specs=("null" "loop -q $q $UBLK_TEST_DIR/backing")
_have_feature USER_COPY && specs+=("null -u")
for spec in "${specs[@]}"; do
	# shellcheck disable=SC2086
	_add_dev -t $spec || _fail "add -t $spec failed"
	id=$UBLK_DEV_ID
	pid=$(_daemon_pid "$id")
	_bg fio --name=race --filename="/dev/ublkb$id" --ioengine=io_uring \
		--direct=1 --rw=randrw --bs=4k --iodepth=32 --numjobs=$q \
		--runtime=60 --time_based --output="$UBLK_TEST_DIR/fio.race.out"
	fio_pid=$BG_PID
	sleep 2
	kill -0 "$fio_pid" 2>/dev/null || _fail "fio ended early: $(cat "$UBLK_TEST_DIR/fio.race.out")"
	timeout 60 "$KUBLK" del -n "$id" || _fail "del during I/O failed or hung ($spec)"
	for ((i = 0; i < 300; i++)); do kill -0 "$fio_pid" 2>/dev/null || break; _sleep 0.1; done
	kill -0 "$fio_pid" 2>/dev/null && _fail "fio hangs after del ($spec)"
	wait "$fio_pid" && _fail "fio saw no error although the device was deleted ($spec)"
	_check_dev_gone "$id" || _fail "nodes left ($spec)"
	_wait_pid_gone "$pid" 10 || _fail "daemon alive after del ($spec)"
	_log "$spec: del under I/O ok"
done
_pass
