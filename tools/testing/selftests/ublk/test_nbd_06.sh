#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nbd target, setup errors: an export smaller than --size is refused, a
# smaller --size is honoured; no server (connection refused) and a server
# whose greeting is not NBD fail the add with a clear message and leave no
# device behind.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd nbdkit
_nbd_port
_start_nbdkit memory 16M

_expect_add_error() { # message kublk-add-args...
	local msg=$1
	shift
	if _add_dev "$@" >"$UBLK_TEST_DIR/add.out" 2>&1; then
		_fail "add $* succeeded"
	fi
	grep -q "$msg" "$UBLK_TEST_DIR/add.out" || {
		cat "$UBLK_TEST_DIR/add.out"
		_fail "add $*: no '$msg' in the error"
	}
	[ -z "$(ls /dev/ublkc* 2>/dev/null)" ] || _fail "add $* left a device"
	_log "add $*: refused with '$msg'"
}

_expect_add_error "less than the requested size" \
	-t nbd --host 127.0.0.1 --port "$NBD_PORT" --size 32M
_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" --size 8M ||
	_fail "add --size 8M of a 16M export failed"
[ "$(_dev_size "$UBLK_DEV_ID")" = $((8 << 20)) ] ||
	_fail "size $(_dev_size "$UBLK_DEV_ID"), wanted 8M"
dd if=/dev/zero of="/dev/ublkb$UBLK_DEV_ID" bs=1M count=1 seek=7 \
	oflag=direct 2>/dev/null || _fail "writing the last MB failed"
dd if=/dev/zero of="/dev/ublkb$UBLK_DEV_ID" bs=1M count=1 seek=8 \
	oflag=direct 2>/dev/null && _fail "writing beyond 8M succeeded"
_del_dev "$UBLK_DEV_ID" || _fail "del failed"

kill -9 "$NBD_SRV_PID"
_wait_pid_gone "$NBD_SRV_PID" 10
_expect_add_error "Connection refused" -t nbd --host 127.0.0.1 --port "$NBD_PORT"
_expect_add_error "needs --host" -t nbd
_nbd_port
_start_fake_nbd bad-greeting
_expect_add_error "not an NBD server" -t nbd --host 127.0.0.1 --port "$NBD_PORT"
_pass
