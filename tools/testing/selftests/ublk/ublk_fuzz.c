// SPDX-License-Identifier: GPL-2.0
/*
 * ublk_fuzz: seeded random command sequences against /dev/ublk-control and
 * /dev/ublkcN.
 *
 *   ublk_fuzz [--seed N] [--seconds S] [--iters N] [--verbose] [--log FILE]
 *
 * The first line printed is "seed N": the same seed replays the same
 * sequence of operations (the kernel's timing decides some of the
 * outcomes, so a replay is faithful as far as the kernel answers the same
 * way).  Each step picks one operation:
 *
 *  - a control command: every opcode (ioctl encoded, legacy raw numbers,
 *    unknown numbers) with random dev_id, queue_id, len, addr, data[0],
 *    dev_path_len, a random device description for ADD_DEV (flags with
 *    unknown bits), random parameters of every type and length for
 *    SET_PARAMS.  Control commands are asynchronous: START_DEV before any
 *    FETCH, DEL_DEV while START_DEV waits, recovery commands in the wrong
 *    state all happen;
 *  - /dev/ublkcN: open, close, mmap with random offsets, pread/pwrite at
 *    random user-copy offsets;
 *  - I/O commands from the fuzzer's own ring: every I/O opcode with random
 *    q_id, tag, result and addr (FETCH twice, COMMIT before FETCH, ...),
 *    from a second thread and from a child process;
 *  - serving the requests that arrive: commit with random results, copy,
 *    user copy, zero copy (REGISTER/UNREGISTER_IO_BUF at random indexes,
 *    fixed reads/writes and send_zc with random offsets, lengths and
 *    directions) and automatic registration at random indexes;
 *  - io_uring buffer table misuse: updates and clones over kernel buffers,
 *    unregistering the table, closing the ring with buffers registered;
 *  - a server in a child process, SIGKILLed at a random point;
 *  - O_DIRECT reads and writes on /dev/ublkbN from children.
 *
 * The fuzzer writes only to memory it owns: every address handed to the
 * kernel points into a junk area, a per-tag buffer, or nowhere.
 *
 * At the end every device the fuzzer made is deleted, every child reaped.
 * A watchdog (SIGALRM) prints the seed and the last operations and kills
 * the children if a step hangs.  Exit: 0 done, 1 failure (hang, a device
 * left behind), 4 skipped (no ublk).
 */
#include <signal.h>
#include <stdarg.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <time.h>
#include "kublk.h"

int kublk_verbose;

#ifndef IORING_REGISTER_CLONE_BUFFERS
#define IORING_REGISTER_CLONE_BUFFERS	30
#endif

/* struct io_uring_clone_buffers of 6.12, not in every installed header */
struct fuzz_clone_buffers {
	__u32	src_fd;
	__u32	flags;
	__u32	pad[6];
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define MAX_DEVS	4
#define MAX_Q		2
#define MAX_DEPTH	8
#define MAX_IO_BYTES	(128U << 10)
#define NBUF		8
#define CTRL_SLOTS	16
#define MAX_KIDS	32
#define JUNK_SIZE	(4U << 20)
#define DEV_BYTES	0x100000U
#define OPLOG_N		48
#define OPLOG_LEN	176
#define CMD_STRIDE	(UBLK_MAX_QUEUE_DEPTH * sizeof(struct ublksrv_io_desc))

/* io ring user_data: kind in the top byte */
#define UD_KIND(u)	((u) >> 56)
#define UD_FETCH	1ULL
#define UD_OTHER	2ULL
#define UD_MAKE(k, q, t)	((k) << 56 | (__u64)(q) << 16 | (t))

/* ------------------------------------------------------------------ */
/* randomness, op log, watchdog                                        */
/* ------------------------------------------------------------------ */

static __u64 rng_state;
static unsigned long long seed;
static bool verbose;
static FILE *logf;

static __u64 rnd(void)
{
	__u64 x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static unsigned int rn(unsigned int n)
{
	return n ? rnd() % n : 0;
}

/* true with probability pct % */
static bool pct(unsigned int p)
{
	return rn(100) < p;
}

/* what the run got to do, printed at the end */
static struct {
	unsigned long ctrl_ok, ctrl_err, started, requests, blk_io, kills;
	unsigned long children;
} st;

static char oplog[OPLOG_N][OPLOG_LEN];
static unsigned long oplog_n;
static unsigned long step;

static void op(const char *fmt, ...)
{
	char *l = oplog[oplog_n++ % OPLOG_N];
	va_list ap;
	int n;

	n = snprintf(l, OPLOG_LEN, "%lu: ", step);
	va_start(ap, fmt);
	vsnprintf(l + n, OPLOG_LEN - n, fmt, ap);
	va_end(ap);
	if (verbose)
		printf("%s\n", l);
	if (logf)
		fprintf(logf, "%s\n", l);
}

/* async-signal-safe enough: only write() */
static void dump_oplog(void)
{
	char head[96];
	unsigned long i = oplog_n > OPLOG_N ? oplog_n - OPLOG_N : 0;
	int n;

	n = snprintf(head, sizeof(head), "fuzz: seed %llu, last operations:\n",
		     seed);
	if (write(1, head, n) < 0)
		return;
	for (; i < oplog_n; i++) {
		const char *l = oplog[i % OPLOG_N];

		if (write(1, "  ", 2) < 0 || write(1, l, strlen(l)) < 0 ||
		    write(1, "\n", 1) < 0)
			return;
	}
}

static pid_t kids[MAX_KIDS];

static void add_kid(pid_t pid)
{
	int i;

	st.children++;
	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] <= 0) {
			kids[i] = pid;
			return;
		}
	/*
	 * No room to track it: do not keep it. Not waited for here, it may
	 * be in I/O that only this process can complete; init reaps it.
	 */
	kill(pid, SIGKILL);
}

/*
 * In a child: close every inherited descriptor but @keep_a and @keep_b, so
 * that the child holds no reference on a ring or /dev/ublkcN of the parent
 * (the rings' mappings are not inherited: io_uring_ring_dontfork()).
 */
static void child_close_fds(int keep_a, int keep_b)
{
	int fd;

	for (fd = 3; fd < 1024; fd++)
		if (fd != keep_a && fd != keep_b &&
		    (!logf || fd != fileno(logf)))
			close(fd);
}

