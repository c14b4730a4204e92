#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# loop target, copy mode: fio write + crc32c verify; content matches the backing file.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_loop_fio_check
_pass
