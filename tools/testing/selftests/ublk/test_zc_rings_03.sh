#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# As test_zc_rings_02 with USER_RECOVERY_REISSUE: a new server recovers
# the device and the READ that the killed server held is reissued to it,
# the reader gets its data.
. "$(dirname "$0")/test_common.sh"
_prep_test

_run_checker 120 "$UBLK_ZC_MORE" recover
