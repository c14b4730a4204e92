# SPDX-License-Identifier: GPL-2.0
"""The benchmark's case table, shared by the guest runner (guest-bench.py)
and the report maker (report.py).

A case is GROUP/WORKLOAD/TARGET.  Each group has a reference target (a
kernel driver: null_blk, kernel loop) and the ublk server in each copy mode
the kernel offers; every workload of a group runs on every target of the
group, interleaved (all targets of a workload back to back, repetition by
repetition, every other repetition in reverse order), so the ratios that
matter compare figures taken seconds apart in the same boot.
"""

from collections import namedtuple

# ublk copy modes: name, kublk flags, the GET_FEATURES flag it needs.
Mode = namedtuple("Mode", "name flags feature")
MODES = [
    Mode("copy", [], None),
    Mode("user", ["-u"], "USER_COPY"),
    Mode("zc", ["-z"], "SUPPORT_ZERO_COPY"),
    Mode("auto_zc", ["--auto_zc"], "AUTO_BUF_REG"),
]
MODE_BY_NAME = {m.name: m for m in MODES}

# name, fio rw, block size, iodepth per job, fio jobs (= device queues),
# the figure that matters (iops or mib_s)
Workload = namedtuple("Workload", "name rw bs qd jobs metric")


def W(rw, bs, qd, jobs=1, name=None):
    short = {"randread": "randread", "randwrite": "randwrite",
             "read": "seqread", "write": "seqwrite"}[rw]
    name = name or "%s-%s-qd%d%s" % (short, bs, qd, "-2q" if jobs > 1 else "")
    return Workload(name, rw, bs, qd, jobs,
                    "iops" if bs == "4k" else "mib_s")


# modes: the ublk copy modes measured (names of MODES), None = all
Group = namedtuple("Group", "name ref ublk_target size workloads modes",
                   defaults=(None,))
GROUPS = [
    # null: /dev/nullb0 (built in; irqmode=0, 2 submit queues, set on the
    # kernel command line by vm/bench.sh) vs `kublk add -t null`.
    Group("null", "null_blk", "null", "1G", [
        W("randread", "4k", 64),
        W("randread", "4k", 64, jobs=2),
        W("read", "64k", 16),
        W("write", "64k", 16),
        W("read", "512k", 16),
        W("write", "512k", 16),
        W("randread", "4k", 1),          # completion latency p50/p99
    ]),
    # loop: `losetup --direct-io=on` vs `kublk add -t loop`, the same
    # tmpfs-backed file under both.
    Group("loop", "kernel_loop", "loop", "256M", [
        W("randread", "4k", 64),
        W("randwrite", "4k", 64),
        W("read", "64k", 16),
        W("write", "64k", 16),
        W("read", "512k", 16),
        W("write", "512k", 16),
    ]),
    # nbd: the kernel's NBD client (nbd-client, one connection) vs
    # `kublk add -t nbd` in zero copy (one queue, one connection), both on
    # the same nbdkit memory export on 127.0.0.1 (NBD_PORT).
    Group("nbd", "kernel_nbd", "nbd", "256M", [
        W("randread", "4k", 64),
        W("read", "512k", 16),
    ], modes=["zc"]),
]
GROUP_BY_NAME = {g.name: g for g in GROUPS}
DEPTH = 128                    # ublk queue depth (kublk -d), null_blk too
NBD_PORT = 10809               # nbdkit of the nbd group, in the guest
NBD_EXPORT_SIZE = "256M"


def targets(group):
    """Target names of a group: the reference, then ublk in each mode."""
    return [group.ref] + ["ublk_" + m.name for m in MODES
                          if group.modes is None or m.name in group.modes]


def mode_of(target):
    """The ublk mode of a target name, None for the kernel reference."""
    return MODE_BY_NAME[target[5:]] if target.startswith("ublk_") else None


def cases():
    """All (group, workload, target) triples in run order of a repetition."""
    for g in GROUPS:
        for w in g.workloads:
            for t in targets(g):
                yield g, w, t


def case_id(g, w, t):
    return "%s/%s/%s" % (g.name, w.name, t)


# Headline ratios.  Each side is a list of (boot, group, workload, target);
# the ratio is the geometric mean over the pairs of median(num)/median(den)
# of the workload's metric.  "best" is the first of auto_zc, zc, user, copy
# that was measured (the mode a server would pick, as vm/demo.sh does).
Ratio = namedtuple("Ratio", "name pairs goal what")
RR4K = "randread-4k-qd64"
RATIOS = [
    Ratio("ublk_null_4k_vs_null_blk",
          [(("ours", "null", RR4K, "best"), ("ours", "null", RR4K, "null_blk"))],
          0.9, "ublk null (best mode) / null_blk, 4K randread QD64, 1 queue"),
    Ratio("ours_vs_base612_null_4k",
          [(("ours", "null", RR4K, "ublk_copy"), ("base", "null", RR4K, "ublk_copy"))],
          1.15, "ublk null copy mode, our driver / base 6.12 driver, 4K randread "
          "QD64, 1 queue (CROSS-BOOT)"),
    Ratio("loop_zc_vs_copy_512k",
          [(("ours", "loop", w, "ublk_zc"), ("ours", "loop", w, "ublk_copy"))
           for w in ("seqread-512k-qd16", "seqwrite-512k-qd16")],
          2.0, "ublk loop zero copy / copy, 512K seq read+write (geo. mean)"),
    Ratio("loop_zc_vs_copy_64k",
          [(("ours", "loop", w, "ublk_zc"), ("ours", "loop", w, "ublk_copy"))
           for w in ("seqread-64k-qd16", "seqwrite-64k-qd16")],
          None, "ublk loop zero copy / copy, 64K seq read+write (geo. mean)"),
    Ratio("auto_zc_vs_zc_4k",
          [(("ours", "null", RR4K, "ublk_auto_zc"), ("ours", "null", RR4K, "ublk_zc"))],
          1.3, "ublk null auto zero copy / zero copy, 4K randread QD64, 1 queue"),
    Ratio("ublk_loop_zc_vs_kernel_loop_512k",
          [(("ours", "loop", w, "ublk_zc"), ("ours", "loop", w, "kernel_loop"))
           for w in ("seqread-512k-qd16", "seqwrite-512k-qd16")],
          1.0, "ublk loop zero copy / kernel loop (dio), 512K seq read+write "
          "(geo. mean)"),
    Ratio("ublk_loop_zc_vs_kernel_loop_4k",
          [(("ours", "loop", w, "ublk_zc"), ("ours", "loop", w, "kernel_loop"))
           for w in ("randread-4k-qd64", "randwrite-4k-qd64")],
          None, "ublk loop zero copy / kernel loop (dio), 4K random read+write "
          "(geo. mean)"),
    Ratio("ublk_nbd_zc_vs_kernel_nbd_512k",
          [(("ours", "nbd", "seqread-512k-qd16", "ublk_zc"),
            ("ours", "nbd", "seqread-512k-qd16", "kernel_nbd"))],
          1.2, "ublk nbd zero copy / kernel NBD client, same nbdkit memory "
          "export, 512K seq read QD16, 1 connection"),
    Ratio("ublk_nbd_zc_vs_kernel_nbd_4k",
          [(("ours", "nbd", RR4K, "ublk_zc"), ("ours", "nbd", RR4K, "kernel_nbd"))],
          None, "ublk nbd zero copy / kernel NBD client, same nbdkit memory "
          "export, 4K randread QD64, 1 connection"),
]
BEST_ORDER = ["ublk_auto_zc", "ublk_zc", "ublk_user", "ublk_copy"]
