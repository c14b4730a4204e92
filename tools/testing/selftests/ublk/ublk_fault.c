// SPDX-License-Identifier: GPL-2.0
/*
 * ublk_fault: allocation failures inside the ublk commands.
 *
 *   ublk_fault PHASE [MAX_NTH [DENSE]]
 *
 * PHASE is one of add, params, start, fetch, regbuf, autoreg, autoreg_fb.
 * For nth = 1, 2, ... the nth fault-injection point (failslab, as
 * configured by the caller in /sys/kernel/debug/failslab) reached by the
 * task that runs the command is made to fail, through
 * /proc/self/task/TID/fail-nth:
 *
 *   add, params, start  control commands, which the driver runs from an
 *			 io-wq worker: fail-nth is set on the ring's
 *			 worker threads (iou-wrk-*), created beforehand by
 *			 a harmless command;
 *   fetch, regbuf	 FETCH_REQ and REGISTER_IO_BUF, issued inline by
 *			 io_uring_enter() of this thread;
 *   autoreg[_fb]	 the automatic registration (UBLK_F_AUTO_BUF_REG,
 *			 without and with UBLK_AUTO_BUF_REG_FALLBACK), done
 *			 by the task work that this thread runs while it
 *			 waits for completions.
 *
 * After each attempt: a command that failed must leave nothing behind (no
 * new /sys/class/ublk-char entry or /dev node after a failed ADD_DEV, no
 * block device after a failed START_DEV); a command that succeeded must
 * have made a working device (GET_DEV_INFO, the request's data, STOP_DEV
 * and DEL_DEV). Every device is deleted before the next attempt. The sweep
 * ends when an attempt is not reached by the nth failure any more; nth
 * goes 1, 2, ... DENSE (default 8), then grows by half each step.
 * Output: one line per attempt, a summary "N passed, N failed".
 * Exit: 0 all passed, 1 a check failed, 4 skipped.
 */
#include <signal.h>
#include <stdarg.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "kublk.h"

int kublk_verbose;

#define DEPTH		2
#define NBUF		4
#define MAX_IO		(64U << 10)
#define DEV_BYTES	0x100000U
#define IO_LEN		4096U
#define PENDING		INT_MIN

static int nr_pass, nr_fail;
static struct io_uring ctrl;
static int ctrl_fd = -1;

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static void result(bool ok, const char *phase, int nth, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		nr_pass++;
	else
		nr_fail++;
	printf("%s: %s nth %d: ", ok ? "PASS" : "FAIL", phase, nth);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void alarm_handler(int sig)
{
	(void)sig;
	printf("FAIL: timed out (a command hangs after an allocation failure?)\n");
	printf("%d passed, %d failed\n", nr_pass, nr_fail + 1);
	fflush(stdout);
	_exit(1);
}

/* ------------------------------------------------------------------ */
/* fail-nth                                                             */
/* ------------------------------------------------------------------ */

static int write_file(const char *path, unsigned int v)
{
	char b[16];
	int fd = open(path, O_WRONLY), n, ret;

	if (fd < 0)
		return -errno;
	n = snprintf(b, sizeof(b), "%u", v);
	ret = write(fd, b, n) == n ? 0 : -errno;
	close(fd);
	return ret;
}

static unsigned int read_file(const char *path)
{
	char b[32] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return 0;
	if (read(fd, b, sizeof(b) - 1) < 0)
		b[0] = 0;
	close(fd);
	return strtoul(b, NULL, 0);
}

/* the io-wq workers of this process, -1 terminated */
static int workers(pid_t *tids, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max - 1) {
		char p[300], comm[32] = "";
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/task/%s/comm", e->d_name);
		fd = open(p, O_RDONLY);
		if (fd < 0)
			continue;
		if (read(fd, comm, sizeof(comm) - 1) < 0)
			comm[0] = 0;
		close(fd);
		if (!strncmp(comm, "iou-wrk", 7))
			tids[n++] = atoi(e->d_name);
	}
	closedir(d);
	tids[n] = -1;
	return n;
}

static void nth_path(char *p, size_t len, pid_t tid)
{
	snprintf(p, len, "/proc/self/task/%d/fail-nth", tid);
}