static void watchdog(int sig)
{
	char msg[128];
	int i, n;

	(void)sig;
	n = snprintf(msg, sizeof(msg),
		     "FAIL: step %lu hung (seed %llu), stopped by the alarm\n",
		     step, seed);
	if (write(1, msg, n) < 0)
		_exit(1);
	dump_oplog();
	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	_exit(1);
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* memory the kernel may scribble on                                   */
/* ------------------------------------------------------------------ */

static char *junk;		/* JUNK_SIZE, never holds fuzzer state */

/* an address for the kernel to read or write @len bytes at, or a bad one */
static __u64 rnd_addr(unsigned int len)
{
	switch (rn(8)) {
	case 0:
		return 0;
	case 1:
		return 0xdead00000000ULL + rn(4096);	/* unmapped */
	case 2:
		return 0xffff888000000000ULL;		/* kernel */
	case 3:
		return rnd();
	default:
		if (len >= JUNK_SIZE)
			len = JUNK_SIZE - 1;
		return (__u64)(uintptr_t)junk + rn(JUNK_SIZE - len);
	}
}

/* a random number of interest for a 32 bit field */
static __u32 rnd_u32(void)
{
	static const __u32 v[] = {
		0, 1, 2, 7, 8, 255, 256, 511, 512, 4095, 4096, 65535, 65536,
		0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe,
	};

	if (pct(60))
		return v[rn(ARRAY_SIZE(v))];
	return rnd();
}

/* ------------------------------------------------------------------ */
/* devices                                                              */
/* ------------------------------------------------------------------ */

enum { T_IDLE, T_FETCHING, T_OWNED, T_NGD };

struct fdev {
	bool used;
	__u32 id;
	__u64 flags;
	unsigned int nq, depth, max_io;
	int cdev;
	void *iods[MAX_Q];
	size_t iods_len;
	struct io_uring ring;
	bool ring_up;
	bool table;		/* the ring has a sparse buffer table */
	unsigned char ts[MAX_Q][MAX_DEPTH];
	unsigned short auto_idx[MAX_Q][MAX_DEPTH];
	char *bufs;		/* per tag copy buffers */
	pid_t srv;		/* server child, or 0 */
};

static struct fdev devs[MAX_DEVS];
static __u32 made_ids[64];	/* every id ADD_DEV gave us */
static unsigned int nr_made;

static int memfd = -1;		/* backing data for fixed reads/writes */
static int udp = -1;		/* send_zc target, connected to itself */
static char sockbuf[65536];

static struct fdev *rnd_dev(void)
{
	unsigned int i, start = rn(MAX_DEVS);

	for (i = 0; i < MAX_DEVS; i++) {
		struct fdev *d = &devs[(start + i) % MAX_DEVS];

		if (d->used)
			return d;
	}
	return NULL;
}

static __u32 rnd_dev_id(void)
{
	struct fdev *d = rnd_dev();

	if (d && pct(85))
		return d->id;
	switch (rn(4)) {
	case 0:
		return (__u32)-1;
	case 1:
		return 1U << 20 | rn(16);	/* no such device */
	case 2:
		return nr_made ? made_ids[rn(nr_made)] : 0;	/* maybe gone */
	default:
		return rnd_u32() | 0x100000;
	}
}

static char *tag_buf(struct fdev *d, unsigned int q, unsigned int t)
{
	return d->bufs + ((size_t)q * MAX_DEPTH + t) * MAX_IO_BYTES;
}

/* ------------------------------------------------------------------ */
/* control ring: asynchronous commands                                  */
/* ------------------------------------------------------------------ */

struct ctrl_slot {
	bool busy;
	int res;
	unsigned int op;
	__u32 dev_id;
	char buf[1024];
};

static struct io_uring ctrl;
static int ctrl_fd = -1;
static struct ctrl_slot slots[CTRL_SLOTS];
static unsigned int ctrl_inflight;

static void note_dev_added(const struct ublksrv_ctrl_dev_info *info);

static void ctrl_complete(struct io_uring_cqe *cqe)
{
	struct ctrl_slot *s = &slots[cqe->user_data % CTRL_SLOTS];

	op("ctrl done op 0x%x dev %u: %d", s->op, s->dev_id, cqe->res);
	if (cqe->res < 0) {
		st.ctrl_err++;
	} else {
		st.ctrl_ok++;
		if (s->op == UBLK_U_CMD_START_DEV ||
		    s->op == UBLK_U_CMD_END_USER_RECOVERY)
			st.started++;
	}
	if (s->op == UBLK_U_CMD_ADD_DEV && cqe->res == 0) {
		const struct ublksrv_ctrl_dev_info *info = (const void *)s->buf;

		note_dev_added(info);
	}
	s->res = cqe->res;
	s->busy = false;
	ctrl_inflight--;
}

static void ctrl_reap(unsigned int ms)
{
	unsigned long long end = now_ms() + ms;
	struct io_uring_cqe *cqe;

	for (;;) {
		struct __kernel_timespec ts;
		long long left = end - now_ms();
		int ret;

		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000LL;
		if (!ctrl_inflight)
			return;
		ret = left ? io_uring_wait_cqe_timeout(&ctrl, &cqe, &ts) :
			io_uring_peek_cqe(&ctrl, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret)
			return;
		ctrl_complete(cqe);
		io_uring_cqe_seen(&ctrl, cqe);
	}
}

/* submit; the slot's buffer is at the caller's disposal before submission */
static struct ctrl_slot *ctrl_slot(void)
{
	unsigned int i;

	if (ctrl_inflight >= CTRL_SLOTS - 1)
		ctrl_reap(50);
	for (i = 0; i < CTRL_SLOTS; i++)
		if (!slots[i].busy) {
			memset(slots[i].buf, 0, sizeof(slots[i].buf));
			return &slots[i];
		}
	return NULL;
}

static void ctrl_submit(struct ctrl_slot *s, unsigned int cmd_op,
			const struct ublksrv_ctrl_cmd *c, unsigned int wait_ms)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ctrl);

	if (!sqe)
		return;
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ctrl_fd;
	sqe->cmd_op = cmd_op;
	sqe->user_data = s - slots;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), c, sizeof(*c));
	s->busy = true;
	s->op = cmd_op;
	s->dev_id = c->dev_id;
	ctrl_inflight++;
	op("ctrl op 0x%x dev %u q %u len %u addr 0x%llx data 0x%llx path_len %u",
	   cmd_op, c->dev_id, c->queue_id, c->len,
	   (unsigned long long)c->addr, (unsigned long long)c->data[0],
	   c->dev_path_len);
	io_uring_submit(&ctrl);
	ctrl_reap(wait_ms);
}

static const unsigned int ctrl_ops[] = {
	UBLK_U_CMD_GET_QUEUE_AFFINITY, UBLK_U_CMD_GET_DEV_INFO,
	UBLK_U_CMD_ADD_DEV, UBLK_U_CMD_DEL_DEV, UBLK_U_CMD_START_DEV,
	UBLK_U_CMD_STOP_DEV, UBLK_U_CMD_SET_PARAMS, UBLK_U_CMD_GET_PARAMS,
	UBLK_U_CMD_START_USER_RECOVERY, UBLK_U_CMD_END_USER_RECOVERY,
	UBLK_U_CMD_GET_DEV_INFO2, UBLK_U_CMD_GET_FEATURES,
	UBLK_U_CMD_DEL_DEV_ASYNC, UBLK_U_CMD_UPDATE_SIZE,
	UBLK_U_CMD_QUIESCE_DEV, UBLK_U_CMD_TRY_STOP_DEV,
	UBLK_U_CMD_REG_BUF, UBLK_U_CMD_UNREG_BUF,
};

static unsigned int rnd_ctrl_op(void)
{
	unsigned int nr;

	switch (rn(10)) {
	case 0:	/* legacy raw number */
		return 1 + rn(0x19);
	case 1:	/* unknown numbers, wrong type, wrong direction or size */
		nr = rn(0x40);
		switch (rn(4)) {
		case 0:
			return _IOWR('u', nr, struct ublksrv_ctrl_cmd);
		case 1:
			return _IOWR('v', nr, struct ublksrv_ctrl_cmd);
		case 2:
			return _IOW('u', nr, struct ublksrv_io_cmd);
		default:
			return rnd_u32();
		}
	default:
		return ctrl_ops[rn(ARRAY_SIZE(ctrl_ops))];
	}
}

