#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make run: boot the minimal kernel and run the demo (vm/demo.sh) with its
# output shown as it happens.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$top/results"
plan=$top/results/plan-run
printf 'demo\t900\tbash %s\n' "$top/vm/demo.sh" > "$plan"
"$top/vm/run-vm.sh" -k min -v -t 1200 -o "$top/results/run" "$plan"