static void set_nth_self(unsigned int nth)
{
	char p[64];

	nth_path(p, sizeof(p), syscall(SYS_gettid));
	write_file(p, nth);
}

/* true if the failure was injected (the counter ran down), and reset it */
static bool nth_fired_self(void)
{
	char p[64];
	unsigned int left;

	nth_path(p, sizeof(p), syscall(SYS_gettid));
	left = read_file(p);
	write_file(p, 0);
	return left == 0;
}

static pid_t wtids[16];

static void set_nth_workers(unsigned int nth)
{
	char p[64];
	int i;

	workers(wtids, 16);
	for (i = 0; wtids[i] > 0; i++) {
		nth_path(p, sizeof(p), wtids[i]);
		write_file(p, nth);
	}
}

static bool nth_fired_workers(unsigned int nth)
{
	bool fired = false;
	char p[64];
	int i;

	for (i = 0; wtids[i] > 0; i++) {
		unsigned int left;

		nth_path(p, sizeof(p), wtids[i]);
		left = read_file(p);
		if (left < nth)
			fired |= left == 0;
		write_file(p, 0);
	}
	return fired;
}

/* ------------------------------------------------------------------ */
/* control commands                                                     */
/* ------------------------------------------------------------------ */

static int ctrl_submit(unsigned int op, __u32 dev_id, void *addr,
		       unsigned int len, __u64 data0)
{
	struct ublksrv_ctrl_cmd c = {
		.dev_id = dev_id, .queue_id = (__u16)-1, .len = len,
		.addr = (__u64)(uintptr_t)addr, .data = { data0 },
	};
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ctrl);

	if (!sqe)
		return -EBUSY;
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ctrl_fd;
	sqe->cmd_op = op;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &c, sizeof(c));
	return io_uring_submit(&ctrl) == 1 ? 0 : -EIO;
}

static int ctrl_wait(unsigned int ms)
{
	struct __kernel_timespec ts = {
		.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000LL,
	};
	struct io_uring_cqe *cqe;
	int ret;

	do {
		ret = io_uring_wait_cqe_timeout(&ctrl, &cqe, &ts);
	} while (ret == -EINTR);
	if (ret)
		return PENDING;
	ret = cqe->res;
	io_uring_cqe_seen(&ctrl, cqe);
	return ret;
}

static int ctrl_cmd(unsigned int op, __u32 dev_id, void *addr,
		    unsigned int len, __u64 data0)
{
	int ret = ctrl_submit(op, dev_id, addr, len, data0);

	return ret ? ret : ctrl_wait(30000);
}

/* make sure the ring has an io-wq worker to put fail-nth on */
static void warm_worker(void)
{
	__u64 f;

	ctrl_cmd(UBLK_U_CMD_GET_FEATURES, (__u32)-1, &f, sizeof(f), 0);
}

