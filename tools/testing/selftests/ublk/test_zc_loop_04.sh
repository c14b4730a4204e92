#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Zero copy loop devices under a deep queue: two add/fio/del cycles of a -z
# (REGISTER_IO_BUF -> READ/WRITE_FIXED -> UNREGISTER_IO_BUF, linked) and an
# --auto_zc device on tmpfs files, fio at QD64 on both at once with mixed
# sizes (4k/64k/512k random reads and writes, part crc32c verified).
# With many chains in flight the server's SQ ring wraps while a linked
# UNREGISTER_IO_BUF waits for its read/write; the command must still see
# its own SQE, else it removes another request's buffer (I/O errors) and
# leaves its own registered, and that request never completes. Every fio run must finish
# without errors, no I/O may stay in flight and the server must not log a
# failed (un)registration.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature SUPPORT_ZERO_COPY
_need_feature AUTO_BUF_REG

mnt=$UBLK_TEST_DIR/tmpfs
mkdir -p "$mnt"
mount -t tmpfs -o size=160M tmpfs "$mnt" || _fail "cannot mount tmpfs"
_UBLK_MOUNTS+=("$mnt")
_create_file "$mnt/backing-z" 64
_create_file "$mnt/backing--auto_zc" 64

# fio on two devices at once, QD64, 4k/64k/512k random reads and writes,
# plus a crc32c verified region on the first one; fails (with the state of
# the devices) if fio does not finish: a request that never completes
# hangs it forever
_fio_bounded() {
	local name=$1 d1=/dev/ublkb$2 d2=/dev/ublkb$3 i
	_bg fio --output-format=terse --terse-version=3 --group_reporting \
		--ioengine=io_uring --direct=1 --iodepth=64 \
		--bssplit=4k/70:64k/20:512k/10 \
		--name="$name-a" --filename="$d1" --rw=randrw --size=48M \
		--runtime=2 --time_based --norandommap --randrepeat=0 \
		--name="$name-b" --filename="$d2" --rw=randrw --size=48M \
		--runtime=2 --time_based --norandommap --randrepeat=0 \
		--name="$name-v" --filename="$d1" --rw=randwrite --offset=48M \
		--size=8M --verify=crc32c --verify_fatal=1 --do_verify=1 \
		>"$UBLK_TEST_DIR/fio.$name.out" 2>&1
	for ((i = 0; i < 90; i++)); do
		kill -0 "$BG_PID" 2>/dev/null || break
		sleep 1
	done
	if kill -0 "$BG_PID" 2>/dev/null; then
		echo "in flight: $d1 $(cat "/sys/block/${d1#/dev/}/inflight")," \
			"$d2 $(cat "/sys/block/${d2#/dev/}/inflight")"
		tail -n 20 "$(_daemon_log "$2")" "$(_daemon_log "$3")"
		# a pinned request keeps fio from exiting: delete the devices
		# first (the driver ends it after io_timeout), then fail
		_del_dev "$2"
		_del_dev "$3"
		_fail "fio $name still running after 90 s"
	fi
	wait "$BG_PID"
	FIO_RC=$?
	_parse_fio "$UBLK_TEST_DIR/fio.$name.out"
}

_check_dev() {
	local id=$1 mode=$2 inflight
	inflight=$(tr -s ' ' <"/sys/block/ublkb$id/inflight")
	[ "${inflight# }" = "0 0" ] ||
		_fail "requests left in flight after fio ($mode): $inflight"
	if grep -q "register buffer" "$(_daemon_log "$id")"; then
		grep "register buffer" "$(_daemon_log "$id")" | head -n 5
		_fail "the server saw failed buffer (un)registrations ($mode)"
	fi
}

for cycle in 1 2; do
	ids=()
	# small queues have small rings (4 SQEs per tag), which wrap soon
	for mode in -z --auto_zc; do
		_add_dev -t loop -q 1 -d 16 "$mode" "$mnt/backing$mode" ||
			_fail "add $mode failed"
		ids+=("$UBLK_DEV_ID")
		# bounds the cleanup if a request gets stuck, see _fio_bounded
		echo 5000 >"/sys/block/ublkb$UBLK_DEV_ID/queue/io_timeout"
	done
	_fio_bounded "cycle$cycle" "${ids[0]}" "${ids[1]}"
	_check_fio "cycle$cycle" rw
	_check_dev "${ids[0]}" -z
	_check_dev "${ids[1]}" --auto_zc
	for id in "${ids[@]}"; do
		_del_dev "$id" || _fail "del $id failed"
		_check_dev_gone "$id" || _fail "nodes left after del of $id"
	done
	_log "cycle $cycle done at ${SECONDS}s"
done
_pass
