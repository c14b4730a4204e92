#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# stripe target, copy mode, 2 backing files, default chunk (64K):
# Checks: fio write + crc32c verify (4k-128k requests, split at chunks),
# ext4 round trip with sha256 checksums, then known patterns at device
# chunks and one write across three chunk boundaries; after del each piece
# must be in file (k % 2) at offset (k / 2) * chunk.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio

nf=2
chunk=65536
mode=()

_stripe_add "$nf" "${mode[@]}"
id=$UBLK_DEV_ID
_stripe_io_check "/dev/ublkb$id" "$chunk" "$nf"
_stripe_del_check "$id" "$chunk"
_pass
