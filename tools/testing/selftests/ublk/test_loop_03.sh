#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# loop target, NEED_GET_DATA (-g): fio write + crc32c verify.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature NEED_GET_DATA
_loop_fio_check -g
_pass
