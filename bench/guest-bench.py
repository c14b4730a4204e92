#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make bench, inside the guest: set up every device of the case table
(bench/cases.py), run fio (io_uring, O_DIRECT, JSON) on each case REPS
times, interleaved, and append one JSON record per run to OUT.

    guest-bench.py --label ours|base --out FILE [--runtime S] [--ramp S]
                   [--reps N] [--only REGEX]
    guest-bench.py --count [--only REGEX]   fio runs at most (for timeouts)

Records (one JSON object a line): {"type": "info", ...} first, then
"device", then per run "run" (figures) or "fail", and "skip" for cases whose
ublk mode the kernel does not advertise (kublk features).  Exit 0 when no
run failed.  Human-readable progress goes to stdout.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the repo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases as C  # noqa: E402

KUBLK = os.environ.get("KUBLK", "kublk")
WORK = "/tmp/bench"
LOOP_IMG = WORK + "/loop.img"


def sh(cmd, timeout=120, check=True):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                p.stdout.strip()[-400:]))
    return p.stdout


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


class Bench:
    def __init__(self, args):
        self.a = args
        self.out = open(args.out, "a") if args.out else None
        self.only = re.compile(args.only) if args.only else None
        self.devs = {}          # (group, target, queues) -> block device
        self.ublk_ids = []
        self.loops = []
        self.nbds = []          # kernel NBD devices connected
        self.nbdkit_pid = None
        self.failures = 0

    def emit(self, rec):
        rec.setdefault("label", self.a.label)
        if self.out:
            self.out.write(json.dumps(rec, sort_keys=True) + "\n")
            self.out.flush()

    def say(self, msg):
        print(msg, flush=True)

    def wanted(self):
        return [(g, w, t) for g, w, t in C.cases()
                if not self.only or self.only.search(C.case_id(g, w, t))]

    # --- devices -------------------------------------------------------
    def tune(self, dev):
        """Same block-layer settings for every device: no I/O scheduler."""
        name = os.path.basename(os.path.realpath(dev))
        sched = "/sys/block/%s/queue/scheduler" % name
        try:
            with open(sched, "w") as f:
                f.write("none")
        except OSError:
            pass
        return {
            "scheduler": read(sched),
            "hw_queues": len(os.listdir("/sys/block/%s/mq" % name))
            if os.path.isdir("/sys/block/%s/mq" % name) else None,
            "max_sectors_kb": read("/sys/block/%s/queue/max_sectors_kb" % name),
            "logical_block_size": read("/sys/block/%s/queue/logical_block_size" % name),
        }

    def start_nbdkit(self):
        """The nbd group's server: nbdkit memory export on 127.0.0.1."""
        if self.nbdkit_pid:
            return
        os.makedirs(WORK, exist_ok=True)
        pidf = WORK + "/nbdkit.pid"
        sh(["nbdkit", "-P", pidf, "-i", "127.0.0.1", "-p", str(C.NBD_PORT),
            "memory", C.NBD_EXPORT_SIZE])
        self.nbdkit_pid = int(read(pidf))

    def add_kernel_nbd(self):
        for i in range(16):
            dev = "/dev/nbd%d" % i
            if not os.path.exists(dev) or \
                    read("/sys/block/nbd%d/pid" % i):
                continue
            sh(["nbd-client", "127.0.0.1", str(C.NBD_PORT), dev])
            self.nbds.append(dev)
            return dev, {"client": "nbd-client, 1 connection",
                         "server": "nbdkit memory %s" % C.NBD_EXPORT_SIZE}
        raise RuntimeError("no free /dev/nbdN")

    def add_ublk(self, tgt, mode, queues, files=()):
        cmd = [KUBLK, "add", "-t", tgt, "-q", str(queues), "-d", str(C.DEPTH),
               "-n", "-1"] + mode.flags + list(files)
        out = sh(cmd)
        m = re.search(r"dev_id=(\d+)", out)
        if not m:
            raise RuntimeError("%s: no dev_id in %r" % (" ".join(cmd), out))
        dev_id = int(m.group(1))
        self.ublk_ids.append(dev_id)
        dev = "/dev/ublkb%d" % dev_id
        for _ in range(100):
            if os.path.exists(dev):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("%s did not appear" % dev)
        info = {"cmd": " ".join(cmd[1:]), "kublk": out.strip().splitlines()[-1]}
        log = read("/run/ublk/ublk%d.log" % dev_id)
        for line in log.splitlines():
            if "O_DIRECT" in line or "buffered" in line:
                info["backing"] = line.strip()
        return dev, info

    def setup(self, todo):
        need = {}
        for g, w, t in todo:
            need.setdefault((g.name, t), set()).add(w.jobs)
        if any(g == "loop" for g, _ in need):
            os.makedirs(WORK, exist_ok=True)
            size_mb = int(C.GROUP_BY_NAME["loop"].size[:-1])
            sh(["dd", "if=/dev/zero", "of=" + LOOP_IMG, "bs=1M",
                "count=%d" % size_mb, "status=none"], timeout=600)
        for (gname, t), queue_set in sorted(need.items()):
            g = C.GROUP_BY_NAME[gname]
            mode = C.mode_of(t)
            if mode and mode.feature and mode.feature not in self.features:
                continue        # skipped when the cases run
            for q in sorted(queue_set):
                info = {}
                if t == "null_blk":
                    dev = "/dev/nullb0"
                    if not os.path.exists(dev):
                        raise RuntimeError("no /dev/nullb0")
                    info["params"] = {
                        p: read("/sys/module/null_blk/parameters/" + p)
                        for p in ("queue_mode", "irqmode", "submit_queues",
                                  "hw_queue_depth", "max_sectors", "bs", "gb")}
                elif t == "kernel_loop":
                    dev = sh(["losetup", "--direct-io=on", "-f", "--show",
                              LOOP_IMG]).strip()
                    self.loops.append(dev)
                    name = os.path.basename(dev)
                    info["dio"] = read("/sys/block/%s/loop/dio" % name)
                elif t == "kernel_nbd":
                    self.start_nbdkit()
                    dev, info = self.add_kernel_nbd()
                else:
                    files = [LOOP_IMG] if g.ublk_target == "loop" else []
                    if g.ublk_target == "nbd":
                        self.start_nbdkit()
                        files = ["--host", "127.0.0.1",
                                 "--port", str(C.NBD_PORT)]
                    dev, info = self.add_ublk(g.ublk_target, mode, q, files)
                info.update(self.tune(dev))
                self.devs[(gname, t, q)] = dev
                self.emit({"type": "device", "group": gname, "target": t,
                           "queues": q, "dev": dev, "info": info})
                self.say("# %s/%s (%d queue%s): %s %s" % (
                    gname, t, q, "s" if q > 1 else "", dev,
                    json.dumps(info, sort_keys=True)))

    def teardown(self):
        for i in self.ublk_ids:
            subprocess.run([KUBLK, "del", "-n", str(i)], timeout=60,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for d in self.loops:
            subprocess.run(["losetup", "-d", d], timeout=60)
        for d in self.nbds:
            subprocess.run(["nbd-client", "-d", d], timeout=60,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.nbdkit_pid:
            try:
                os.kill(self.nbdkit_pid, 9)
            except OSError:
                pass
        try:
            os.unlink(LOOP_IMG)
        except OSError:
            pass

    # --- runs ------------------------------------------------------------
    def fio(self, g, w, targets):
        """One fio process for every target of a workload, one job each,
        stonewalled (run one after the other, in the order given): fio's
        start-up under TCG costs more than a run. Returns per target a
        figures dict or an exception."""
        a = self.a
        out = WORK + "/fio.json"
        cmd = ["fio", "--ioengine=io_uring", "--direct=1", "--rw=" + w.rw,
               "--bs=" + w.bs, "--iodepth=%d" % w.qd,
               "--numjobs=%d" % w.jobs, "--group_reporting",
               "--time_based", "--runtime=%g" % a.runtime,
               "--ramp_time=%g" % a.ramp, "--size=" + g.size,
               "--norandommap", "--randrepeat=0"]
        for t in targets:
            cmd += ["--name=" + t, "--filename=" + self.devs[(g.name, t, w.jobs)],
                    "--stonewall"]
        cmd += ["--output-format=json", "--output=" + out]
        try:
            os.unlink(out)
        except OSError:
            pass
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        tmo = len(targets) * (a.runtime + a.ramp + 30) + 30
        try:
            text, _ = p.communicate(timeout=tmo)
        except subprocess.TimeoutExpired:
            p.kill()
            try:
                p.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                # Unkillable: the kernel is stuck; stop here.
                self.say("fio hung in the kernel on %s; giving up" % w.name)
                raise SystemExit(2)
            raise RuntimeError("fio timed out")
        try:
            with open(out) as f:
                js = json.load(f)
        except (OSError, ValueError):
            raise RuntimeError("fio exit %d: %s" % (p.returncode, text.strip()[-400:]))
        jobs = {j["jobname"]: j for j in js.get("jobs", [])}
        res = {}
        for t in targets:
            job = jobs.get(t)
            if job is None:
                res[t] = RuntimeError("fio exit %d, no result: %s" % (
                    p.returncode, text.strip()[-300:]))
                continue
            if job.get("error"):
                res[t] = RuntimeError("fio job error %s" % job["error"])
                continue
            d = job["read" if "read" in w.rw else "write"]
            pct = d.get("clat_ns", {}).get("percentile", {})
            def us(key):
                v = pct.get(key)
                return round(v / 1000.0, 2) if v is not None else None
            res[t] = {"iops": d["iops"], "mib_s": d["bw"] / 1024.0,
                      "p50_us": us("50.000000"), "p99_us": us("99.000000"),
                      "clat_mean_us": round(d.get("clat_ns", {}).get("mean", 0) / 1000.0, 2),
                      "ios": d.get("total_ios"),
                      "fio": " ".join(cmd[1:14]) + " --filename=" +
                      self.devs[(g.name, t, w.jobs)]}
        return res

    def run(self):
        a = self.a
        todo = self.wanted()
        os.makedirs(WORK, exist_ok=True)       # fio's output, whatever the groups
        self.emit({"type": "info", "kernel": os.uname().release,
                   "cpus": os.cpu_count(),
                   "mem_kb": read("/proc/meminfo").split()[1],
                   "cmdline": read("/proc/cmdline"),
                   "fio": sh(["fio", "--version"]).strip(),
                   "features": sorted(self.features),
                   "features_raw": self.features_raw,
                   "runtime": a.runtime, "ramp": a.ramp, "reps": a.reps,
                   "only": a.only, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")})
        self.say("# %s: kernel %s, ublk features: %s" % (
            a.label, os.uname().release, " ".join(sorted(self.features))))
        self.setup(todo)
        runnable = []
        for g, w, t in todo:
            mode = C.mode_of(t)
            if mode and mode.feature and mode.feature not in self.features:
                self.emit({"type": "skip", "group": g.name, "workload": w.name,
                           "target": t, "reason": "kernel lacks %s" % mode.feature})
                continue
            runnable.append((g, w, t))
        skipped = len(todo) - len(runnable)
        self.say("# %d case(s) x %d rep(s), %d skipped (modes the kernel "
                 "does not advertise), %gs + %gs ramp each" % (
                     len(runnable), a.reps, skipped, a.runtime, a.ramp))
        start = time.time()
        # the workloads in case order, each with its runnable targets
        work = []
        for g, w, t in runnable:
            if not work or work[-1][:2] != (g, w):
                work.append((g, w, []))
            work[-1][2].append(t)
        for rep in range(a.reps):
            # every other repetition in reverse order, targets included
            flip = rep % 2 == 1
            for g, w, tl in (reversed(work) if flip else work):
                tl = list(reversed(tl)) if flip else tl
                try:
                    res = self.fio(g, w, tl)
                except (RuntimeError, OSError, ValueError, KeyError) as e:
                    res = {t: e for t in tl}
                for t in tl:
                    cid = C.case_id(g, w, t)
                    rec = {"group": g.name, "workload": w.name, "target": t,
                           "rep": rep}
                    r = res[t]
                    if isinstance(r, Exception):
                        self.failures += 1
                        rec.update(type="fail", error=str(r))
                        self.emit(rec)
                        self.say("rep %d %-45s FAILED: %s" % (rep + 1, cid, r))
                        continue
                    rec.update(type="run", **r)
                    self.emit(rec)
                    self.say("rep %d %-45s %10.0f IOPS %9.1f MiB/s  p50 %8.1f us  "
                             "p99 %8.1f us" % (rep + 1, cid, r["iops"], r["mib_s"],
                                               r["p50_us"] or 0, r["p99_us"] or 0))
        self.say("# %d run(s) in %.0fs, %d failed" % (
            len(runnable) * a.reps, time.time() - start, self.failures))

    def main(self):
        sh(["modprobe", "ublk_drv"])
        for _ in range(50):
            if os.path.exists("/dev/ublk-control"):
                break
            time.sleep(0.1)
        self.features_raw = sh([KUBLK, "features"])
        self.features = set(re.findall(r"^\s+([A-Z][A-Z_0-9]*)\s+\(bit",
                                       self.features_raw, re.M))
        try:
            self.run()
        finally:
            self.teardown()
        return 1 if self.failures else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", default="ours")
    ap.add_argument("--out")
    ap.add_argument("--runtime", type=float, default=3)
    ap.add_argument("--ramp", type=float, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--count", action="store_true")
    a = ap.parse_args()
    b = Bench(a)
    if a.count:
        print(len(b.wanted()) * a.reps)
        return 0
    return b.main()


if __name__ == "__main__":
    sys.exit(main())
