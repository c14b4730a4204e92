#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Zero-copy request buffers as NVMe passthrough buffers: NVME_URING_CMD_IO
# with IORING_URING_CMD_FIXED on the namespace's generic char device reads
# into a READ request and writes from a WRITE request (data intact on both
# sides); the wrong direction, before and after the READ buffer was filled,
# and ranges outside the request fail with -EFAULT. Skips without an NVMe
# namespace (the debug kernel drives QEMU's, vm/run-vm.sh).
. "$(dirname "$0")/test_common.sh"
_prep_test

[ -c /dev/ng0n1 ] || _skip "no NVMe generic char device /dev/ng0n1"
_run_checker 120 "$UBLK_ZC_MORE" nvme