static int count_devs(void)
{
	DIR *d = opendir("/sys/class/ublk-char");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool exists(const char *fmt, __u32 id)
{
	char p[64];

	snprintf(p, sizeof(p), fmt, id);
	return !access(p, F_OK);
}

static bool dev_gone(__u32 id)
{
	return !exists("/sys/class/ublk-char/ublkc%u", id) &&
		!exists("/dev/ublkc%u", id) && !exists("/dev/ublkb%u", id) &&
		!exists("/sys/block/ublkb%u", id);
}

static int del_dev(__u32 id)
{
	int ret;

	ctrl_cmd(UBLK_U_CMD_STOP_DEV, id, NULL, 0, 0);
	ret = ctrl_cmd(UBLK_U_CMD_DEL_DEV, id, NULL, 0, 0);
	return ret;
}

static int add_dev(struct ublksrv_ctrl_dev_info *info, __u64 flags)
{
	memset(info, 0, sizeof(*info));
	info->nr_hw_queues = 1;
	info->queue_depth = DEPTH;
	info->max_io_buf_bytes = MAX_IO;
	info->dev_id = (__u32)-1;
	info->ublksrv_pid = getpid();
	info->flags = flags | UBLK_F_CMD_IOCTL_ENCODE |
		UBLK_F_NO_AUTO_PART_SCAN;
	return ctrl_cmd(UBLK_U_CMD_ADD_DEV, (__u32)-1, info, sizeof(*info), 0);
}

static void basic_params(struct ublk_params *p)
{
	memset(p, 0, sizeof(*p));
	p->len = sizeof(*p);
	p->types = UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD;
	p->basic.logical_bs_shift = 9;
	p->basic.physical_bs_shift = 12;
	p->basic.io_min_shift = 9;
	p->basic.io_opt_shift = 12;
	p->basic.max_sectors = MAX_IO >> 9;
	p->basic.dev_sectors = DEV_BYTES >> 9;
	p->discard.discard_granularity = 4096;
	p->discard.max_discard_sectors = 64;
	p->discard.max_discard_segments = 1;
}

/* ------------------------------------------------------------------ */
/* a small server                                                       */
/* ------------------------------------------------------------------ */

struct srv {
	__u32 id;
	__u64 flags;
	int cdev;
	struct io_uring ring;
	bool ring_up;
	const struct ublksrv_io_desc *iods;
	char *bufs;
	int owned[DEPTH];	/* FETCH completed: its res, or PENDING */
};

static int memfd = -1;

static void srv_close(struct srv *s)
{
	if (s->ring_up)
		io_uring_queue_exit(&s->ring);
	s->ring_up = false;
	if (s->iods)
		munmap((void *)s->iods, 4096);
	s->iods = NULL;
	if (s->cdev >= 0)
		close(s->cdev);
	s->cdev = -1;
}

static void prep_io(struct io_uring_sqe *sqe, int fd, unsigned int op,
		    unsigned int tag, int res, __u64 addr)
{
	struct ublksrv_io_cmd c = { .tag = tag, .result = res, .addr = addr };

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &c, sizeof(c));
}

static __u64 fetch_addr(struct srv *s, unsigned int tag, bool fallback)
{
	if (s->flags & UBLK_F_AUTO_BUF_REG)
		return tag | (fallback ? UBLK_AUTO_BUF_REG_FALLBACK << 16 : 0);
	if (s->flags & UBLK_F_SUPPORT_ZERO_COPY)
		return 0;
	return (__u64)(uintptr_t)(s->bufs + tag * MAX_IO);
}

static struct io_uring_sqe *get_sqe(struct srv *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	if (!sqe) {
		printf("FAIL: io ring full\n");
		exit(1);
	}
	return sqe;
}

static void srv_fetch(struct srv *s, unsigned int op, unsigned int tag,
		      int res, bool fallback)
{
	struct io_uring_sqe *sqe = get_sqe(s);

	/* auto registration: the index in sqe->addr, no buffer address */
	if (s->flags & UBLK_F_AUTO_BUF_REG) {
		prep_io(sqe, s->cdev, op, tag, res, 0);
		sqe->addr = fetch_addr(s, tag, fallback);
	} else {
		prep_io(sqe, s->cdev, op, tag, res, fetch_addr(s, tag, fallback));
	}
	sqe->user_data = 0x100 + tag;
	s->owned[tag] = PENDING;
	io_uring_submit(&s->ring);
}

/* wait up to @ms for the cqe @ud (FETCH completions recorded); its res */
static int srv_reap(struct srv *s, __u64 ud, unsigned int ms)
{
	unsigned long long end = now_ms() + ms;

	for (;;) {
		struct io_uring_cqe *cqe;
		long long left = end - now_ms();
		struct __kernel_timespec ts;
		int ret;

		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000LL;
		ret = io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);
		if (ret == -EINTR)
			continue;
		if (ret)
			return PENDING;
		if (cqe->user_data >= 0x100 && cqe->user_data < 0x100 + DEPTH)
			s->owned[cqe->user_data - 0x100] = cqe->res;
		ret = cqe->res;
		if (cqe->user_data == ud) {
			io_uring_cqe_seen(&s->ring, cqe);
			return ret;
		}
		io_uring_cqe_seen(&s->ring, cqe);
	}
}