static __u64 rnd_flags(void)
{
	static const __u64 sane[] = {
		0,
		UBLK_F_USER_COPY,
		UBLK_F_SUPPORT_ZERO_COPY,
		UBLK_F_AUTO_BUF_REG,
		UBLK_F_AUTO_BUF_REG | UBLK_F_SUPPORT_ZERO_COPY,
		UBLK_F_NEED_GET_DATA,
		UBLK_F_USER_RECOVERY,
		UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE,
		UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_FAIL_IO,
		UBLK_F_USER_RECOVERY | UBLK_F_QUIESCE,
		UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_BUF_REG_OFF_DAEMON,
		UBLK_F_UNPRIVILEGED_DEV,
		UBLK_F_PER_IO_DAEMON,
		UBLK_F_UPDATE_SIZE | UBLK_F_SAFE_STOP_DEV,
	};
	__u64 f = sane[rn(ARRAY_SIZE(sane))];

	if (pct(40))
		f |= sane[rn(ARRAY_SIZE(sane))];
	if (pct(15))
		f |= 1ULL << rn(64);	/* maybe unknown */
	if (pct(70))
		f |= UBLK_F_NO_AUTO_PART_SCAN;
	return f | UBLK_F_CMD_IOCTL_ENCODE;
}

static void rnd_params(struct ublk_params *p, unsigned int max_io)
{
	memset(p, 0, sizeof(*p));
	p->len = pct(80) ? sizeof(*p) : rn(sizeof(*p) + 16);
	p->types = UBLK_PARAM_TYPE_BASIC;
	if (pct(30))
		p->types |= 1U << rn(8);
	if (pct(10))
		p->types = rnd_u32();
	p->basic.logical_bs_shift = pct(90) ? 9 : rn(20);
	p->basic.physical_bs_shift = pct(90) ? 12 : rn(20);
	p->basic.io_min_shift = pct(90) ? 9 : rn(20);
	p->basic.io_opt_shift = pct(90) ? 12 : rn(20);
	p->basic.max_sectors = pct(90) ? max_io >> 9 : rnd_u32();
	p->basic.dev_sectors = pct(90) ? DEV_BYTES >> 9 : rnd();
	if (pct(10))
		p->basic.attrs = rnd_u32();
	if (pct(10))
		p->basic.chunk_sectors = rnd_u32();
	if (pct(10))
		p->basic.virt_boundary_mask = pct(50) ? 4095 : rnd();
	if (pct(50)) {
		p->discard.discard_granularity = pct(80) ? 4096 : rnd_u32();
		p->discard.max_discard_sectors = rnd_u32();
		p->discard.max_write_zeroes_sectors = rnd_u32();
		p->discard.max_discard_segments = rn(4);
		p->discard.discard_alignment = rnd_u32();
	}
	if (pct(30)) {
		p->zoned.max_open_zones = rnd_u32();
		p->zoned.max_active_zones = rnd_u32();
		p->zoned.max_zone_append_sectors = rnd_u32();
	}
	if (pct(30))
		p->dma.alignment = pct(50) ? 511 : rnd_u32();
	if (pct(30)) {
		p->seg.seg_boundary_mask = pct(50) ? 4095 : rnd();
		p->seg.max_segment_size = rnd_u32();
		p->seg.max_segments = rn(70000);
	}
	if (pct(30)) {
		p->integrity.flags = rnd_u32();
		p->integrity.interval_exp = rn(16);
		p->integrity.metadata_size = rn(80);
		p->integrity.pi_offset = rn(80);
		p->integrity.csum_type = rn(5);
		p->integrity.tag_size = rn(10);
	}
	if (pct(5))	/* pure noise */
		memcpy(p, junk + rn(JUNK_SIZE - sizeof(*p)), sizeof(*p));
}

static void do_ctrl(void)
{
	struct ctrl_slot *s = ctrl_slot();
	struct ublksrv_ctrl_cmd c = { 0 };
	unsigned int cmd_op = rnd_ctrl_op(), nr = _IOC_NR(cmd_op), off = 0;
	struct fdev *d;

	if (!s)
		return;
	c.dev_id = rnd_dev_id();
	c.queue_id = pct(70) ? (__u16)-1 : rn(4);
	c.len = 0;
	c.addr = 0;
	d = NULL;
	for (unsigned int i = 0; i < MAX_DEVS; i++)
		if (devs[i].used && devs[i].id == c.dev_id)
			d = &devs[i];

	/* dev path for unprivileged devices (and sometimes for others) */
	if ((d && (d->flags & UBLK_F_UNPRIVILEGED_DEV) && pct(85)) || pct(5)) {
		off = snprintf(s->buf, 64, "/dev/ublkc%u", pct(90) ? c.dev_id : rn(8)) + 1;
		c.dev_path_len = pct(90) ? off : rn(300);
	}

	switch (nr) {
	case UBLK_CMD_ADD_DEV: {
		struct ublksrv_ctrl_dev_info *info = (void *)s->buf;

		memset(s->buf, 0, sizeof(*info));
		off = 0;
		c.dev_path_len = 0;
		info->nr_hw_queues = pct(90) ? 1 + rn(MAX_Q) : rn(70000);
		info->queue_depth = pct(90) ? 1 + rn(MAX_DEPTH) : rn(70000);
		info->max_io_buf_bytes = pct(90) ? 4096U << rn(6) : rnd_u32();
		if (info->max_io_buf_bytes > MAX_IO_BYTES &&
		    info->nr_hw_queues <= MAX_Q && info->queue_depth <= MAX_DEPTH)
			info->max_io_buf_bytes = MAX_IO_BYTES;
		info->dev_id = pct(80) ? (__u32)-1 : 900 + rn(4);
		c.dev_id = pct(95) ? info->dev_id : rnd_u32();
		info->ublksrv_pid = getpid();
		info->flags = rnd_flags();
		if (pct(5))
			info->state = rn(5);
		if (pct(5))
			info->owner_uid = rnd_u32();
		c.len = pct(90) ? sizeof(*info) : rn(200);
		c.addr = (__u64)(uintptr_t)s->buf;
		if (pct(3))
			c.addr = rnd_addr(c.len);
		break;
	}
	case UBLK_CMD_SET_PARAMS: {
		struct ublk_params *p = (void *)(s->buf + off);

		rnd_params(p, d ? d->max_io : 65536);
		c.len = off + (pct(85) ? sizeof(*p) : rn(sizeof(*p) + 32));
		c.addr = (__u64)(uintptr_t)s->buf;
		break;
	}
	case UBLK_CMD_START_DEV:
	case UBLK_CMD_END_USER_RECOVERY:
		c.data[0] = pct(90) ? (__u64)getpid() : rnd();
		if (off) {
			c.len = off;
			c.addr = (__u64)(uintptr_t)s->buf;
		}
		break;
	default:
		c.data[0] = pct(50) ? rn(DEV_BYTES >> 8) : rnd();
		if (_IOC_NR(UBLK_U_CMD_QUIESCE_DEV) == nr)
			c.data[0] = rn(500);
		c.len = pct(70) ? off + (pct(50) ? 64 + rn(128) : 8) : rn(1024);
		c.addr = (__u64)(uintptr_t)s->buf;
		if (pct(10)) {
			c.len = rn(65536);
			c.addr = rnd_addr(c.len);
		}
		break;
	}
	if (c.len > sizeof(s->buf) && c.addr == (__u64)(uintptr_t)s->buf)
		c.len = sizeof(s->buf);
	if (pct(3))
		c.pad = rnd();
	if (pct(3))
		c.reserved = rnd();
	ctrl_submit(s, cmd_op, &c, 30 + rn(200));
}

