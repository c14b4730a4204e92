#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# stripe target, automatic buffer registration (--auto_zc), 2 backing
# files, --chunk 8K: fixed-buffer pieces in parallel on the driver's
# registration.
# Checks: fio write + crc32c verify (4k-128k requests, split at chunks),
# ext4 round trip with sha256 checksums, then known patterns at device
# chunks and one write across three chunk boundaries; after del each piece
# must be in file (k % 2) at offset (k / 2) * chunk.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature AUTO_BUF_REG

nf=2
chunk=8192
mode=(--auto_zc)

_stripe_add "$nf" --chunk "$chunk" "${mode[@]}"
id=$UBLK_DEV_ID
_stripe_io_check "/dev/ublkb$id" "$chunk" "$nf"
_stripe_del_check "$id" "$chunk"
_pass
