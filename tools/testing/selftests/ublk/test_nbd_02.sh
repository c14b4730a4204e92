#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nbd target, zero copy: WRITE payloads are sent from and READ payloads
# received into the request's registered buffer (IORING_OP_SEND/RECV with
# IORING_RECVSEND_FIXED_BUF).  fio verify with -z (REGISTER_IO_BUF by hand)
# and two connections, then --auto_zc and --auto_zc_fallback; the data is
# the same whichever mode reads it.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio nbdkit
_need_feature SUPPORT_ZERO_COPY
_nbd_port
_start_nbdkit memory 8M

_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" -z --conns 2 ||
	_fail "add -t nbd -z failed"
id=$UBLK_DEV_ID
_fio_verify_check "/dev/ublkb$id" 1M --bsrange=4k-256k --numjobs=2 \
	--offset_increment=4M
sum=$(_sum_mb "/dev/ublkb$id" 8)
_del_dev "$id" || _fail "del (-z) failed"

if _have_feature AUTO_BUF_REG; then
	_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" --auto_zc ||
		_fail "add -t nbd --auto_zc failed"
	id=$UBLK_DEV_ID
	[ "$(_sum_mb "/dev/ublkb$id" 8)" = "$sum" ] ||
		_fail "--auto_zc reads back other data than -z wrote"
	_fio_verify_check "/dev/ublkb$id" 2M --offset=6M --bsrange=4k-64k
	sum=$(_sum_mb "/dev/ublkb$id" 8)
	_del_dev "$id" || _fail "del (--auto_zc) failed"

	_add_dev -t nbd --host 127.0.0.1 --port "$NBD_PORT" --auto_zc_force_fallback ||
		_fail "add -t nbd --auto_zc_force_fallback failed"
	id=$UBLK_DEV_ID
	[ "$(_sum_mb "/dev/ublkb$id" 8)" = "$sum" ] ||
		_fail "fallback reads back other data"
	_fio_verify_check "/dev/ublkb$id" 1M --bsrange=4k-64k
	_del_dev "$id" || _fail "del (fallback) failed"
	[ "$(_need_reg_count "$id")" -gt 0 ] ||
		_fail "no request took the fallback path"
fi
_pass