static int srv_sync(struct srv *s, struct io_uring_sqe *sqe)
{
	sqe->user_data = 0x1000;
	io_uring_submit(&s->ring);
	return srv_reap(s, 0x1000, 5000);
}

static int srv_open(struct srv *s, bool fallback)
{
	char p[64];
	unsigned int t;

	snprintf(p, sizeof(p), "/dev/ublkc%u", s->id);
	s->cdev = open(p, O_RDWR | O_CLOEXEC);
	if (s->cdev < 0)
		return -errno;
	s->iods = mmap(NULL, 4096, PROT_READ, MAP_SHARED | MAP_POPULATE,
		       s->cdev, 0);
	if (s->iods == MAP_FAILED) {
		s->iods = NULL;
		return -errno;
	}
	/* the reader child must not hold /dev/ublkcN through the mapping */
	madvise((void *)s->iods, 4096, MADV_DONTFORK);
	if (io_uring_queue_init(32, &s->ring, 0))
		return -ENOMEM;
	io_uring_ring_dontfork(&s->ring);
	s->ring_up = true;
	if (io_uring_register_buffers_sparse(&s->ring, NBUF))
		return -ENOMEM;
	for (t = 0; t < DEPTH; t++)
		srv_fetch(s, UBLK_U_IO_FETCH_REQ, t, 0, fallback);
	return 0;
}

/* a made device: added, parameters set, fetched and started */
static int srv_make(struct srv *s, __u64 flags, bool fallback)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_params p;
	int ret;

	memset(s, 0, sizeof(*s));
	s->cdev = -1;
	s->bufs = aligned_alloc(4096, DEPTH * MAX_IO);
	ret = add_dev(&info, flags);
	if (ret)
		return ret;
	s->id = info.dev_id;
	s->flags = info.flags;
	basic_params(&p);
	ret = ctrl_cmd(UBLK_U_CMD_SET_PARAMS, s->id, &p, sizeof(p), 0);
	if (!ret)
		ret = srv_open(s, fallback);
	if (!ret)
		ret = ctrl_cmd(UBLK_U_CMD_START_DEV, s->id, NULL, 0, getpid());
	return ret;
}

static int srv_unmake(struct srv *s)
{
	int ret;

	srv_close(s);
	ret = del_dev(s->id);
	free(s->bufs);
	return ret;
}

/* an O_DIRECT pread of the first IO_LEN bytes, from a child */
static pid_t reader(__u32 id)
{
	pid_t pid = fork();

	if (pid == 0) {
		char p[64];
		void *buf;
		int fd, i;

		for (i = 3; i < 1024; i++)
			close(i);
		alarm(30);
		snprintf(p, sizeof(p), "/dev/ublkb%u", id);
		fd = open(p, O_RDONLY | O_DIRECT);
		if (fd < 0 || posix_memalign(&buf, 4096, IO_LEN))
			_exit(2);
		_exit(pread(fd, buf, IO_LEN, 0) == IO_LEN ? 0 : 1);
	}
	return pid;
}

/* the child's exit status, or -1 if it does not finish in @ms */
static int reader_wait(pid_t pid, unsigned int ms)
{
	unsigned long long end = now_ms() + ms;
	int st;

	while (now_ms() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
		usleep(10000);
	}
	return -1;
}

