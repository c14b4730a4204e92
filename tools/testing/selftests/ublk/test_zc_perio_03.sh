#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kublk --per_io_tasks (UBLK_F_PER_IO_DAEMON): several threads serve one
# queue, each fetching its own tags on its own ring. fio write + crc32c
# verify on the loop target with zero copy (2 threads) and in copy mode
# (3 threads, an uneven split of the tags); every thread served requests.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature PER_IO_DAEMON
_need_feature SUPPORT_ZERO_COPY
_create_file "$UBLK_TEST_DIR/backing" 16
for spec in "2 8M -z" "3 4M"; do
	# shellcheck disable=SC2086
	set -- $spec
	n=$1
	size=$2
	shift 2
	_add_dev -t loop -q 1 -d 16 --per_io_tasks "$n" "$@" \
		"$UBLK_TEST_DIR/backing" || _fail "add --per_io_tasks $spec failed"
	id=$UBLK_DEV_ID
	"$KUBLK" list -n "$id" -v | grep -q PER_IO_DAEMON ||
		_fail "PER_IO_DAEMON not in the device flags ($spec)"
	_fio_verify_check "/dev/ublkb$id" "$size"
	_del_dev "$id" || _fail "del failed ($spec)"
	log=$(_daemon_log "$id")
	threads=$(grep -c ' exit: ios=' "$log")
	[ "$threads" = "$n" ] || _fail "$threads thread exit lines, expected $n ($spec)"
	grep -q ' exit: ios=0 ' "$log" && {
		cat "$log"
		_fail "a thread served no request ($spec)"
	}
	_log "--per_io_tasks $spec: $(grep -o 'ios=[0-9]*' "$log" | xargs)"
	rm -f "$log"	# the next device may get the same id
done
_pass
