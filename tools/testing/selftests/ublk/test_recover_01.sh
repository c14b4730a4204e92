#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# USER_RECOVERY (-r 1): kill -9 the daemon during fio, the device goes
# QUIESCED, 'recover' brings a new daemon, LIVE again, the data written
# before the crash is intact and new I/O verifies.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio cmp
_need_feature USER_RECOVERY
_create_file "$UBLK_TEST_DIR/backing" 128
_add_dev -t loop -r 1 "$UBLK_TEST_DIR/backing" || _fail "add -r 1 failed"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
head -c $((16 << 20)) /dev/urandom >"$UBLK_TEST_DIR/pattern"
dd if="$UBLK_TEST_DIR/pattern" of="$dev" bs=1M oflag=direct 2>/dev/null || _fail "pattern write failed"

# reads of the pattern area only, so the pattern stays intact
_bg fio --name=bg --filename="$dev" --ioengine=io_uring --direct=1 \
	--rw=randread --bs=4k --iodepth=16 --size=16M --runtime=30 --time_based \
	--output="$UBLK_TEST_DIR/fio.bg.out"
fio_pid=$BG_PID
sleep 2
old=$(_daemon_pid "$id")
kill -9 "$old" || _fail "kill -9 $old failed"
_wait_pid_gone "$old" 20 || _fail "daemon survived kill -9"
_wait_state "$id" QUIESCED 30 || _fail "device did not become QUIESCED"
[ -b "$dev" ] || _fail "block device went away despite USER_RECOVERY"
"$KUBLK" recover -n "$id" || _fail "recover failed"
_wait_state "$id" LIVE 30 || _fail "device not LIVE after recover"
new=$(_daemon_pid "$id")
[ "$new" != "$old" ] && kill -0 "$new" || _fail "no new daemon (old $old new $new)"
for ((i = 0; i < 600; i++)); do kill -0 "$fio_pid" 2>/dev/null || break; _sleep 0.1; done
kill -0 "$fio_pid" 2>/dev/null && _fail "fio hangs after recovery"
wait "$fio_pid"
_log "fio across the crash exited with $? (errors are allowed without REISSUE)"
cmp -n $((16 << 20)) "$dev" "$UBLK_TEST_DIR/pattern" || _fail "data lost across recovery"
_fio_verify_check "$dev" 16M --offset=32M
_pass