/* wait for a request on one of the tags, serve nothing else */
static int wait_owned(struct srv *s, unsigned int ms)
{
	unsigned long long end = now_ms() + ms;
	unsigned int t;

	while (now_ms() < end) {
		for (t = 0; t < DEPTH; t++)
			if (s->owned[t] != PENDING)
				return t;
		srv_reap(s, 0, 20);
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* the phases                                                           */
/* ------------------------------------------------------------------ */

/* ADD_DEV: fails cleanly, or makes a device that works and goes away */
static bool phase_add(int nth)
{
	struct ublksrv_ctrl_dev_info info, info2;
	int before = count_devs(), ret, after;
	bool fired;

	warm_worker();
	set_nth_workers(nth);
	ret = add_dev(&info, UBLK_F_SUPPORT_ZERO_COPY);
	fired = nth_fired_workers(nth);
	after = count_devs();
	if (ret) {
		result(after == before, "add", nth,
		       "ADD_DEV %d, devices %d -> %d", ret, before, after);
	} else {
		int r2 = ctrl_cmd(UBLK_U_CMD_GET_DEV_INFO, info.dev_id, &info2,
				  sizeof(info2), 0);
		int r3 = del_dev(info.dev_id);

		result(!r2 && !r3 && dev_gone(info.dev_id), "add", nth,
		       "ADD_DEV ok (dev %u), GET_DEV_INFO %d, DEL_DEV %d, gone %d",
		       info.dev_id, r2, r3, dev_gone(info.dev_id));
	}
	return fired;
}

/* SET_PARAMS: fails (parameters unchanged) or sets them; DEL_DEV works */
static bool phase_params(int nth)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_params p, g;
	int ret, rg, rd;
	bool fired;

	if (add_dev(&info, 0)) {
		result(false, "params", nth, "ADD_DEV failed without injection");
		return false;
	}
	basic_params(&p);
	warm_worker();
	set_nth_workers(nth);
	ret = ctrl_cmd(UBLK_U_CMD_SET_PARAMS, info.dev_id, &p, sizeof(p), 0);
	fired = nth_fired_workers(nth);
	memset(&g, 0, sizeof(g));
	g.len = sizeof(g);
	rg = ctrl_cmd(UBLK_U_CMD_GET_PARAMS, info.dev_id, &g, sizeof(g), 0);
	rd = del_dev(info.dev_id);
	result(!rg && !rd && dev_gone(info.dev_id) &&
	       (ret || g.basic.dev_sectors == DEV_BYTES >> 9), "params", nth,
	       "SET_PARAMS %d, GET_PARAMS %d (sectors %llu), DEL_DEV %d",
	       ret, rg, (unsigned long long)g.basic.dev_sectors, rd);
	return fired;
}

/*
 * START_DEV: fails with no block device left, or starts a device whose
 * I/O works; STOP_DEV and DEL_DEV work either way.
 */
static bool phase_start(int nth)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_params p;
	struct srv s = { .cdev = -1 };
	int ret, rd, io = -2;
	bool fired, blk;

	s.bufs = aligned_alloc(4096, DEPTH * MAX_IO);
	if (add_dev(&info, 0)) {
		result(false, "start", nth, "ADD_DEV failed without injection");
		return false;
	}
	s.id = info.dev_id;
	s.flags = info.flags;
	basic_params(&p);
	ret = ctrl_cmd(UBLK_U_CMD_SET_PARAMS, s.id, &p, sizeof(p), 0);
	if (!ret)
		ret = srv_open(&s, false);
	if (ret) {
		result(false, "start", nth, "setup failed without injection: %d",
		       ret);
		srv_unmake(&s);
		return false;
	}
	warm_worker();
	set_nth_workers(nth);
	ret = ctrl_cmd(UBLK_U_CMD_START_DEV, s.id, NULL, 0, getpid());
	fired = nth_fired_workers(nth);
	blk = exists("/sys/block/ublkb%u", s.id);
	if (!ret) {
		pid_t pid = reader(s.id);
		int t = wait_owned(&s, 10000);

		if (t >= 0)
			srv_fetch(&s, UBLK_U_IO_COMMIT_AND_FETCH_REQ, t,
				  s.iods[t].nr_sectors << 9, false);
		io = reader_wait(pid, 10000);
		if (io < 0) {
			kill(pid, SIGKILL);
			srv_close(&s);
			waitpid(pid, NULL, 0);
		}
	}
	rd = srv_unmake(&s);
	result(ret ? !blk && !rd && dev_gone(s.id) :
	       blk && io == 0 && !rd && dev_gone(s.id), "start", nth,
	       "START_DEV %d, block device %d, I/O %d, DEL_DEV %d", ret, blk,
	       io, rd);
	return fired;
}