/* a plain synchronous command (setup and teardown), -ETIME if it hangs */
static int ctrl_sync(unsigned int cmd_op, __u32 dev_id, void *buf,
		     unsigned int len, __u64 data0, unsigned int ms)
{
	struct ctrl_slot *s = ctrl_slot();
	struct ublksrv_ctrl_cmd c = {
		.dev_id = dev_id, .queue_id = (__u16)-1, .len = len,
		.data = { data0 },
	};
	unsigned long long end = now_ms() + ms;

	if (!s)
		return -EBUSY;
	if (buf && len <= sizeof(s->buf)) {
		memcpy(s->buf, buf, len);
		c.addr = (__u64)(uintptr_t)s->buf;
	}
	if (!buf && len == 1) {	/* with the char device path (unprivileged) */
		c.len = snprintf(s->buf, 64, "/dev/ublkc%u", dev_id) + 1;
		c.dev_path_len = c.len;
		c.addr = (__u64)(uintptr_t)s->buf;
	}
	ctrl_submit(s, cmd_op, &c, 0);
	while (s->busy && now_ms() < end)
		ctrl_reap(20);
	if (s->busy)
		return -ETIME;
	if (buf && len <= sizeof(s->buf))
		memcpy(buf, s->buf, len);
	return s->res;
}

/* ------------------------------------------------------------------ */
/* device bookkeeping                                                   */
/* ------------------------------------------------------------------ */

static void note_dev_added(const struct ublksrv_ctrl_dev_info *info)
{
	unsigned int i;
	struct fdev *d = NULL;

	if (nr_made < ARRAY_SIZE(made_ids))
		made_ids[nr_made++] = info->dev_id;
	for (i = 0; i < MAX_DEVS; i++)
		if (!devs[i].used) {
			d = &devs[i];
			break;
		}
	if (!d || info->nr_hw_queues > MAX_Q || !info->nr_hw_queues ||
	    info->queue_depth > MAX_DEPTH || !info->queue_depth ||
	    info->max_io_buf_bytes > MAX_IO_BYTES) {
		/* not one we can serve: keep it only in made_ids */
		op("dev %u added but untracked (q %u depth %u max_io %u)",
		   info->dev_id, info->nr_hw_queues, info->queue_depth,
		   info->max_io_buf_bytes);
		return;
	}
	memset(d, 0, sizeof(*d));
	d->used = true;
	d->id = info->dev_id;
	d->flags = info->flags;
	d->nq = info->nr_hw_queues;
	d->depth = info->queue_depth;
	d->max_io = info->max_io_buf_bytes;
	d->cdev = -1;
	d->bufs = mmap(NULL, (size_t)MAX_Q * MAX_DEPTH * MAX_IO_BYTES,
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (d->bufs == MAP_FAILED) {
		d->used = false;
		return;
	}
	op("dev %u tracked: q %u depth %u max_io %u flags 0x%llx", d->id,
	   d->nq, d->depth, d->max_io, (unsigned long long)d->flags);
}

static void dev_ring_close(struct fdev *d)
{
	unsigned int q, t;

	if (d->ring_up) {
		op("dev %u: ring closed", d->id);
		io_uring_queue_exit(&d->ring);
	}
	d->ring_up = false;
	d->table = false;
	for (q = 0; q < MAX_Q; q++)
		for (t = 0; t < MAX_DEPTH; t++)
			d->ts[q][t] = T_IDLE;
}

static void dev_cdev_close(struct fdev *d)
{
	unsigned int q;

	dev_ring_close(d);
	for (q = 0; q < MAX_Q; q++) {
		if (d->iods[q])
			munmap(d->iods[q], d->iods_len);
		d->iods[q] = NULL;
	}
	if (d->cdev >= 0) {
		op("dev %u: cdev closed", d->id);
		close(d->cdev);
	}
	d->cdev = -1;
}

static void kill_server(struct fdev *d)
{
	if (d->srv > 0) {
		op("dev %u: kill server %d", d->id, d->srv);
		st.kills++;
		kill(d->srv, SIGKILL);
	}
	d->srv = 0;	/* reaped with the other children */
}

static void dev_forget(struct fdev *d)
{
	kill_server(d);
	dev_cdev_close(d);
	if (d->bufs)
		munmap(d->bufs, (size_t)MAX_Q * MAX_DEPTH * MAX_IO_BYTES);
	d->bufs = NULL;
	d->used = false;
}

/* the device was deleted behind our back? */
static void dev_check_gone(struct fdev *d)
{
	char p[64];

	snprintf(p, sizeof(p), "/sys/class/ublk-char/ublkc%u", d->id);
	if (access(p, F_OK) && d->cdev < 0 && d->srv <= 0) {
		op("dev %u: gone", d->id);
		dev_forget(d);
	}
}

static int dev_open(struct fdev *d)
{
	char path[64];
	unsigned int q;

	if (d->cdev >= 0 || d->srv > 0)
		return 0;
	snprintf(path, sizeof(path), "/dev/ublkc%u", d->id);
	d->cdev = open(path, O_RDWR | O_CLOEXEC);
	op("dev %u: open cdev: %d", d->id, d->cdev < 0 ? -errno : 0);
	if (d->cdev < 0)
		return -1;
	d->iods_len = (d->depth * sizeof(struct ublksrv_io_desc) + 4095) &
		~4095UL;
	for (q = 0; q < d->nq; q++) {
		d->iods[q] = mmap(NULL, d->iods_len, PROT_READ,
				  MAP_SHARED | MAP_POPULATE, d->cdev,
				  q * CMD_STRIDE);
		if (d->iods[q] == MAP_FAILED)
			d->iods[q] = NULL;
		/*
		 * A child must not inherit the mapping: it would hold
		 * /dev/ublkcN open, so that a request this server abandons is
		 * never aborted, while the child may wait for it in O_DIRECT
		 * I/O (an unkillable cycle of the fuzzer's own making).
		 */
		else
			madvise(d->iods[q], d->iods_len, MADV_DONTFORK);
	}
	return 0;
}

static int dev_ring_open(struct fdev *d)
{
	if (d->ring_up)
		return 0;
	if (dev_open(d) || d->cdev < 0)
		return -1;
	if (io_uring_queue_init(64, &d->ring, 0))
		return -1;
	io_uring_ring_dontfork(&d->ring);
	d->ring_up = true;
	if (pct(85))
		d->table = !io_uring_register_buffers_sparse(&d->ring,
							     NBUF);
	op("dev %u: ring up, table %d", d->id, d->table);
	return 0;
}

/* ------------------------------------------------------------------ */
/* I/O commands                                                         */
/* ------------------------------------------------------------------ */

static struct io_uring_sqe *dev_sqe(struct fdev *d)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);

	if (!sqe) {
		io_uring_submit(&d->ring);
		sqe = io_uring_get_sqe(&d->ring);
	}
	if (sqe)
		memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

static void prep_io(struct io_uring_sqe *sqe, int fd, unsigned int cmd_op,
		    const struct ublksrv_io_cmd *c)
{
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = cmd_op;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), c, sizeof(*c));
}

static bool no_copy(const struct fdev *d)
{
	return d->flags & (UBLK_F_USER_COPY | UBLK_F_SUPPORT_ZERO_COPY |
			   UBLK_F_AUTO_BUF_REG);
}

/* the addr a well-behaved server passes with FETCH/COMMIT for this tag */
static __u64 good_addr(struct fdev *d, unsigned int q, unsigned int t)
{
	if (d->flags & UBLK_F_AUTO_BUF_REG) {
		struct ublk_auto_buf_reg r = {
			.index = pct(90) ? rn(NBUF) : rn(0x10000),
			.flags = pct(50) ? UBLK_AUTO_BUF_REG_FALLBACK : 0,
		};

		if (pct(3))
			r.reserved0 = rnd();
		d->auto_idx[q][t] = r.index;
		return ublk_auto_buf_reg_to_sqe_addr(&r);
	}
	if (no_copy(d))
		return pct(95) ? 0 : rnd_addr(4096);
	return pct(97) ? (__u64)(uintptr_t)tag_buf(d, q, t) : rnd_addr(d->max_io);
}

