#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Raw bad input: ublk_badinput issues malformed and out-of-state commands
# and checks the exact error codes (one line per check).
. "$(dirname "$0")/test_common.sh"
_prep_test

_run_checker 240 "$UBLK_BADINPUT"
