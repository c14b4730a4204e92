#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# As test_zc_rings_03 (USER_RECOVERY_REISSUE, server killed with a READ
# registered on three rings), but nobody recovers: STOP_DEV fails the
# reader's I/O instead of leaving it waiting, DEL_DEV works.
. "$(dirname "$0")/test_common.sh"
_prep_test

_run_checker 120 "$UBLK_ZC_MORE" recover_del