static void io_cmd(struct fdev *d, unsigned int cmd_op, unsigned int q,
		   unsigned int t, int result, __u64 addr, bool fetch)
{
	struct ublksrv_io_cmd c = {
		.q_id = q, .tag = t, .result = result, .addr = addr,
	};
	struct io_uring_sqe *sqe;
	bool autoreg = d->flags & UBLK_F_AUTO_BUF_REG && fetch;

	if (!d->ring_up)
		return;
	sqe = dev_sqe(d);
	if (!sqe)
		return;
	/* auto registration: the index goes in sqe->addr, not in the cmd */
	if (autoreg && pct(95))
		c.addr = 0;
	prep_io(sqe, d->cdev, cmd_op, &c);
	if (autoreg)
		sqe->addr = addr;
	sqe->user_data = UD_MAKE(fetch ? UD_FETCH : UD_OTHER, q, t);
	if (fetch && q < MAX_Q && t < MAX_DEPTH)
		d->ts[q][t] = T_FETCHING;
	op("dev %u: io op 0x%x q %u tag %u res %d addr 0x%llx", d->id, cmd_op,
	   q, t, result, (unsigned long long)addr);
	io_uring_submit(&d->ring);
}

/* reap the device ring's completions for up to @ms */
static void dev_reap(struct fdev *d, unsigned int ms)
{
	unsigned long long end = now_ms() + ms;
	struct io_uring_cqe *cqe;

	while (d->ring_up) {
		struct __kernel_timespec ts;
		long long left = end - now_ms();
		int ret;

		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000LL;
		ret = left ? io_uring_wait_cqe_timeout(&d->ring, &cqe, &ts) :
			io_uring_peek_cqe(&d->ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret)
			return;
		if (UD_KIND(cqe->user_data) == UD_FETCH) {
			unsigned int q = (cqe->user_data >> 16) & 0xffff;
			unsigned int t = cqe->user_data & 0xffff;

			if (q < MAX_Q && t < MAX_DEPTH) {
				if (cqe->res == UBLK_IO_RES_OK)
					st.requests++;
				if (cqe->res == UBLK_IO_RES_OK)
					d->ts[q][t] = T_OWNED;
				else if (cqe->res == UBLK_IO_RES_NEED_GET_DATA)
					d->ts[q][t] = T_NGD;
				else
					d->ts[q][t] = T_IDLE;
			}
			op("dev %u: fetch q %u tag %u done: %d", d->id, q, t,
			   cqe->res);
		} else {
			op("dev %u: cqe 0x%llx: %d", d->id,
			   (unsigned long long)cqe->user_data, cqe->res);
		}
		io_uring_cqe_seen(&d->ring, cqe);
	}
}

static void fetch_all(struct fdev *d)
{
	unsigned int q, t;

	if (dev_ring_open(d))
		return;
	for (q = 0; q < d->nq; q++)
		for (t = 0; t < d->depth; t++)
			if (d->ts[q][t] == T_IDLE || pct(5))
				io_cmd(d, UBLK_U_IO_FETCH_REQ, q, t, 0,
				       good_addr(d, q, t), true);
	dev_reap(d, 10);
}

static const unsigned int io_ops[] = {
	UBLK_U_IO_FETCH_REQ, UBLK_U_IO_COMMIT_AND_FETCH_REQ,
	UBLK_U_IO_NEED_GET_DATA, UBLK_U_IO_REGISTER_IO_BUF,
	UBLK_U_IO_UNREGISTER_IO_BUF, UBLK_U_IO_PREP_IO_CMDS,
	UBLK_U_IO_COMMIT_IO_CMDS, UBLK_U_IO_FETCH_IO_CMDS,
	UBLK_IO_FETCH_REQ, UBLK_IO_COMMIT_AND_FETCH_REQ, UBLK_IO_NEED_GET_DATA,
	UBLK_IO_REGISTER_IO_BUF,
};

static unsigned int rnd_io_op(void)
{
	if (pct(8))
		return pct(50) ? _IOWR('u', rn(0x40), struct ublksrv_io_cmd) :
			rnd_u32();
	return io_ops[rn(ARRAY_SIZE(io_ops))];
}

/* one random I/O command, mostly about a real tag */
static void do_io_random(struct fdev *d)
{
	unsigned int cmd_op = rnd_io_op(), nr = _IOC_NR(cmd_op);
	unsigned int q = pct(90) ? rn(d->nq) : rn(70000);
	unsigned int t = pct(90) ? rn(d->depth) : rn(70000);
	int result = pct(50) ? (int)(4096U << rn(5)) : (int)rnd_u32();
	__u64 addr;
	bool fetch = nr == UBLK_IO_FETCH_REQ || nr == UBLK_IO_COMMIT_AND_FETCH_REQ;

	if (dev_ring_open(d))
		return;
	if (nr == UBLK_IO_REGISTER_IO_BUF || nr == UBLK_IO_UNREGISTER_IO_BUF)
		addr = pct(85) ? rn(NBUF) : rnd_u32();
	else if (q < MAX_Q && t < MAX_DEPTH && pct(80))
		addr = good_addr(d, q, t);
	else
		addr = rnd_addr(d->max_io);
	if (nr >= UBLK_IO_PREP_IO_CMDS && nr <= UBLK_IO_FETCH_IO_CMDS) {
		/* batch payload: point addr/len at junk elements */
		struct io_uring_sqe *sqe = dev_sqe(d);
		struct ublk_batch_io b = {
			.q_id = q, .flags = rn(8), .nr_elem = rn(10),
			.elem_bytes = pct(50) ? 8 : rn(32),
		};

		if (!sqe)
			return;
		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = d->cdev;
		sqe->cmd_op = cmd_op;
		sqe->addr = rnd_addr(4096);
		sqe->len = rn(4096);
		memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &b,
		       sizeof(b));
		sqe->user_data = UD_MAKE(UD_OTHER, q, t);
		op("dev %u: batch op 0x%x q %u n %u", d->id, cmd_op, q,
		   b.nr_elem);
		io_uring_submit(&d->ring);
		return;
	}
	io_cmd(d, cmd_op, q, t, result, addr, fetch && q < MAX_Q &&
	       t < MAX_DEPTH && d->ts[q][t] != T_FETCHING);
}

/* fixed read/write between the memfd and kernel buffer @idx */
static void fixed_rw(struct fdev *d, unsigned int idx, unsigned int len)
{
	struct io_uring_sqe *sqe = dev_sqe(d);
	unsigned int off = pct(80) ? 0 : rn(len + 4096);
	unsigned int n = pct(70) ? len - (off < len ? off : len) : rn(len + 8192);

	if (!sqe)
		return;
	switch (rn(3)) {
	case 0:
		io_uring_prep_read_fixed(sqe, memfd, (void *)(uintptr_t)off, n,
					 rn(DEV_BYTES), idx);
		break;
	case 1:
		io_uring_prep_write_fixed(sqe, memfd, (void *)(uintptr_t)off, n,
					  rn(DEV_BYTES), idx);
		break;
	default:
		io_uring_prep_send_zc_fixed(sqe, udp, (void *)(uintptr_t)off,
					    n < 60000 ? n : 60000, MSG_DONTWAIT,
					    0, idx);
		break;
	}
	sqe->user_data = UD_MAKE(UD_OTHER, 0xffff, idx);
	if (pct(20))
		sqe->flags |= IOSQE_ASYNC;
	op("dev %u: fixed op %u idx %u off %u len %u", d->id, sqe->opcode, idx,
	   off, n);
	io_uring_submit(&d->ring);
}

