#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# As test_zc_perio_01 with UBLK_F_BUF_REG_OFF_DAEMON: REGISTER_IO_BUF and
# UNREGISTER_IO_BUF from the task that does not own the tag work.
. "$(dirname "$0")/test_common.sh"
_prep_test

_run_checker 120 "$UBLK_ZC_MORE" perio_off
