#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make series: export our work as a `git format-patch` series against the
# recorded 6.12 base, in review order, with a cover letter:
#   1. the io_uring core patches (patches/series, as they are);
#   2. our overlay files, replayed from this repository's history, one
#      patch per commit that changed them, grouped as the driver and its
#      UAPI header, then the selftests, then the documentation. The patch
#      that moves the driver's build to drivers/block/ublk/ is folded
#      into the commit that split the driver into that directory.
# The result goes to results/series/; it is checked to apply with `git am`
# on a fresh worktree of the pristine base.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
src=$build/src
out=${SERIES_OUT:-$top/results/series}
die() { echo "series: error: $*" >&2; exit 1; }

"$top/vm/prepare-tree.sh" >/dev/null
g() { git -C "$src" -c gc.auto=0 "$@"; }
base_version=$(cat "$build/base-version")

# The commit after the last patch: ours, less the overlay commit.
tip=$(g rev-parse refs/heads/ours)
if [ "$(g log -1 --format=%s "$tip")" = "ublk: our driver, UAPI header, selftests and documentation" ]; then
	tip=$(g rev-parse "$tip^")
fi

# The patch that builds the driver from drivers/block/ublk/ instead of
# ublk_drv.c (in patches/ because it changes base files) goes with the
# overlay commit that splits the driver, not before the driver's history:
# every step of the series must build. Its deletion of the base's
# ublk_drv.c is the replayed history's business.
deferred=
if [ "$(g log -1 --format=%s "$tip")" = "block: build ublk from drivers/block/ublk/" ]; then
	deferred=$(g diff "$tip^" "$tip" -- . ':(exclude)drivers/block/ublk_drv.c')
	tip=$(g rev-parse "$tip^")
fi

groups=("drivers/block/ublk_drv.c drivers/block/ublk include/uapi/linux/ublk_cmd.h"
	"tools/testing/selftests/ublk"
	"Documentation/block/ublk.rst")
signoff="Signed-off-by: $(git -C "$top" config user.name) <$(git -C "$top" config user.email)>"

idx=$(mktemp "$build/.series-index.XXXXXX")
trap 'rm -f "$idx"' EXIT
export GIT_INDEX_FILE=$idx
g read-tree "$tip"
head=$tip
for grp in "${groups[@]}"; do
	# shellcheck disable=SC2086
	for c in $(git -C "$top" log --reverse --format=%H -- $grp); do
		changed=0
		# shellcheck disable=SC2086
		for f in $(git -C "$top" diff-tree --no-commit-id --name-only -r "$c" -- $grp); do
			if git -C "$top" cat-file -e "$c:$f" 2>/dev/null; then
				blob=$(git -C "$top" cat-file blob "$c:$f" | g hash-object -w --stdin)
				mode=$(git -C "$top" ls-tree "$c" -- "$f" | cut -d' ' -f1)
				g update-index --add --cacheinfo "$mode,$blob,$f"
			else
				g update-index --force-remove "$f"
			fi
			changed=1
		done
		[ $changed = 1 ] || continue
		if [ -n "$deferred" ] &&
		   git -C "$top" cat-file -e "$c:drivers/block/ublk/Makefile" 2>/dev/null; then
			printf '%s\n' "$deferred" | g apply --cached ||
				die "the deferred build patch does not apply at $c"
			deferred=
		fi
		tree=$(g write-tree)
		[ "$tree" != "$(g rev-parse "$head^{tree}")" ] || continue
		msg=$(git -C "$top" log -1 --format=%B "$c")
		grep -q '^Signed-off-by:' <<< "$msg" || msg=$(printf '%s\n\n%s\n' "$msg" "$signoff")
		head=$(GIT_AUTHOR_NAME="$(git -C "$top" log -1 --format=%an "$c")" \
		       GIT_AUTHOR_EMAIL="$(git -C "$top" log -1 --format=%ae "$c")" \
		       GIT_AUTHOR_DATE="$(git -C "$top" log -1 --format=%ad "$c")" \
		       g commit-tree "$tree" -p "$head" <<< "$msg")
	done
done
unset GIT_INDEX_FILE
# The replayed overlay must equal what the build uses.
want=$(g rev-parse "refs/heads/ours^{tree}")
[ "$(g rev-parse "$head^{tree}")" = "$want" ] ||
	echo "series: note: the work tree has uncommitted overlay changes; the series holds committed work only" >&2
g update-ref refs/heads/series "$head"

rm -rf "$out"
mkdir -p "$out"
n=$(g rev-list --count base..series)
g format-patch -q --cover-letter --thread=shallow -o "$out" \
	--subject-prefix="PATCH" base..series
cover=$(ls "$out"/0000-cover-letter.patch)
python3 - "$cover" "$top/vm/cover-letter.txt" "$base_version" <<'EOF'
import sys
path, tmpl, ver = sys.argv[1:]
s = open(path).read()
body = open(tmpl).read().replace('@BASE@', ver)
subject, _, text = body.partition('\n\n')
s = s.replace('*** SUBJECT HERE ***', subject.strip())
s = s.replace('*** BLURB HERE ***', text.strip())
open(path, 'w').write(s)
EOF

# It must apply on the pristine base.
check=$build/series-check
g worktree prune
rm -rf "$check"
g worktree add -q --detach "$check" base
if ! git -C "$check" -c user.name=series -c user.email=series@localhost \
	am -q $(ls "$out"/*.patch | grep -v /0000-cover-letter.patch) 2>/dev/null; then
	git -C "$check" am --abort 2>/dev/null || true
	die "the series does not apply with git am on the base"
fi
applied=$(git -C "$check" rev-list --count base..HEAD)
[ "$(git -C "$check" rev-parse 'HEAD^{tree}')" = "$(g rev-parse 'series^{tree}')" ] ||
	die "git am result differs from the series"
g worktree remove --force "$check"
echo "series: $n patches + cover letter in ${out#"$top"/}, apply with git am on $base_version ($applied applied)"
