#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# One request buffer registered on two rings of the server thread and on
# the ring of another thread (BUF_REG_OFF_DAEMON): data moved through each,
# the request ends only after its COMMIT and every registration is gone
# (UNREGISTER_IO_BUF, IORING_UNREGISTER_BUFFERS, ring teardown); a request
# registered on a ring of another process ends when that process exits.
. "$(dirname "$0")/test_common.sh"
_prep_test

_run_checker 120 "$UBLK_ZC_MORE" rings