/* serve one owned tag in the way of the device's mode, with mistakes */
static void serve_tag(struct fdev *d, unsigned int q, unsigned int t)
{
	const struct ublksrv_io_desc *iod = d->iods[q] ?
		(const struct ublksrv_io_desc *)d->iods[q] + t : NULL;
	unsigned int len = iod ? iod->nr_sectors << 9 : 4096;
	unsigned int op_ = iod ? ublksrv_get_op(iod) : 0;
	int res;

	if (len > d->max_io)
		len = d->max_io;
	if (d->ts[q][t] == T_NGD) {
		io_cmd(d, UBLK_U_IO_NEED_GET_DATA, q, t, 0,
		       good_addr(d, q, t), true);
		return;
	}
	if (d->flags & UBLK_F_USER_COPY && d->cdev >= 0) {
		__u64 pos = UBLKSRV_IO_BUF_OFFSET + ((__u64)q << UBLK_QID_OFF) +
			((__u64)t << UBLK_TAG_OFF);
		unsigned int n = pct(80) ? len : rn(len + 8192);
		ssize_t r;

		if (pct(10))
			pos += rn(len + 4096);
		if (pct(5))
			pos = rnd();
		if (op_ == UBLK_IO_OP_READ || pct(10))
			r = pwrite(d->cdev, tag_buf(d, q, t), n, pos);
		else
			r = pread(d->cdev, tag_buf(d, q, t), n, pos);
		op("dev %u: user copy q %u tag %u op %u pos 0x%llx len %u: %zd",
		   d->id, q, t, op_, (unsigned long long)pos, n, r);
	}
	if ((d->flags & UBLK_F_SUPPORT_ZERO_COPY) && pct(80)) {
		unsigned int idx = pct(85) ? rn(NBUF) : rnd_u32();

		io_cmd(d, UBLK_U_IO_REGISTER_IO_BUF, q, t, 0, idx, false);
		if (pct(80))
			fixed_rw(d, idx, len);
		if (pct(80))
			io_cmd(d, UBLK_U_IO_UNREGISTER_IO_BUF, q, t, 0, idx,
			       false);
	}
	if ((d->flags & UBLK_F_AUTO_BUF_REG) && pct(80))
		fixed_rw(d, d->auto_idx[q][t], len);
	dev_reap(d, 1);
	switch (rn(6)) {
	case 0:
		res = -EIO;
		break;
	case 1:
		res = rnd_u32();
		break;
	case 2:
		res = 0;
		break;
	default:
		res = len;
	}
	io_cmd(d, UBLK_U_IO_COMMIT_AND_FETCH_REQ, q, t, res,
	       good_addr(d, q, t), true);
}

static void serve(struct fdev *d)
{
	unsigned int q, t;

	if (!d->ring_up)
		return;
	dev_reap(d, rn(20));
	for (q = 0; q < d->nq; q++)
		for (t = 0; t < d->depth; t++)
			if ((d->ts[q][t] == T_OWNED || d->ts[q][t] == T_NGD) &&
			    pct(90))
				serve_tag(d, q, t);
}

/* ------------------------------------------------------------------ */
/* buffer table misuse                                                  */
/* ------------------------------------------------------------------ */

static void do_table(struct fdev *d)
{
	/* a user buffer: the page-aligned start of the junk area */
	struct iovec iov = { .iov_base = junk, .iov_len = 4096 };
	struct io_uring r2;
	int ret;

	if (!d->ring_up)
		return;
	switch (rn(5)) {
	case 0:
	case 1: {
		unsigned int idx = pct(85) ? rn(NBUF) : rnd_u32();
		bool clear = pct(50);

		ret = io_uring_register_buffers_update_tag(&d->ring, idx,
							   clear ? NULL : &iov,
							   NULL, 1);
		if (clear) {
			/* a NULL iov list is refused: clear with an empty iov */
			iov.iov_base = NULL;
			iov.iov_len = 0;
			ret = io_uring_register_buffers_update_tag(&d->ring,
								   idx, &iov,
								   NULL, 1);
		}
		op("dev %u: buffers update idx %u clear %d: %d", d->id, idx,
		   clear, ret);
		break;
	}
	case 2: {
		struct fuzz_clone_buffers cb = { .src_fd = d->ring.ring_fd };

		if (io_uring_queue_init(8, &r2, 0))
			break;
		ret = syscall(__NR_io_uring_register, r2.ring_fd,
			      IORING_REGISTER_CLONE_BUFFERS, &cb, 1);
		op("dev %u: clone buffers: %d", d->id, ret < 0 ? -errno : ret);
		if (ret == 0 && pct(70)) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&r2);
			struct io_uring_cqe *cqe;
			struct __kernel_timespec ts = { .tv_nsec = 50000000 };

			if (!sqe)
				goto out_r2;
			io_uring_prep_read_fixed(sqe, memfd, NULL, 512, 0,
						 rn(NBUF));
			io_uring_submit(&r2);
			if (!io_uring_wait_cqe_timeout(&r2, &cqe, &ts)) {
				op("dev %u: fixed read on clone: %d", d->id,
				   cqe->res);
				io_uring_cqe_seen(&r2, cqe);
			}
		}
		if (pct(50)) {	/* clone into ourselves, or the clone back */
			cb.src_fd = r2.ring_fd;
			ret = syscall(__NR_io_uring_register, d->ring.ring_fd,
				      IORING_REGISTER_CLONE_BUFFERS, &cb, 1);
			op("dev %u: clone back: %d", d->id,
			   ret < 0 ? -errno : ret);
			if (ret == 0)
				d->table = true;
		}
out_r2:
		io_uring_queue_exit(&r2);
		break;
	}
	case 3:
		ret = io_uring_unregister_buffers(&d->ring);
		op("dev %u: unregister buffer table: %d", d->id, ret);
		if (!ret)
			d->table = false;
		break;
	default:
		if (!d->table) {
			ret = io_uring_register_buffers_sparse(&d->ring, NBUF);
			op("dev %u: register sparse table: %d", d->id, ret);
			d->table = !ret;
		} else {
			ret = io_uring_register_buffers(&d->ring, &iov, 1);
			op("dev %u: register over a table: %d", d->id, ret);
		}
		break;
	}
}

/* ------------------------------------------------------------------ */
/* other tasks                                                          */
/* ------------------------------------------------------------------ */

struct wrong_arg {
	int fd;
	unsigned int cmd_op;
	struct ublksrv_io_cmd c;
	int res;
};

static void *wrong_thread(void *p)
{
	struct wrong_arg *a = p;
	struct io_uring r;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_nsec = 100000000 };

	a->res = INT_MIN;
	if (io_uring_queue_init(4, &r, 0))
		return NULL;
	io_uring_register_buffers_sparse(&r, NBUF);
	sqe = io_uring_get_sqe(&r);
	if (!sqe) {
		io_uring_queue_exit(&r);
		return NULL;
	}
	memset(sqe, 0, sizeof(*sqe));
	prep_io(sqe, a->fd, a->cmd_op, &a->c);
	io_uring_submit(&r);
	if (!io_uring_wait_cqe_timeout(&r, &cqe, &ts)) {
		a->res = cqe->res;
		io_uring_cqe_seen(&r, cqe);
	}
	io_uring_queue_exit(&r);	/* with the command maybe pending */
	return NULL;
}

