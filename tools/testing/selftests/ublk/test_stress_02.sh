#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kill -9 of the daemon during I/O, without recovery: I/O fails instead of
# hanging, the disk goes away, del still works.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_create_file "$UBLK_TEST_DIR/backing" 64
for spec in "null -d 64" "loop $UBLK_TEST_DIR/backing"; do
	# shellcheck disable=SC2086
	_add_dev -t $spec || _fail "add -t $spec failed"
	_crash_without_recovery "$UBLK_DEV_ID" "$spec" 4k
done
_pass
