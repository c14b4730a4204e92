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

files=()
for ((i = 0; i < nf; i++)); do
	_create_file "$UBLK_TEST_DIR/stripe$i" 64
	files+=("$UBLK_TEST_DIR/stripe$i")
done
_add_dev -t stripe --chunk 8192 "${mode[@]}" "${files[@]}" ||
	_fail "add -t stripe ${mode[*]} failed"
id=$UBLK_DEV_ID
dev=/dev/ublkb$id
[ "$(_dev_size "$id")" = $((nf * (64 << 20))) ] ||
	_fail "size $(_dev_size "$id"), expected $((nf * (64 << 20)))"
[ "$(_dev_field "$id" target)" = stripe ] || _fail "target not stripe"
_fio_verify_check "$dev" 32M
_ext4_check "$dev"
_stripe_write_patterns "$dev" "$chunk" "$nf"
_del_dev "$id" || _fail "del failed"
_check_dev_gone "$id" || _fail "nodes left after del"
_stripe_verify_files "$chunk" "${files[@]}"
_pass
