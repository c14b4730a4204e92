#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# UBLK_F_PER_IO_DAEMON: a FETCH from a second task is refused without the
# flag; with it two tasks each fetch and serve their own tags; COMMIT,
# REGISTER_IO_BUF and UNREGISTER_IO_BUF of a tag from the task that does
# not own it fail with -EINVAL; 8 writes read back intact.
. "$(dirname "$0")/test_common.sh"
_prep_test

_run_checker 120 "$UBLK_ZC_MORE" perio
