#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A server process with a READ request registered on three rings (two of
# its main thread, one of another thread) and a fixed read in flight is
# killed by SIGKILL: the reader's I/O fails, STOP_DEV/DEL_DEV work, nothing
# hangs (kmemleak, on the debug kernel, checks for leaks after the run).
. "$(dirname "$0")/test_common.sh"
_prep_test

_run_checker 120 "$UBLK_ZC_MORE" kill