/* FETCH_REQ: fails, or the device starts and serves */
static bool phase_fetch(int nth)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_params p;
	struct srv s = { .cdev = -1 };
	int ret, rd, t, res[DEPTH];
	bool fired;

	s.bufs = aligned_alloc(4096, DEPTH * MAX_IO);
	if (add_dev(&info, 0)) {
		result(false, "fetch", nth, "ADD_DEV failed without injection");
		return false;
	}
	s.id = info.dev_id;
	s.flags = info.flags;
	basic_params(&p);
	ret = ctrl_cmd(UBLK_U_CMD_SET_PARAMS, s.id, &p, sizeof(p), 0);
	snprintf((char *)&p, 64, "/dev/ublkc%u", s.id);
	s.cdev = open((char *)&p, O_RDWR | O_CLOEXEC);
	if (ret || s.cdev < 0 || io_uring_queue_init(32, &s.ring, 0)) {
		result(false, "fetch", nth, "setup failed without injection");
		srv_unmake(&s);
		return false;
	}
	s.ring_up = true;
	s.iods = mmap(NULL, 4096, PROT_READ, MAP_SHARED, s.cdev, 0);
	if (s.iods == MAP_FAILED)
		s.iods = NULL;
	else
		madvise((void *)s.iods, 4096, MADV_DONTFORK);
	set_nth_self(nth);
	for (t = 0; t < DEPTH; t++)
		srv_fetch(&s, UBLK_U_IO_FETCH_REQ, t, 0, false);
	fired = nth_fired_self();
	srv_reap(&s, 0, 50);
	for (t = 0; t < DEPTH; t++)
		res[t] = s.owned[t];
	/* a failed FETCH is retried; then the device must start */
	for (t = 0; t < DEPTH; t++)
		if (s.owned[t] != PENDING)
			srv_fetch(&s, UBLK_U_IO_FETCH_REQ, t, 0, false);
	srv_reap(&s, 0, 50);
	ret = ctrl_cmd(UBLK_U_CMD_START_DEV, s.id, NULL, 0, getpid());
	rd = srv_unmake(&s);
	result(!ret && !rd && dev_gone(s.id) &&
	       (res[0] == PENDING || res[0] < 0) &&
	       (res[1] == PENDING || res[1] < 0), "fetch", nth,
	       "FETCH %d/%d, START_DEV after retry %d, DEL_DEV %d",
	       res[0] == PENDING ? 0 : res[0], res[1] == PENDING ? 0 : res[1],
	       ret, rd);
	return fired;
}

/*
 * REGISTER_IO_BUF (zero copy) or the automatic registration: fails (the
 * request is failed or, with the fallback, delivered for a manual
 * registration), or registers a buffer that works; the reader gets its
 * data or an error, never hangs; the device goes away.
 */
