#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make series: export our work as a `git format-patch` series against the
# recorded 6.12 base, one logical change per patch, in review order, with a
# cover letter (vm/cover-letter.txt):
#
#   1. the io_uring core patches of patches/series, each as it is;
#   2. the UAPI header;
#   3. the driver in drivers/block/ublk/, without zero copy and zoned
#      support, with the build plumbing of patches/ (the patches there that
#      touch drivers/block/ or MAINTAINERS) and the removal of the base's
#      ublk_drv.c;
#   4. zero copy: zc.c and its hooks in the other files;
#   5. zoned devices: zoned.c and its hooks;
#   6. the selftests;
#   7. the documentation.
#
# The patches of 2-7 are built from the files as they are now, not from
# this repository's history. The driver of step 3 is the driver of today
# less two stored diffs, vm/series/zc.diff and vm/series/zoned.diff: each
# is the patch of its step without the new file (zc.c, zoned.c), i.e. the
# hooks in the shared files. Step 3 applies them in reverse to today's
# files, steps 4 and 5 forward. When a change to the driver touches those
# hooks (or their context), a diff no longer applies and this script says
# which: edit the diff so that it applies to the new files again (see
# vm/series/README). The commit messages of 2-7 are vm/series/*.msg.
#
# The result goes to results/series/; the last patch must give exactly the
# tree the build uses (build/src, branch ours), and the series is checked to
# apply with `git am` on a fresh worktree of the pristine base. make bisect
# builds it patch by patch.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
src=$build/src
out=${SERIES_OUT:-$top/results/series}
sdir=$top/vm/series
die() { echo "series: error: $*" >&2; exit 1; }

"$top/vm/prepare-tree.sh" >/dev/null
g() { git -C "$src" -c gc.auto=0 "$@"; }
base_version=$(cat "$build/base-version")

drv=drivers/block/ublk
uapi=include/uapi/linux/ublk_cmd.h
selftests=tools/testing/selftests/ublk
doc=Documentation/block/ublk.rst
# the base's driver, which ours replaces
old_drv=drivers/block/ublk_drv.c
# features split out of the driver patch, in series order: name and the
# file that is wholly the feature's
features=("zc $drv/zc.c" "zoned $drv/zoned.c")

final=$(g rev-parse "refs/heads/ours^{tree}")
signoff="Signed-off-by: $(git -C "$top" config user.name) <$(git -C "$top" config user.email)>"
author_name=$(git -C "$top" config user.name)
author_email=$(git -C "$top" config user.email)

idx=$(mktemp "$build/.series-index.XXXXXX")
tmp=$(mktemp -d "$build/.series-tmp.XXXXXX")
trap 'rm -rf "$idx" "$tmp"' EXIT
export GIT_INDEX_FILE=$idx

# Put @paths as they are in the final tree into the index (removing what
# the final tree does not have under them).
take() {
	local p
	for p in "$@"; do
		g rm -r -q -f --cached --ignore-unmatch -- "$p" >/dev/null
		if g cat-file -e "$final:$p" 2>/dev/null; then
			g ls-tree -r --full-tree "$final" -- "$p" |
				g update-index --index-info
		fi
	done
}

# Commit the index on $head with the message in file $1 (subject, blank
# line, body), authored by $2 <$3> at $4 (defaults: us, the date of the
# last commit of ours that touched $5...).
head=$(g rev-parse base)
commit() {
	local msgf=$1 name=$2 email=$3 date=$4 tree msg
	shift 4
	tree=$(g write-tree)
	[ "$tree" != "$(g rev-parse "$head^{tree}")" ] ||
		die "$(head -n 1 "$msgf"): the patch would be empty"
	msg=$(cat "$msgf")
	grep -q '^Signed-off-by:' <<< "$msg" || msg=$(printf '%s\n\n%s\n' "$msg" "$signoff")
	[ -n "$date" ] || date=$(git -C "$top" log -1 --format=%ad -- "$@")
	[ -n "$date" ] || date=$(date -R)
	head=$(GIT_AUTHOR_NAME=$name GIT_AUTHOR_EMAIL=$email GIT_AUTHOR_DATE=$date \
	       GIT_COMMITTER_DATE=$date g commit-tree "$tree" -p "$head" <<< "$msg")
}

g read-tree base

# 1. The patches of patches/series (commits of ours, the overlay commit
# aside): the io_uring core ones now, the driver's build plumbing later.
plumbing=$tmp/plumbing.diff
: > "$plumbing"
declare -A ranges
n=0
for c in $(g rev-list --reverse base..ours); do
	files=$(g diff-tree --no-commit-id --name-only -r "$c")
	if [ "$(g log -1 --format=%s "$c")" = "ublk: our driver, UAPI header, selftests and documentation" ]; then
		continue
	fi
	if grep -qE '^(drivers/block/|MAINTAINERS$)' <<< "$files"; then
		g diff "$c^" "$c" >> "$plumbing"
		continue
	fi
	g diff "$c^" "$c" | g apply --cached ||
		die "$(g log -1 --format=%s "$c") does not apply"
	g log -1 --format=%B "$c" > "$tmp/msg"
	commit "$tmp/msg" "$(g log -1 --format=%an "$c")" \
		"$(g log -1 --format=%ae "$c")" "$(g log -1 --format=%ad "$c")"
	n=$((n + 1))
