#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# loop target, AUTO_BUF_REG with UBLK_AUTO_BUF_REG_FALLBACK
# (--auto_zc_fallback): fio write + crc32c verify, then mkfs.ext4 + files
# with sha256 + remount + verify + fsck -n; after del the backing file holds
# exactly what the device showed, and the file system survives a re-add.
# Then a device whose automatic registrations all fail
# (--auto_zc_force_fallback passes an index beyond the buffer table), so
# every request arrives with UBLK_IO_F_NEED_REG_BUF and kublk registers it
# with REGISTER_IO_BUF: fio verify passes, the data is in the backing file,
# and the daemon counted the fallback requests.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
# fallback requests are registered with REGISTER_IO_BUF, which the driver
# allows on AUTO_BUF_REG devices; kublk also asks for SUPPORT_ZERO_COPY
# when the kernel has it (mainline needs it for REGISTER_IO_BUF)
_need_feature AUTO_BUF_REG
mode=(--auto_zc_fallback)

_loop_check_del 128 "${mode[@]}"
_log "fallback requests on the normal device: $(_need_reg_count "$UBLK_DEV_ID")"
_loop_readd_fsck "${mode[@]}"

# every automatic registration fails: the fallback path carries all I/O
_create_file "$UBLK_TEST_DIR/backing2" 64
_add_dev -t loop --auto_zc_force_fallback "$UBLK_TEST_DIR/backing2" ||
	_fail "add --auto_zc_force_fallback failed"
id=$UBLK_DEV_ID
_fio_verify_check "/dev/ublkb$id" 16M
sum=$(_sum_mb "/dev/ublkb$id" 64)
_del_dev "$id" || _fail "del failed"
[ "$(_sum_mb "$UBLK_TEST_DIR/backing2" 64)" = "$sum" ] ||
	_fail "backing file differs from what the fallback device showed"
n=$(_need_reg_count "$id")
[ "$n" -gt 0 ] || _fail "no request arrived with UBLK_IO_F_NEED_REG_BUF (count $n)"
_log "$n requests took the fallback path"
_pass
