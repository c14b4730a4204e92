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

files=()
for ((i = 0; i < nf; i++)); do
	_create_file "$UBLK_TEST_DIR/stripe$i" 64
	files+=("$UBLK_TEST_DIR/stripe$i")
done
_add_dev -t stripe --chunk 32768 "${mode[@]}" "${files[@]}" ||
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
