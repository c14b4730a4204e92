#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The peer of make bench: the pristine base kernel (tag `base` of the
# prepared tree, Debian's 6.12 with its own in-tree ublk driver), checked
# out as a worktree in build/bench-base-src and built with the same minimal
# config as ours into build/kernel-base (vm/build-kernel.sh base; release
# <version>-ublk-base). Needs the prepared tree (make prepare). The worktree
# is made again only when the base tag moved or the tree was changed, so a
# second run is a no-op build.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
src=$build/src
wt=$build/bench-base-src

die() { echo "build-base-kernel: error: $*" >&2; exit 1; }

g() { git -C "$src" -c gc.auto=0 "$@"; }
want=$(g rev-parse -q --verify 'refs/tags/base^{commit}' 2>/dev/null) ||
	die "no tag base in $src (make prepare)"
g config gc.auto 0

have=
if [ -e "$wt/.git" ]; then
	have=$(git -C "$wt" rev-parse -q --verify HEAD 2>/dev/null || true)
fi
if [ "$have" != "$want" ] ||
   [ -n "$(git -C "$wt" status --porcelain --untracked-files=no 2>/dev/null | head -n1)" ]; then
	echo "build-base-kernel: worktree of base ($(cat "$build/base-version" 2>/dev/null || echo '?')) in ${wt#"$top"/}"
	rm -rf "$wt"
	g worktree prune
	g worktree add -q --detach "$wt" base
fi

KSRC=$wt exec "$top/vm/build-kernel.sh" base