static bool phase_reg(int nth, bool autoreg, bool fallback, struct srv *s)
{
	const char *name = autoreg ? fallback ? "autoreg_fb" : "autoreg" :
		"regbuf";
	struct io_uring_sqe *sqe;
	int t, reg = PENDING, rd = PENDING, io, unreg = 0;
	bool fired = false, need_reg = false;
	pid_t pid;

	pid = reader(s->id);
	if (autoreg)
		set_nth_self(nth);	/* the dispatch task work runs here */
	t = wait_owned(s, 10000);
	if (autoreg)
		fired = nth_fired_self();
	if (t < 0) {
		/* without the fallback a failed registration fails the I/O */
		io = reader_wait(pid, 10000);
		if (io < 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		result(autoreg && !fallback && io == 1, name, nth,
		       "no request delivered, reader %d", io);
		return fired;
	}
	if (s->owned[t] != 0) {
		result(false, name, nth, "FETCH completed with %d",
		       s->owned[t]);
		return fired;
	}
	need_reg = s->iods[t].op_flags & UBLK_IO_F_NEED_REG_BUF;
	if (!autoreg || need_reg) {
		sqe = get_sqe(s);
		prep_io(sqe, s->cdev, UBLK_U_IO_REGISTER_IO_BUF, t, 0, t);
		if (!autoreg)
			set_nth_self(nth);
		reg = srv_sync(s, sqe);
		if (!autoreg)
			fired = nth_fired_self();
	} else {
		reg = 0;
	}
	if (!reg) {
		sqe = get_sqe(s);
		io_uring_prep_read_fixed(sqe, memfd, NULL, IO_LEN, 0, t);
		rd = srv_sync(s, sqe);
		if (!autoreg || need_reg) {
			sqe = get_sqe(s);
			prep_io(sqe, s->cdev, UBLK_U_IO_UNREGISTER_IO_BUF, t, 0,
				t);
			unreg = srv_sync(s, sqe);
		}
	}
	srv_fetch(s, UBLK_U_IO_COMMIT_AND_FETCH_REQ, t,
		  rd == (int)IO_LEN ? (int)IO_LEN : -EIO, fallback);
	io = reader_wait(pid, 10000);
	if (io < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	result(reg ? io == 1 : rd == (int)IO_LEN && !unreg && io == 0, name,
	       nth, "%sREGISTER %d, READ_FIXED %d, UNREGISTER %d, reader %d",
	       need_reg ? "fallback, " : "", reg == PENDING ? 0 : reg,
	       rd == PENDING ? 0 : rd, unreg, io);
	return fired;
}

int main(int argc, char **argv)
{
	const char *phase = argc > 1 ? argv[1] : "";
	int max = argc > 2 ? atoi(argv[2]) : 200, nth, before, after;
	int dense = argc > 3 ? atoi(argv[3]) : 8;
	bool autoreg = !strncmp(phase, "autoreg", 7);
	bool fallback = !strcmp(phase, "autoreg_fb");
	struct srv s;
	__u64 f = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, alarm_handler);
	alarm(25 * 60);
	ctrl_fd = open("/dev/ublk-control", O_RDWR | O_CLOEXEC);
	if (ctrl_fd < 0) {
		printf("SKIP: /dev/ublk-control: %s\n", strerror(errno));
		return 4;
	}
	if (io_uring_queue_init(4, &ctrl, IORING_SETUP_SQE128)) {
		printf("FAIL: cannot create an SQE128 ring\n");
		return 1;
	}
	io_uring_ring_dontfork(&ctrl);
	memfd = memfd_create("ublk_fault", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, DEV_BYTES))
		return 1;
	ctrl_cmd(UBLK_U_CMD_GET_FEATURES, (__u32)-1, &f, sizeof(f), 0);
	before = count_devs();

	if (!strcmp(phase, "regbuf") || autoreg) {
		__u64 want = autoreg ? UBLK_F_AUTO_BUF_REG :
			UBLK_F_SUPPORT_ZERO_COPY;
		int ret;

		if (!(f & want)) {
			printf("SKIP: no 0x%llx in GET_FEATURES\n",
			       (unsigned long long)want);
			return 4;
		}
		ret = srv_make(&s, want, fallback);
		if (ret) {
			printf("FAIL: device setup: %d\n", ret);
			srv_unmake(&s);
			return 1;
		}
	}
	for (nth = 1; nth <= max; nth = nth < dense ? nth + 1 : nth * 3 / 2) {
		bool fired;

		if (!strcmp(phase, "add")) {
			fired = phase_add(nth);
		} else if (!strcmp(phase, "params")) {
			fired = phase_params(nth);
		} else if (!strcmp(phase, "start")) {
			fired = phase_start(nth);
		} else if (!strcmp(phase, "fetch")) {
			fired = phase_fetch(nth);
		} else if (!strcmp(phase, "regbuf") || autoreg) {
			fired = phase_reg(nth, autoreg, fallback, &s);
		} else {
			fprintf(stderr,
				"Usage: %s add|params|start|fetch|regbuf|autoreg|autoreg_fb [MAX_NTH]\n",
				argv[0]);
			return 2;
		}
		if (!fired) {
			printf("INFO: %s: nth %d not reached, sweep done\n",
			       phase, nth);
			break;
		}
	}
	if (!strcmp(phase, "regbuf") || autoreg) {
		int ret = srv_unmake(&s);

		result(!ret && dev_gone(s.id), phase, 0, "DEL_DEV at the end: %d",
		       ret);
	}
	after = count_devs();
	result(after == before, phase, 0, "devices before %d, after %d", before,
	       after);
	printf("%d passed, %d failed\n", nr_pass, nr_fail);
	return nr_fail ? 1 : 0;
}
