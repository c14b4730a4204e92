#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kill -9 of an --auto_zc daemon (no recovery) with I/O in flight, so the
# driver's automatic registrations are still in the dying ring: fio ends
# with errors instead of hanging, the disk goes away or fails I/O, del
# works, for the null and the loop target.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature AUTO_BUF_REG
_create_file "$UBLK_TEST_DIR/backing" 64
for spec in "null -d 64" "loop $UBLK_TEST_DIR/backing"; do
	# shellcheck disable=SC2086
	_add_dev -t $spec --auto_zc || _fail "add -t $spec --auto_zc failed"
	_crash_without_recovery "$UBLK_DEV_ID" "$spec --auto_zc" 16k
done
_pass
