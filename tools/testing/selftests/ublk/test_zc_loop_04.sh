#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Zero copy loop devices under a deep queue: add/fio/del cycles of -z
# (REGISTER_IO_BUF -> READ/WRITE_FIXED -> UNREGISTER_IO_BUF, linked) and
# --auto_zc on a tmpfs file, fio at QD64 with mixed sizes (4k/64k/512k,
# random reads and writes, once crc32c verified). With many chains in
# flight the server's SQ ring wraps while a linked UNREGISTER_IO_BUF waits
# for its read/write; the command must still see its own SQE, else it
# removes another request's buffer (I/O errors) and leaves its own
# registered, and that request never completes. Every fio run must finish
# without errors, no I/O may stay in flight and the server must not log a
# failed (un)registration.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature SUPPORT_ZERO_COPY
_need_feature AUTO_BUF_REG

mnt=$UBLK_TEST_DIR/tmpfs
mkdir -p "$mnt"
mount -t tmpfs -o size=80M tmpfs "$mnt" || _fail "cannot mount tmpfs"
_UBLK_MOUNTS+=("$mnt")
_create_file "$mnt/backing" 64

# run fio in the background and fail (with the state of the device) if it
# does not finish: a request that never completes hangs it forever
_fio_bounded() {
	local name=$1 id=$2 i
	shift 2
	_bg fio --output-format=terse --terse-version=3 --group_reporting \
		--name="$name" --filename="/dev/ublkb$id" --ioengine=io_uring \
		--direct=1 --iodepth=64 --size=64M "$@" \
		>"$UBLK_TEST_DIR/fio.$name.out" 2>&1
	for ((i = 0; i < 60; i++)); do
		kill -0 "$BG_PID" 2>/dev/null || break
		sleep 1
	done
	if kill -0 "$BG_PID" 2>/dev/null; then
		echo "in flight: $(cat "/sys/block/ublkb$id/inflight")"
		tail -n 20 "$(_daemon_log "$id")"
		# a pinned request keeps fio from exiting: delete the device
		# first (the driver ends it after io_timeout), then fail
		_del_dev "$id"
		_fail "fio $name on /dev/ublkb$id still running after 60 s"
	fi
	wait "$BG_PID"
	FIO_RC=$?
	_parse_fio "$UBLK_TEST_DIR/fio.$name.out"
}

cycle=0
for mode in -z --auto_zc -z; do
	cycle=$((cycle + 1))
	# a small queue has a small ring (4 SQEs per tag), which wraps soon
	_add_dev -t loop -q 1 -d 16 "$mode" "$mnt/backing" ||
		_fail "add $mode failed"
	id=$UBLK_DEV_ID
	# bounds the cleanup if a request gets stuck, see _fio_bounded
	echo 5000 >"/sys/block/ublkb$id/queue/io_timeout"
	_fio_bounded "rand$cycle" "$id" --rw=randrw \
		--bssplit=4k/70:64k/20:512k/10 --runtime=1 --time_based \
		--norandommap --randrepeat=0
	_check_fio "rand$cycle" rw
	if [ $cycle = 1 ]; then
		_fio_bounded "verify$cycle" "$id" --rw=randwrite \
			--bssplit=4k/70:64k/20:512k/10 --size=8M \
			--verify=crc32c --verify_fatal=1 --do_verify=1
		_check_fio "verify$cycle" write
	fi
	inflight=$(tr -s ' ' <"/sys/block/ublkb$id/inflight")
	[ "${inflight# }" = "0 0" ] ||
		_fail "requests left in flight after fio: $inflight"
	if grep -q "register buffer" "$(_daemon_log "$id")"; then
		grep "register buffer" "$(_daemon_log "$id")" | head -n 5
		_fail "the server saw failed buffer (un)registrations ($mode)"
	fi
	_del_dev "$id" || _fail "del $mode failed"
	_check_dev_gone "$id" || _fail "nodes left after del ($mode)"
	_log "cycle $cycle ($mode) done at ${SECONDS}s"
done
_pass
