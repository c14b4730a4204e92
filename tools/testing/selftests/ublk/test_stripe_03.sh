#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# stripe target, zero copy (-z), 3 backing files, --chunk 32K: per request
# REGISTER_IO_BUF -> one READ_FIXED/WRITE_FIXED per piece at its offset in
# the request buffer (hardlinked) -> UNREGISTER_IO_BUF.
# Checks: fio write + crc32c verify (4k-128k requests, split at chunks),
# ext4 round trip with sha256 checksums, then known patterns at device
# chunks and one write across three chunk boundaries; after del each piece
# must be in file (k % 3) at offset (k / 3) * chunk.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature SUPPORT_ZERO_COPY

nf=3
chunk=32768
mode=(-z)

_stripe_add "$nf" --chunk "$chunk" "${mode[@]}"
id=$UBLK_DEV_ID
_stripe_io_check "/dev/ublkb$id" "$chunk" "$nf"
_stripe_del_check "$id" "$chunk"
_pass
