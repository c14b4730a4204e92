#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# loop target, automatic buffer registration (--auto_zc): fixed-buffer
# I/O on the buffer the driver registered at FETCH/COMMIT time.
# fio write + crc32c verify, then mkfs.ext4 + files with sha256 + remount +
# verify + fsck -n; after del the backing file holds exactly what the
# device showed, and the file system survives a re-add in the same mode.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature AUTO_BUF_REG
mode=(--auto_zc)

_loop_check_del 128 "${mode[@]}"
_loop_readd_fsck "${mode[@]}"
_pass
