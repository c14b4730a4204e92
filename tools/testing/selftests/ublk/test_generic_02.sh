#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# features: GET_FEATURES is printed with the flag names this project supports;
# a device's granted flags show up in list.
. "$(dirname "$0")/test_common.sh"
_prep_test

out=$("$KUBLK" features) || _fail "kublk features failed"
echo "$out"
mask=$(sed -n 's/^features: \(0x[0-9a-f]*\)$/\1/p' <<<"$out")
[ -n "$mask" ] && [ $((mask)) -ne 0 ] || _fail "no feature mask printed"
for f in USER_COPY USER_RECOVERY USER_RECOVERY_REISSUE NEED_GET_DATA \
	 UNPRIVILEGED_DEV CMD_IOCTL_ENCODE; do
	grep -qw "$f" <<<"$out" || _fail "feature $f missing"
done
# names and mask agree
n=$(grep -c '(bit [0-9]*)' <<<"$out")
bits=0
for ((i = 0; i < 64; i++)); do
	(( (mask >> i) & 1 )) && bits=$((bits + 1))
done
[ "$n" = "$bits" ] || _fail "$n names for $bits bits"

_add_dev -t null -u || _fail "add -u failed"
flags=$(_dev_field "$UBLK_DEV_ID" flags)
(( flags & 0x80 )) || _fail "USER_COPY (0x80) not in granted flags $flags"
(( flags & 0x40 )) || _fail "CMD_IOCTL_ENCODE (0x40) not in granted flags $flags"
_pass
