#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# SIGTERM to the daemon is a clean shutdown: device stopped and deleted.
. "$(dirname "$0")/test_common.sh"
_prep_test

_add_dev -t null -q 1 || _fail "add failed"
id=$UBLK_DEV_ID
pid=$(_daemon_pid "$id")
kill -TERM "$pid" || _fail "cannot signal daemon $pid"
_wait_pid_gone "$pid" 30 || _fail "daemon $pid did not exit on SIGTERM"
_check_dev_gone "$id" || _fail "device $id still present after SIGTERM"
"$KUBLK" list -n "$id" >/dev/null 2>&1 && _fail "dev $id still known to the driver"
_pass
