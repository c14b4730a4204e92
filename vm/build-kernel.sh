#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build one kernel flavour from the prepared tree (vm/prepare-tree.sh):
#   vm/build-kernel.sh min     configs/minimal.config
#   vm/build-kernel.sh debug   configs/minimal.config + configs/debug.config
#   vm/build-kernel.sh base    configs/minimal.config on the pristine base
#                              (make bench's peer; vm/build-base-kernel.sh
#                              makes its worktree build/bench-base-src)
# KSRC=dir builds from another source tree (default build/src; for base,
# build/bench-base-src).
# Output in build/kernel-<flavour>: bzImage, modules installed under
# modroot/lib/modules/<release>, UAPI headers under usr/include.
# The .config is regenerated only when the fragments change, so a rebuild
# after a one-file change is incremental; ccache covers the rest.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
flavour=${1:?usage: build-kernel.sh min|debug|base}
src=${KSRC:-$build/src}
out=$build/kernel-$flavour
# No "+" after the release: the tree is a git repo past its base tag on purpose.
localversion=

case "$flavour" in
min)	frags="$top/configs/minimal.config" ;;
debug)	frags="$top/configs/minimal.config $top/configs/debug.config" ;;
base)	frags="$top/configs/minimal.config"
	src=${KSRC:-$build/bench-base-src}
	localversion=-base ;;	# 6.12.y-ublk-base: told apart from ours
*)	echo "build-kernel: unknown flavour $flavour" >&2; exit 2 ;;
esac

die() { echo "build-kernel: error: $*" >&2; exit 1; }

mkdir -p "$out"
jobs=$(( $(nproc) + 1 ))
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=$build
export CCACHE_NOHASHDIR=1
command -v ccache >/dev/null && ccache -M 8G >/dev/null
cc="gcc"
command -v ccache >/dev/null && cc="ccache gcc"
export KBUILD_BUILD_USER=ublk KBUILD_BUILD_HOST=harness
export KBUILD_BUILD_TIMESTAMP="2024-11-17"
export LOCALVERSION=$localversion
kmake() { make -C "$src" O="$out" CC="$cc" HOSTCC="$cc" -j"$jobs" "$@"; }

fp=$(cat $frags | sha256sum | cut -d' ' -f1)
if [ ! -f "$out/.config" ] || [ "$(cat "$out/.config-fp" 2>/dev/null)" != "$fp" ]; then
	echo "build-kernel: configuring $flavour from $(echo $frags | xargs -n1 basename | xargs)"
	cat $frags > "$out/fragment.config"
	KCONFIG_ALLCONFIG="$out/fragment.config" kmake -s allnoconfig
	# Every line of the fragments must have taken effect (catches typos
	# and dependencies we forgot).
	bad=0
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		sym=${line%%=*}
		val=${line#*=}
		if [ "$val" = n ]; then
			if grep -q "^$sym=" "$out/.config"; then
				echo "  $sym: wanted n, got $(grep "^$sym=" "$out/.config")" >&2
				bad=1
			fi
		elif ! grep -qxF "$line" "$out/.config"; then
			echo "  $sym: wanted $val, got $(grep "^$sym=" "$out/.config" || echo 'not set')" >&2
			bad=1
		fi
	done < "$out/fragment.config"
	[ $bad = 0 ] || die "config fragment not satisfied for $flavour (see above)"
	echo "$fp" > "$out/.config-fp"
fi

start=$(date +%s)
kmake bzImage modules
rel=$(cat "$out/include/config/kernel.release")
rm -rf "$out/modroot"
kmake -s INSTALL_MOD_PATH="$out/modroot" INSTALL_MOD_STRIP=1 modules_install >/dev/null
kmake -s headers_install >/dev/null
echo "$rel" > "$out/release"
ln -sf "$(realpath --relative-to="$out" "$out/arch/x86/boot/bzImage")" "$out/bzImage"
echo "build-kernel: $flavour $rel built in $(( $(date +%s) - start ))s -> $out/bzImage"
