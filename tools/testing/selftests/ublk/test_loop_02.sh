#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# loop target, user copy (-u): fio write + crc32c verify.
. "$(dirname "$0")/test_common.sh"
_prep_test

_need_cmd fio
_need_feature USER_COPY
_loop_fio_check -u
_pass
