#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Parameter validation: bad block sizes, size 0, depth 0 / > 4096, queues 0 /
# > nr_cpus, empty backing file are refused with an error, and no device is
# left behind (also when it is the kernel that refuses, after ADD_DEV).
. "$(dirname "$0")/test_common.sh"
_prep_test

count() { _dev_count; }
before=$(count)
: >"$UBLK_TEST_DIR/empty"
ncpu=$(getconf _NPROCESSORS_CONF)
cases=(
	"-t null -b 8192"	# logical block size > PAGE_SIZE: kernel
	"-t null -b 256"	# < 512: kernel
	"-t null -b 1000"	# not a power of two
	"-t null -b 4096 --physical_bs 512"	# physical < logical: kernel
	"-t null --size 0"
	"-t null --size 1000"	# not a multiple of the block size
	"-t null -d 0"
	"-t null -d 4097"
	"-t null -q 0"
	"-t null -q $((ncpu + 1))"
	"-t loop $UBLK_TEST_DIR/empty"
)
for c in "${cases[@]}"; do
	# shellcheck disable=SC2086
	if out=$(timeout 60 "$KUBLK" add $c 2>&1); then
		id=$(sed -n 's/^dev_id=\([0-9]*\) .*/\1/p' <<<"$out")
		[ -n "$id" ] && _UBLK_DEVS+=("$id")
		_fail "'add $c' was accepted: $out"
	fi
	[[ $out == *kublk:* ]] || _fail "'add $c' failed without a message"
	_log "add $c -> ${out##*$'\n'}"
	[ "$(count)" = "$before" ] || _fail "'add $c' left a device behind"
done
_pass