static void do_wrong_thread(struct fdev *d)
{
	struct wrong_arg a = {
		.fd = d->cdev, .cmd_op = rnd_io_op(),
		.c = { .q_id = rn(d->nq), .tag = rn(d->depth),
		       .result = 4096, .addr = 0 },
	};
	pthread_t th;

	if (d->cdev < 0)
		return;
	if (_IOC_NR(a.cmd_op) == UBLK_IO_REGISTER_IO_BUF ||
	    _IOC_NR(a.cmd_op) == UBLK_IO_UNREGISTER_IO_BUF)
		a.c.addr = rn(NBUF);
	else
		a.c.addr = good_addr(d, a.c.q_id, a.c.tag);
	if (pthread_create(&th, NULL, wrong_thread, &a))
		return;
	pthread_join(th, NULL);
	op("dev %u: io op 0x%x q %u tag %u from another thread: %d", d->id,
	   a.cmd_op, a.c.q_id, a.c.tag, a.res);
}

/* a child process: a control command and an io command of its own */
static void do_wrong_process(struct fdev *d)
{
	struct wrong_arg a = {
		.fd = d->cdev, .cmd_op = rnd_io_op(),
		.c = { .q_id = rn(d->nq), .tag = rn(d->depth), .result = 4096,
		       .addr = rn(NBUF) },
	};
	unsigned int cop = rnd_ctrl_op();
	pid_t pid;

	op("dev %u: child process: ctrl 0x%x, io 0x%x q %u tag %u", d->id,
	   cop, a.cmd_op, a.c.q_id, a.c.tag);
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		struct io_uring r;
		struct io_uring_sqe *sqe;
		struct io_uring_cqe *cqe;
		struct ublksrv_ctrl_cmd c = {
			.dev_id = d->id, .queue_id = (__u16)-1,
		};
		struct __kernel_timespec ts = { .tv_nsec = 100000000 };

		child_close_fds(ctrl_fd, d->cdev);
		alarm(5);
		if (!io_uring_queue_init(4, &r, IORING_SETUP_SQE128)) {
			sqe = io_uring_get_sqe(&r);
			if (!sqe)
				_exit(0);
			memset(sqe, 0, 128);
			sqe->opcode = IORING_OP_URING_CMD;
			sqe->fd = ctrl_fd;
			sqe->cmd_op = cop;
			if (_IOC_NR(cop) == UBLK_CMD_ADD_DEV)
				sqe->cmd_op = UBLK_U_CMD_GET_DEV_INFO;
			memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3),
			       &c, sizeof(c));
			io_uring_submit(&r);
			io_uring_wait_cqe_timeout(&r, &cqe, &ts);
		}
		if (d->cdev >= 0)
			wrong_thread(&a);
		_exit(0);
	}
	add_kid(pid);
}

/* a server in a child process, killed at a random point */
static void do_child_server(struct fdev *d)
{
	pid_t pid;

	kill_server(d);
	dev_cdev_close(d);
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		unsigned long long end = now_ms() + 200 + rn(3000);
		unsigned int q, t;

		child_close_fds(memfd, udp);
		alarm(10);
		d->cdev = -1;
		d->ring_up = false;
		for (q = 0; q < MAX_Q; q++)
			d->iods[q] = NULL;
		verbose = false;
		fetch_all(d);
		if (!d->ring_up)
			_exit(0);
		if (pct(10))
			kill(getpid(), SIGKILL);	/* right after FETCH */
		while (now_ms() < end) {
			serve(d);
			dev_reap(d, 20);
			for (q = 0; q < d->nq; q++)
				for (t = 0; t < d->depth; t++)
					if (d->ts[q][t] == T_IDLE && pct(50))
						io_cmd(d, UBLK_U_IO_FETCH_REQ,
						       q, t, 0,
						       good_addr(d, q, t),
						       true);
		}
		_exit(0);
	}
	d->srv = pid;
	add_kid(pid);
	op("dev %u: server child %d", d->id, pid);
}

/* O_DIRECT I/O on the block device from a child, bounded by alarm() */
static void do_blk_io(struct fdev *d)
{
	unsigned int len = 512U << rn(8), n = 1 + rn(4), i;
	off_t off = (off_t)rn(DEV_BYTES / 512) * 512;
	bool wr = pct(40);
	pid_t pid;

	op("dev %u: block %s off %lld len %u x%u", d->id, wr ? "write" : "read",
	   (long long)off, len, n);
	st.blk_io++;
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		char path[64];
		void *buf;
		int fd;

		child_close_fds(-1, -1);
		alarm(8);
		snprintf(path, sizeof(path), "/dev/ublkb%u", d->id);
		fd = open(path, (wr ? O_RDWR : O_RDONLY) | O_DIRECT);
		if (fd < 0 || posix_memalign(&buf, 4096, len))
			_exit(0);
		memset(buf, 0x5a, len);
		for (i = 0; i < n; i++) {
			if (wr)
				(void)!pwrite(fd, buf, len, off + i * len);
			else
				(void)!pread(fd, buf, len, off + i * len);
		}
		if (pct(20))
			fsync(fd);
		_exit(0);
	}
	add_kid(pid);
}

static void reap_kids(bool block_ms)
{
	int i;

	for (i = 0; i < MAX_KIDS; i++) {
		if (kids[i] <= 0)
			continue;
		if (waitpid(kids[i], NULL, block_ms ? 0 : WNOHANG) == kids[i]) {
			unsigned int j;

			for (j = 0; j < MAX_DEVS; j++)
				if (devs[j].srv == kids[i])
					devs[j].srv = 0;
			kids[i] = 0;
		}
	}
}

/* ------------------------------------------------------------------ */
/* the main loop                                                        */
/* ------------------------------------------------------------------ */

static void setup_dev(void)
{
	struct ublksrv_ctrl_dev_info info = { 0 };
	struct ublk_params p;
	unsigned int nbefore = nr_made;

	info.nr_hw_queues = 1 + rn(MAX_Q);
	info.queue_depth = 1 + rn(MAX_DEPTH);
	info.max_io_buf_bytes = 4096U << rn(6);
	info.dev_id = (__u32)-1;
	info.ublksrv_pid = getpid();
	info.flags = rnd_flags() & ~UBLK_F_UNPRIVILEGED_DEV;
	ctrl_sync(UBLK_U_CMD_ADD_DEV, (__u32)-1, &info, sizeof(info), 0, 2000);
	if (nr_made == nbefore)
		return;
	rnd_params(&p, info.max_io_buf_bytes);
	if (pct(80)) {
		p.len = sizeof(p);
		p.types = UBLK_PARAM_TYPE_BASIC;
	}
	ctrl_sync(UBLK_U_CMD_SET_PARAMS, made_ids[nr_made - 1], &p, sizeof(p),
		  0, 2000);
}

