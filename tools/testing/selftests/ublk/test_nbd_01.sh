#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nbd target against nbdkit's memory plugin: the handshake gives the device
# the export's size; fio write + crc32c verify in copy mode and in user
# copy mode (-u), the data written in one mode reads back in the other, and
# delete ends the connection with NBD_CMD_DISC (nbdkit keeps running).
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio nbdkit
_nbd_port
_start_nbdkit memory 8M

_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" -d 32 ||
	_fail "add -t nbd (copy) failed"
id=$UBLK_DEV_ID
[ "$(_dev_size "$id")" = $((8 << 20)) ] || _fail "size $(_dev_size "$id")"
_fio_verify_check "/dev/ublkb$id" 2M --bsrange=4k-64k
sum=$(_sum_mb "/dev/ublkb$id" 8)
_del_dev "$id" || _fail "del (copy) failed"
_check_dev_gone "$id" || _fail "nodes left after del"
kill -0 "$NBD_SRV_PID" || _fail "nbdkit died"

_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" -u -q 2 ||
	_fail "add -t nbd -u failed"
id=$UBLK_DEV_ID
[ "$(_sum_mb "/dev/ublkb$id" 8)" = "$sum" ] ||
	_fail "user copy reads back other data than copy mode wrote"
_fio_verify_check "/dev/ublkb$id" 2M --offset=4M --bsrange=4k-64k
_del_dev "$id" || _fail "del (user copy) failed"
_pass