done
ranges[CORE]="1-$n"

# 2. The UAPI header.
take "$uapi"
commit "$sdir/uapi.msg" "$author_name" "$author_email" "" "$uapi"
n=$((n + 1)); ranges[UAPI]=$n

# 3. The driver, less its features: today's files, each feature's diff
# taken back in reverse order.
if [ -s "$plumbing" ]; then
	g apply --cached "$plumbing" ||
		die "the build plumbing of patches/ does not apply before the driver"
fi
take "$drv"
g rm -q -f --cached --ignore-unmatch -- "$old_drv" >/dev/null
for ((i = ${#features[@]} - 1; i >= 0; i--)); do
	read -r name file <<< "${features[$i]}"
	g rm -q -f --cached -- "$file" >/dev/null
	g apply --cached -R "$sdir/$name.diff" 2>"$tmp/err" || {
		cat "$tmp/err" >&2
		die "vm/series/$name.diff no longer applies (in reverse) to today's $drv: the driver changed where the $name hooks are; update the diff (vm/series/README)"
	}
done
commit "$sdir/driver.msg" "$author_name" "$author_email" "" "$drv"
n=$((n + 1)); ranges[DRIVER]=$n

# 4, 5. The features, each its file and its diff.
for f in "${features[@]}"; do
	read -r name file <<< "$f"
	take "$file"
	g apply --cached "$sdir/$name.diff" ||
		die "vm/series/$name.diff does not apply forward after taking it back: fix the diff"
	commit "$sdir/$name.msg" "$author_name" "$author_email" "" "$file" "$sdir/$name.diff"
	n=$((n + 1)); ranges[${name^^}]=$n
done
if [ -n "$(g diff --cached --name-only "$final" -- "$drv")" ]; then
	die "the driver after the feature patches differs from today's $drv"
fi

# 6, 7. The selftests, the documentation.
take "$selftests"
commit "$sdir/selftests.msg" "$author_name" "$author_email" "" "$selftests"
n=$((n + 1)); ranges[SELFTESTS]=$n
take "$doc"
commit "$sdir/docs.msg" "$author_name" "$author_email" "" "$doc"
n=$((n + 1)); ranges[DOCS]=$n
unset GIT_INDEX_FILE

# The series must hold everything the build uses, nothing else.
if [ "$(g rev-parse "$head^{tree}")" != "$final" ]; then
	g diff --stat "$head" "$final" >&2
	die "the series' last tree differs from build/src (ours): a file of the overlay or patches/ belongs to no patch"
fi
g update-ref refs/heads/series "$head"

rm -rf "$out"
mkdir -p "$out"
g format-patch -q --cover-letter --thread=shallow -o "$out" \
	--subject-prefix="PATCH" base..series
cover=$(ls "$out"/0000-cover-letter.patch)
python3 - "$cover" "$top/vm/cover-letter.txt" "$base_version" \
	"CORE=${ranges[CORE]}" "UAPI=${ranges[UAPI]}" "DRIVER=${ranges[DRIVER]}" \
	"ZC=${ranges[ZC]}" "ZONED=${ranges[ZONED]}" \
	"SELFTESTS=${ranges[SELFTESTS]}" "DOCS=${ranges[DOCS]}" <<'EOF'
import re
import sys
path, tmpl, ver = sys.argv[1:4]
s = open(path).read()
body = open(tmpl).read().replace('@BASE@', ver)
for kv in sys.argv[4:]:
    k, v = kv.split('=', 1)
    body = body.replace('@%s@' % k, v)
left = re.findall(r'@[A-Z]+@', body)
if left:
    sys.exit('series: error: vm/cover-letter.txt: unknown ' + ' '.join(left))
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
patches=()
for p in "$out"/*.patch; do
	[ "${p##*/}" = 0000-cover-letter.patch ] || patches+=("$p")
done
if ! git -C "$check" -c user.name=series -c user.email=series@localhost \
	am -q "${patches[@]}" 2>/dev/null; then
	git -C "$check" am --abort 2>/dev/null || true
	die "the series does not apply with git am on the base"
fi
applied=$(git -C "$check" rev-list --count base..HEAD)
[ "$(git -C "$check" rev-parse 'HEAD^{tree}')" = "$(g rev-parse 'series^{tree}')" ] ||
	die "git am result differs from the series"
g worktree remove --force "$check"

# checkpatch --strict on each patch, as a reviewer would run it. make lint
# holds our files to 0 errors and 0 warnings; here the messages and the
# patch form are checked too. FILE_PATH_CHANGES (new files without a
# MAINTAINERS change in the same patch) is expected for the patches after
# the driver's: MAINTAINERS covers drivers/block/ublk/ from that one on.
for p in "${patches[@]}"; do
	r=$("$src/scripts/checkpatch.pl" --strict --no-tree --quiet --show-types \
		--color=never --ignore FILE_PATH_CHANGES "$p" 2>&1 |
		grep -E '^(ERROR|WARNING|CHECK):' | cut -d: -f1,2 | sort | uniq -c |
		awk '{printf " %s %s", $1, $2}') || true
	[ -z "$r" ] || echo "series: note: checkpatch ${p##*/}:$r" >&2
done
echo "series: $n patches + cover letter in ${out#"$top"/}, apply with git am on $base_version ($applied applied)"