static void one_step(void)
{
	struct fdev *d = rnd_dev();
	unsigned int w = rn(100);

	if (!d || w < 6) {
		unsigned int i, n = 0;

		for (i = 0; i < MAX_DEVS; i++)
			n += devs[i].used;
		if (n < MAX_DEVS)
			setup_dev();
		return;
	}
	dev_check_gone(d);
	if (!d->used)
		return;
	if (w < 22) {
		do_ctrl();
	} else if (w < 30) {
		if (d->srv <= 0)
			fetch_all(d);
	} else if (w < 34) {
		/* the usual start: FETCH everything then START_DEV */
		if (d->srv <= 0)
			fetch_all(d);
		ctrl_sync(UBLK_U_CMD_START_DEV, d->id, NULL, 0, getpid(),
			  50 + rn(300));
	} else if (w < 50) {
		if (d->srv <= 0)
			serve(d);
	} else if (w < 58) {
		if (d->srv <= 0)
			do_io_random(d);
	} else if (w < 63) {
		if (d->srv <= 0)
			do_table(d);
	} else if (w < 68) {
		do_blk_io(d);
	} else if (w < 70) {
		if (d->srv <= 0)
			do_wrong_thread(d);
	} else if (w < 72) {
		do_wrong_process(d);
	} else if (w < 75) {
		if (d->srv > 0)
			kill_server(d);
		else
			do_child_server(d);
	} else if (w < 78) {
		if (pct(50))
			dev_ring_close(d);
		else
			dev_cdev_close(d);
	} else if (w < 80) {
		/* mmap misuse */
		if (d->cdev >= 0) {
			size_t len = 4096U << rn(3);
			off_t off = pct(50) ? rn(4) * CMD_STRIDE : rn(64) * 4096;
			void *m = mmap(NULL, len, pct(80) ? PROT_READ :
				       PROT_READ | PROT_WRITE, MAP_SHARED,
				       d->cdev, off);

			op("dev %u: mmap len %zu off 0x%llx: %s", d->id, len,
			   (unsigned long long)off,
			   m == MAP_FAILED ? strerror(errno) : "ok");
			if (m != MAP_FAILED)
				munmap(m, len);
		}
	} else if (w < 83) {
		/* DEL_DEV / STOP_DEV on a busy device */
		ctrl_sync(pct(50) ? UBLK_U_CMD_DEL_DEV_ASYNC :
			  UBLK_U_CMD_STOP_DEV, d->id, NULL, 0, 0, 20 + rn(200));
	} else if (w < 86) {
		/* recovery commands, whatever the state */
		ctrl_sync(UBLK_U_CMD_START_USER_RECOVERY, d->id, NULL, 0, 0,
			  20 + rn(200));
		if (pct(60)) {
			if (d->srv <= 0 && pct(70)) {
				dev_cdev_close(d);
				fetch_all(d);
			}
			ctrl_sync(UBLK_U_CMD_END_USER_RECOVERY, d->id, NULL, 0,
				  getpid(), 20 + rn(200));
		}
	} else {
		if (d->srv <= 0)
			serve(d);
		ctrl_reap(0);
	}
	reap_kids(false);
}

/* wait up to @ms for every child to be reaped */
static void reap_kids_for(unsigned int ms)
{
	unsigned long long end = now_ms() + ms;
	int i, left;

	do {
		reap_kids(false);
		for (left = 0, i = 0; i < MAX_KIDS; i++)
			left += kids[i] > 0;
		if (!left)
			return;
		usleep(20000);
	} while (now_ms() < end);
	printf("INFO: %d child(ren) not gone after %u ms\n", left, ms);
}

/* STOP_DEV + DEL_DEV, with the char device path if the plain one fails */
static int del_one(__u32 id)
{
	int ret, i;

	for (i = 0; i < 2; i++) {
		ret = ctrl_sync(UBLK_U_CMD_STOP_DEV, id, NULL, i, 0, 15000);
		op("cleanup: STOP_DEV %u: %d", id, ret);
		if (ret == -ETIME)
			return ret;
		ret = ctrl_sync(UBLK_U_CMD_DEL_DEV, id, NULL, i, 0, 15000);
		op("cleanup: DEL_DEV %u: %d", id, ret);
		if (ret != -EINVAL && ret != -EPERM && ret != -EACCES)
			return ret;
	}
	return ret;
}

/* delete every device we made; true if all are gone */
static bool cleanup(void)
{
	unsigned int i, j;
	bool ok = true;

	op("cleanup");
	for (i = 0; i < MAX_DEVS; i++)
		if (devs[i].used)
			kill_server(&devs[i]);
	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	for (i = 0; i < MAX_DEVS; i++)
		if (devs[i].used)
			dev_cdev_close(&devs[i]);
	reap_kids_for(5000);
	for (i = 0; i < nr_made; i++) {
		char p[64];
		int ret;

		for (j = 0; j < i; j++)
			if (made_ids[j] == made_ids[i])
				break;
		if (j < i)
			continue;	/* an id that was reused */
		snprintf(p, sizeof(p), "/sys/class/ublk-char/ublkc%u",
			 made_ids[i]);
		if (access(p, F_OK))
			continue;
		ret = del_one(made_ids[i]);
		if (ret == -ETIME) {
			printf("FAIL: device %u: STOP_DEV/DEL_DEV hangs\n",
			       made_ids[i]);
			return false;
		}
		if (!access(p, F_OK)) {
			printf("FAIL: device %u still there after DEL_DEV (%d)\n",
			       made_ids[i], ret);
			ok = false;
		}
	}
	reap_kids_for(5000);
	for (i = 0; i < MAX_DEVS; i++)
		if (devs[i].used)
			dev_forget(&devs[i]);
	ctrl_reap(100);
	if (ctrl_inflight)
		printf("INFO: %u control command(s) still pending at the end\n",
		       ctrl_inflight);
	return ok;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"Usage: %s [--seed N] [--seconds S] [--iters N] [--verbose] [--log FILE]\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long long iters = 0, secs = 0, end, start;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sa);
	bool have_seed = false;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
			have_seed = true;
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			secs = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
			iters = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--verbose")) {
			verbose = true;
		} else if (!strcmp(argv[i], "--log") && i + 1 < argc) {
			logf = fopen(argv[++i], "w");
			if (!logf) {
				perror(argv[i]);
				return 2;
			}
			setvbuf(logf, NULL, _IOLBF, 0);
		} else {
			usage(argv[0]);
		}
	}
	if (!have_seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (ts.tv_sec * 1000000007ULL) ^ ts.tv_nsec ^ getpid();
		seed %= 1000000000ULL;
	}
	if (!iters && !secs)
		secs = 10;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("seed %llu\n", seed);
	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, watchdog);
	/* each step is bounded; the whole run gets a generous margin */
	alarm((secs ? secs : iters / 10 + 30) + 120);

	ctrl_fd = open("/dev/ublk-control", O_RDWR | O_CLOEXEC);
	if (ctrl_fd < 0) {
		printf("SKIP: /dev/ublk-control: %s\n", strerror(errno));
		return 4;
	}
	if (io_uring_queue_init(CTRL_SLOTS * 2, &ctrl, IORING_SETUP_SQE128)) {
		printf("SKIP: no SQE128 io_uring\n");
		return 4;
	}
	io_uring_ring_dontfork(&ctrl);
	junk = mmap(NULL, JUNK_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memfd = memfd_create("ublk_fuzz", MFD_CLOEXEC);
	if (junk == MAP_FAILED || memfd < 0 || ftruncate(memfd, DEV_BYTES)) {
		printf("FAIL: setup: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < (int)JUNK_SIZE; i += 8)
		*(__u64 *)(junk + i) = rnd();
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (udp < 0 || bind(udp, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(udp, (struct sockaddr *)&sa, &slen) ||
	    connect(udp, (struct sockaddr *)&sa, sizeof(sa))) {
		printf("INFO: no loopback UDP socket, send_zc on a bad fd\n");
		if (udp >= 0)
			close(udp);
		udp = memfd;
	}

	start = now_ms();
	end = start + secs * 1000;
	for (step = 0; iters ? step < iters : now_ms() < end; step++) {
		one_step();
		if (udp != memfd)
			while (recv(udp, sockbuf, sizeof(sockbuf), 0) > 0)
				;
	}
	printf("fuzz: %lu steps in %llu ms: %u devices made, %lu started, ",
	       step, now_ms() - start, nr_made, st.started);
	printf("%lu requests served, %lu block I/O children, %lu servers killed, ",
	       st.requests, st.blk_io, st.kills);
	printf("%lu children, control commands %lu ok %lu failed\n",
	       st.children, st.ctrl_ok, st.ctrl_err);
	alarm(240);	/* cleanup's own bound */
	if (!cleanup()) {
		dump_oplog();
		return 1;
	}
	printf("PASS: seed %llu, %lu steps, every device deleted (%llu ms in all)\n",
	       seed, step, now_ms() - start);
	return 0;
}
