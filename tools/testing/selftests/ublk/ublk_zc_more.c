// SPDX-License-Identifier: GPL-2.0
/*
 * ublk_zc_more: zero-copy request buffers beyond READ_FIXED/WRITE_FIXED on
 * one ring.  Sets up a device by hand with raw commands (1 queue, depth 4,
 * zero copy), serves it from a tiny server backed by a memfd, and lets a
 * helper process issue O_DIRECT pread/pwrite on /dev/ublkbN.  One mode per
 * run (argv[1]):
 *
 * net     SEND, SEND_ZC and RECV with IORING_RECVSEND_FIXED_BUF on request
 *         buffers over a socketpair and loopback TCP: a WRITE request's
 *         data can be sent and arrives intact, a READ request's buffer can
 *         be received into and the reader gets that data; the wrong
 *         direction and ranges outside the request fail with -EFAULT
 *         without consuming or sending a byte; a short receive reports
 *         only what arrived, and committing that count gets the rest of
 *         the request dispatched again.
 * rings   (BUF_REG_OFF_DAEMON) the same request registered on two rings of
 *         the server task and on the ring of another thread: data moved
 *         through each of them, the request ends only after its COMMIT
 *         and every registration is gone (unregister, ring teardown,
 *         IORING_UNREGISTER_BUFFERS); a request registered by another
 *         process ends when that process exits.
 * kill    a server process registers a READ request on three rings (two of
 *         its main thread, one of another thread) and is killed by
 *         SIGKILL: the reader's I/O fails, STOP_DEV/DEL_DEV work.
 * recover the same with USER_RECOVERY_REISSUE: a new server recovers the
 *         device and the reader gets its data.
 * recover_del  the same, but nobody recovers: STOP_DEV fails the reader's
 *         I/O, DEL_DEV works.
 * perio   (PER_IO_DAEMON) tags fetched by two tasks: FETCH from a second
 *         task is refused without the flag, COMMIT/REGISTER/UNREGISTER of
 *         a tag from the task that does not own it fail with -EINVAL,
 *         each task serves its own tags, a write-then-verify run works.
 * perio_off  the same with BUF_REG_OFF_DAEMON: (un)registration from the
 *         other task works.
 *
 * One line per check ("PASS: ..." / "FAIL: ..."), a summary
 * "N passed, N failed".  Exit: 0 all passed, 1 a check failed, 4 skipped.
 */
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include "kublk.h"

int kublk_verbose;

#define DEPTH		4
#define NBUF		8		/* sparse buffer table size */
#define IDX_READ	0		/* the READ request's buffer */
#define IDX_WRITE	1		/* the WRITE request's buffer */
#define IDX_EMPTY	2		/* stays empty */
#define NRES		32
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif
#define IDX_SERVE	6		/* serving unrelated requests */
#define MAX_IO		(64U << 10)
#define DEV_BYTES	(4U << 20)
#define IO_LEN		8192U
#define OFF_READ	(256U << 10)
#define OFF_WRITE	(512U << 10)
#define OFF_TEAR	(768U << 10)
#define SEED_READ	0x1234
#define SEED_WRITE	0xbeef

#define NOEXP		INT_MIN
#define PENDING		(INT_MIN + 1)

#define UD_FETCH(t)	(0x100ULL + (t))
#define UD_IS_FETCH(u)	((u) >= 0x100 && (u) < 0x100 + DEPTH)
#define UD_SYNC_BASE	0x10000ULL

static int nr_fail, nr_pass;

/* ------------------------------------------------------------------ */
/* reporting                                                            */
/* ------------------------------------------------------------------ */

static const char *ename(int e, char *buf, size_t len)
{
	switch (e) {
	case 0: return "0";
	case -EINVAL: return "-EINVAL";
	case -ENODEV: return "-ENODEV";
	case -EBUSY: return "-EBUSY";
	case -EFAULT: return "-EFAULT";
	case -EIO: return "-EIO";
	case -EACCES: return "-EACCES";
	case -EPERM: return "-EPERM";
	case -EOPNOTSUPP: return "-EOPNOTSUPP";
	case -ENOMEM: return "-ENOMEM";
	case -ECANCELED: return "-ECANCELED";
	case -ENXIO: return "-ENXIO";
	case PENDING: return "pending (no completion)";
	}
	snprintf(buf, len, "%d", e);
	return buf;
}

static bool check2(const char *what, int got, int exp1, int exp2)
{
	char b1[16], b2[16], b3[16];
	bool ok = got == exp1 || (exp2 != NOEXP && got == exp2);

	if (ok)
		nr_pass++;
	else
		nr_fail++;
	printf("%s: %s: got %s, expected %s%s%s\n", ok ? "PASS" : "FAIL", what,
	       ename(got, b1, sizeof(b1)), ename(exp1, b2, sizeof(b2)),
	       exp2 != NOEXP ? " or " : "",
	       exp2 != NOEXP ? ename(exp2, b3, sizeof(b3)) : "");
	fflush(stdout);
	return ok;
}

static bool check(const char *what, int got, int exp)
{
	return check2(what, got, exp, NOEXP);
}

/* a check whose expectation is not a single value */
static bool check_cond(const char *what, bool ok, const char *got,
		       const char *exp)
{
	if (ok)
		nr_pass++;
	else
		nr_fail++;
	printf("%s: %s: got %s, expected %s\n", ok ? "PASS" : "FAIL", what,
	       got, exp);
	fflush(stdout);
	return ok;
}

static void alarm_handler(int sig)
{
	(void)sig;
	printf("FAIL: timed out (driver or io_uring hang?)\n");
	printf("%d passed, %d failed\n", nr_pass, nr_fail + 1);
	fflush(stdout);
	_exit(1);
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static unsigned char pattern(unsigned int seed, unsigned int i)
{
	unsigned int x = seed * 2654435761u + i * 40503u;

	x ^= x >> 13;
	x *= 0x5bd1e995u;
	x ^= x >> 15;
	return x;
}

static void fill_pattern(unsigned char *p, unsigned int len, unsigned int seed)
{
	unsigned int i;

	for (i = 0; i < len; i++)
		p[i] = pattern(seed, i);
}

/* first differing byte, -1 if equal */
static int cmp_pattern(const unsigned char *p, unsigned int len, unsigned int seed)
{
	unsigned int i;

	for (i = 0; i < len; i++)
		if (p[i] != pattern(seed, i))
			return i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* the I/O helper: a process without rings that runs block device I/O  */
/* ------------------------------------------------------------------ */

struct io_req {
	int id;
	int is_write;
	unsigned int dev_id;
	unsigned int off;
	unsigned int len;
	unsigned int seed;
};

struct io_result {
	int id;
	int ret;		/* bytes, or -errno */
	int mismatch;		/* READ: first byte != pattern, -1 if none */
};

static int helper_cmd_fd = -1, helper_res_fd = -1;
static pid_t helper_pid = -1;
static struct io_result results[NRES];
static bool have_result[NRES];

static void helper_do_io(const struct io_req *r, int res_fd)
{
	struct io_result res = { .id = r->id, .mismatch = -1 };
	char path[64];
	void *buf = NULL;
	ssize_t n;
	int fd = -1, i;

	snprintf(path, sizeof(path), "/dev/ublkb%u", r->dev_id);
	for (i = 0; i < 100; i++) {
		fd = open(path, O_RDWR | O_DIRECT);
		if (fd >= 0 || errno != ENOENT)
			break;
		usleep(50000);
	}
	if (fd < 0 || posix_memalign(&buf, 4096, r->len)) {
		res.ret = -errno;
		goto out;
	}
	if (r->is_write) {
		fill_pattern(buf, r->len, r->seed);
		n = pwrite(fd, buf, r->len, r->off);
	} else {
		memset(buf, 0, r->len);
		n = pread(fd, buf, r->len, r->off);
		if (n == (ssize_t)r->len)
			res.mismatch = cmp_pattern(buf, r->len, r->seed);
	}
	res.ret = n < 0 ? -errno : (int)n;
out:
	if (write(res_fd, &res, sizeof(res)) != sizeof(res))
		_exit(2);
	_exit(0);
}

static void helper_main(int cmd_fd, int res_fd)
{
	struct io_req r;

	signal(SIGCHLD, SIG_IGN);	/* reap the I/O processes */
	signal(SIGALRM, SIG_DFL);
	alarm(0);
	while (read(cmd_fd, &r, sizeof(r)) == sizeof(r)) {
		pid_t pid = fork();

		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(cmd_fd);
			helper_do_io(&r, res_fd);
		}
	}
	_exit(0);
}

static int helper_start(void)
{
	int cmd[2], res[2];

	if (pipe(cmd) || pipe(res))
		return -errno;
	helper_pid = fork();
	if (helper_pid < 0)
		return -errno;
	if (helper_pid == 0) {
		/* a checker that crashed must not leave us behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setpgid(0, 0);		/* so that the parent can kill us all */
		close(cmd[1]);
		close(res[0]);
		helper_main(cmd[0], res[1]);
	}
	setpgid(helper_pid, helper_pid);
	close(cmd[0]);
	close(res[1]);
	helper_cmd_fd = cmd[1];
	helper_res_fd = res[0];
	return 0;
}

static void helper_stop(void)
{
	if (helper_cmd_fd >= 0)
		close(helper_cmd_fd);
	helper_cmd_fd = -1;
	if (helper_pid > 0) {
		kill(-helper_pid, SIGKILL);
		waitpid(helper_pid, NULL, 0);
	}
	helper_pid = -1;
}

static int io_start(int id, bool is_write, unsigned int dev_id, unsigned int off,
		    unsigned int len, unsigned int seed)
{
	struct io_req r = {
		.id = id, .is_write = is_write, .dev_id = dev_id, .off = off,
		.len = len, .seed = seed,
	};

	return write(helper_cmd_fd, &r, sizeof(r)) == sizeof(r) ? 0 : -EIO;
}

/* collect results for up to @ms; true once result @id is in */
static bool io_wait(int id, unsigned int ms)
{
	unsigned long long end = now_ms() + ms;

	while (!have_result[id]) {
		struct pollfd pfd = { .fd = helper_res_fd, .events = POLLIN };
		struct io_result r;
		long long left = end - now_ms();

		if (left <= 0)
			return false;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		if (read(helper_res_fd, &r, sizeof(r)) != sizeof(r))
			return false;
		if (r.id >= 0 && r.id < NRES) {
			results[r.id] = r;
			have_result[r.id] = true;
		}
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* control ring                                                         */
/* ------------------------------------------------------------------ */

static struct io_uring ctrl;
static int ctrl_fd = -1;

static void ctrl_prep(unsigned int op, __u32 dev_id, void *addr, unsigned int len,
		      __u64 data0)
{
	struct ublksrv_ctrl_cmd c = {
		.dev_id = dev_id, .queue_id = (__u16)-1, .len = len,
		.addr = (__u64)(uintptr_t)addr, .data = { data0 },
	};
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ctrl);

	if (!sqe) {	/* one command at a time: cannot happen */
		printf("FAIL: control ring full\n");
		exit(1);
	}
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ctrl_fd;
	sqe->cmd_op = op;
	sqe->user_data = op;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &c, sizeof(c));
}

static int ctrl_cmd(unsigned int op, __u32 dev_id, void *addr, unsigned int len,
		    __u64 data0)
{
	struct io_uring_cqe *cqe;
	int ret;

	ctrl_prep(op, dev_id, addr, len, data0);
	ret = io_uring_submit(&ctrl);
	if (ret < 0)
		return ret;
	do {
		ret = io_uring_wait_cqe(&ctrl, &cqe);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&ctrl, cqe);
	return ret;
}

/* ------------------------------------------------------------------ */
/* servers: a ring that fetches some tags, in the task that owns them   */
/* ------------------------------------------------------------------ */

enum { T_NONE, T_FETCHING, T_OWNED, T_DEAD };

struct srv {
	const char *name;
	struct io_uring ring;
	bool open;
	int tstate[DEPTH];
	bool claimed[DEPTH];	/* owned and kept by a check */
	__u64 seq;
};

static int cdev = -1;
static const struct ublksrv_io_desc *iods;
static size_t iods_len;
static int memfd = -1;		/* the device's data */
static int scratch = -1;	/* WRITE_FIXED target */
static __u64 dev_flags;
static unsigned int dev_id = -1U;
static unsigned int nr_served;	/* both tasks: atomic */

/* requests the checks are waiting for; never served automatically */
struct expect {
	bool used;
	unsigned int op, off, len;
};

static struct expect expected[8];

static int srv_open(struct srv *s, const char *name)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->name = name;
	s->seq = UD_SYNC_BASE;
	ret = io_uring_queue_init(64, &s->ring, 0);
	if (ret)
		return ret;
	s->open = true;
	return io_uring_register_buffers_sparse(&s->ring, NBUF);
}

static void srv_close(struct srv *s)
{
	if (s->open)
		io_uring_queue_exit(&s->ring);
	s->open = false;
}

static struct io_uring_sqe *get_sqe(struct srv *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	if (!sqe) {
		printf("FAIL: %s: io ring full\n", s->name);
		exit(1);
	}
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

static void prep_io_cmd(struct io_uring_sqe *sqe, unsigned int op, unsigned int q_id,
			unsigned int tag, int result, __u64 addr)
{
	struct ublksrv_io_cmd c = {
		.q_id = q_id, .tag = tag, .result = result, .addr = addr,
	};

	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = cdev;
	sqe->cmd_op = op;
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, addr3), &c, sizeof(c));
}

static void handle_fetch_cqe(struct srv *s, const struct io_uring_cqe *cqe)
{
	unsigned int tag = cqe->user_data - UD_FETCH(0);

	if (cqe->res == UBLK_IO_RES_OK) {
		s->tstate[tag] = T_OWNED;
	} else {
		if (cqe->res != UBLK_IO_RES_ABORT)
			printf("INFO: %s: tag %u: FETCH/COMMIT completed with %d\n",
			       s->name, tag, cqe->res);
		s->tstate[tag] = T_DEAD;
	}
}

/*
 * Wait up to @ms for the CQE with user_data @ud (0: just collect FETCH
 * completions for @ms).  Returns its res, or PENDING.  @flags gets the
 * CQE flags.
 */
static int reap_fl(struct srv *s, __u64 ud, unsigned int ms, __u32 *flags)
{
	unsigned long long end = now_ms() + ms;

	if (!s->open) {
		usleep(ms * 1000);
		return PENDING;
	}
	io_uring_submit(&s->ring);
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
		if (ret == -ETIME || (ret < 0 && left == 0))
			return PENDING;
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			printf("INFO: %s: io_uring_wait_cqe: %s\n", s->name,
			       strerror(-ret));
			return ret;
		}
		if (ud && cqe->user_data == ud) {
			ret = cqe->res;
			if (flags)
				*flags = cqe->flags;
			io_uring_cqe_seen(&s->ring, cqe);
			return ret;
		}
		if (UD_IS_FETCH(cqe->user_data)) {
			handle_fetch_cqe(s, cqe);
		} else {
			printf("INFO: %s: stray completion ud 0x%llx res %d\n",
			       s->name, (unsigned long long)cqe->user_data,
			       cqe->res);
		}
		io_uring_cqe_seen(&s->ring, cqe);
	}
}

static int reap(struct srv *s, __u64 ud, unsigned int ms)
{
	return reap_fl(s, ud, ms, NULL);
}

static int buf_cmd(struct srv *s, unsigned int op, unsigned int q_id, unsigned int tag,
		   unsigned int index)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	__u64 ud = ++s->seq;

	prep_io_cmd(sqe, op, q_id, tag, 0, index);
	sqe->user_data = ud;
	return reap(s, ud, 5000);
}

static int reg_buf(struct srv *s, unsigned int tag, unsigned int index)
{
	return buf_cmd(s, UBLK_U_IO_REGISTER_IO_BUF, 0, tag, index);
}

static int unreg_buf(struct srv *s, unsigned int tag, unsigned int index)
{
	return buf_cmd(s, UBLK_U_IO_UNREGISTER_IO_BUF, 0, tag, index);
}

static int rw_fixed(struct srv *s, bool is_read, int fd, unsigned int index,
		    unsigned int buf_off, unsigned int len, __u64 file_off)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	__u64 ud = ++s->seq;

	if (is_read)
		io_uring_prep_read_fixed(sqe, fd, (void *)(uintptr_t)buf_off,
					 len, file_off, index);
	else
		io_uring_prep_write_fixed(sqe, fd, (void *)(uintptr_t)buf_off,
					  len, file_off, index);
	sqe->user_data = ud;
	return reap(s, ud, 5000);
}

static void commit(struct srv *s, unsigned int tag, int res)
{
	struct io_uring_sqe *sqe = get_sqe(s);

	prep_io_cmd(sqe, UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0, tag, res, 0);
	sqe->user_data = UD_FETCH(tag);
	s->tstate[tag] = T_FETCHING;
	s->claimed[tag] = false;
	io_uring_submit(&s->ring);
}

/* a FETCH or COMMIT that is expected to fail at once (or PENDING) */
static int io_cmd_must_fail(struct srv *s, unsigned int op, unsigned int tag, int res)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	__u64 ud = ++s->seq;

	prep_io_cmd(sqe, op, 0, tag, res, 0);
	sqe->user_data = ud;
	return reap(s, ud, 1000);
}

static int fetch(struct srv *s, unsigned int tag)
{
	struct io_uring_sqe *sqe = get_sqe(s);

	prep_io_cmd(sqe, UBLK_U_IO_FETCH_REQ, 0, tag, 0, 0);
	sqe->user_data = UD_FETCH(tag);
	s->tstate[tag] = T_FETCHING;
	reap(s, 0, 200);
	return s->tstate[tag] == T_FETCHING ? 0 : -EINVAL;
}

static bool is_expected(const struct ublksrv_io_desc *iod)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(expected); i++)
		if (expected[i].used && expected[i].op == ublksrv_get_op(iod) &&
		    expected[i].off == iod->start_sector << 9 &&
		    expected[i].len == iod->nr_sectors << 9)
			return true;
	return false;
}

/* serve a request nobody waits for: REGISTER, fixed I/O, UNREGISTER */
static void serve_other(struct srv *s, unsigned int tag)
{
	const struct ublksrv_io_desc *iod = &iods[tag];
	unsigned int op = ublksrv_get_op(iod), len = iod->nr_sectors << 9;
	__u64 off = iod->start_sector << 9;
	int res = 0, ret;

	if (op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE) {
		ret = reg_buf(s, tag, IDX_SERVE);
		if (ret) {
			printf("INFO: %s: serving tag %u: REGISTER_IO_BUF: %d\n",
			       s->name, tag, ret);
			res = -EIO;
		} else {
			res = rw_fixed(s, op == UBLK_IO_OP_READ, memfd,
				       IDX_SERVE, 0, len, off);
			if (res != (int)len)
				res = res < 0 ? res : -EIO;
			ret = unreg_buf(s, tag, IDX_SERVE);
			if (ret)
				printf("INFO: %s: serving tag %u: UNREGISTER_IO_BUF: %d\n",
				       s->name, tag, ret);
		}
	} else if (op != UBLK_IO_OP_FLUSH) {
		res = -EOPNOTSUPP;
	}
	__atomic_add_fetch(&nr_served, 1, __ATOMIC_RELAXED);
	commit(s, tag, res);
}

static void serve_pending(struct srv *s)
{
	bool again = true;
	unsigned int t;

	if (!s->open)
		return;
	while (again) {
		again = false;
		for (t = 0; t < DEPTH; t++) {
			if (s->tstate[t] != T_OWNED || s->claimed[t] ||
			    is_expected(&iods[t]))
				continue;
			serve_other(s, t);
			again = true;
		}
	}
}

/* an owned request (op, off, len); op ~0U: any expected one */
static int find_request(struct srv *s, unsigned int op, unsigned int off,
			unsigned int len)
{
	unsigned int t;

	for (t = 0; t < DEPTH; t++) {
		const struct ublksrv_io_desc *iod = &iods[t];

		if (s->tstate[t] != T_OWNED || s->claimed[t])
			continue;
		if (op == ~0U ? is_expected(iod) :
		    ublksrv_get_op(iod) == op && iod->start_sector << 9 == off &&
		    iod->nr_sectors << 9 == len) {
			s->claimed[t] = true;
			return t;
		}
	}
	return -1;
}

/* wait until a request (op, off, len) is owned by @s; its tag or -1 */
static int wait_request(struct srv *s, unsigned int op, unsigned int off,
			unsigned int len, unsigned int ms)
{
	unsigned long long end = now_ms() + ms;
	int t;

	for (;;) {
		serve_pending(s);
		t = find_request(s, op, off, len);
		if (t >= 0 || now_ms() >= end)
			return t;
		reap(s, 0, 50);
	}
}

static void expect_io(int slot, unsigned int op, unsigned int off, unsigned int len)
{
	expected[slot].used = true;
	expected[slot].op = op;
	expected[slot].off = off;
	expected[slot].len = len;
}

/* ------------------------------------------------------------------ */
/* a second task: a thread with its own ring, serving its own tags and  */
/* running what the main thread asks it to                              */
/* ------------------------------------------------------------------ */

struct worker {
	struct srv s;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int (*fn)(struct srv *s, const unsigned int *a);
	unsigned int a[6];
	int res;
	bool req, done, stop;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		if (w->req) {
			w->req = false;
			pthread_mutex_unlock(&w->lock);
			w->res = w->fn(&w->s, w->a);
			pthread_mutex_lock(&w->lock);
			w->done = true;
			pthread_cond_broadcast(&w->cond);
			continue;
		}
		pthread_mutex_unlock(&w->lock);
		if (w->s.open) {
			serve_pending(&w->s);
			reap(&w->s, 0, 20);
		} else {
			usleep(20000);
		}
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int worker_start(struct worker *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	return -pthread_create(&w->th, NULL, worker_main, w);
}

/* run @fn in the worker; the main server @ms keeps serving meanwhile */
static int worker_call(struct worker *w, struct srv *ms,
		       int (*fn)(struct srv *s, const unsigned int *a),
		       unsigned int a0, unsigned int a1, unsigned int a2, unsigned int a3,
		       unsigned int a4, unsigned int a5)
{
	unsigned long long end = now_ms() + 30000;
	int res;

	pthread_mutex_lock(&w->lock);
	w->fn = fn;
	w->a[0] = a0;
	w->a[1] = a1;
	w->a[2] = a2;
	w->a[3] = a3;
	w->a[4] = a4;
	w->a[5] = a5;
	w->done = false;
	w->req = true;
	while (!w->done) {
		struct timespec ts;

		if (now_ms() > end) {
			pthread_mutex_unlock(&w->lock);
			return PENDING;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
		if (!w->done && ms && ms->open) {
			pthread_mutex_unlock(&w->lock);
			serve_pending(ms);
			reap(ms, 0, 0);
			pthread_mutex_lock(&w->lock);
		}
	}
	res = w->res;
	pthread_mutex_unlock(&w->lock);
	return res;
}

static void worker_stop(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->th, NULL);
	srv_close(&w->s);
}

/* worker functions: a[] as passed to worker_call() */
static int wf_open(struct srv *s, const unsigned int *a)
{
	(void)a;
	return srv_open(s, "worker");
}

static int wf_close(struct srv *s, const unsigned int *a)
{
	(void)a;
	srv_close(s);
	return 0;
}

static int wf_fetch(struct srv *s, const unsigned int *a)
{
	return fetch(s, a[0]);
}

static int wf_buf_cmd(struct srv *s, const unsigned int *a)
{
	return buf_cmd(s, a[0], 0, a[1], a[2]);
}

static int wf_rw_fixed(struct srv *s, const unsigned int *a)
{
	return rw_fixed(s, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static int wf_must_fail(struct srv *s, const unsigned int *a)
{
	return io_cmd_must_fail(s, a[0], a[1], a[2]);
}

static int wf_wait_any(struct srv *s, const unsigned int *a)
{
	return wait_request(s, ~0U, 0, 0, a[0]);
}

#define W_CALL(w, ms, fn, ...) worker_call(w, ms, fn, ##__VA_ARGS__)

/* ------------------------------------------------------------------ */
/* device setup and teardown                                            */
/* ------------------------------------------------------------------ */

static struct srv msrv;		/* the main thread's ring */

static int fill_memfd(unsigned int off, unsigned int len, unsigned int seed)
{
	unsigned char *p = malloc(len);
	int ret;

	if (!p)
		return -ENOMEM;
	fill_pattern(p, len, seed);
	ret = pwrite(memfd, p, len, off) == (ssize_t)len ? 0 : -EIO;
	free(p);
	return ret;
}

static bool setup_files(void)
{
	const char *tmpdir = getenv("TMPDIR");
	char tmpl[PATH_MAX];

	memfd = memfd_create("ublk_zc_more", MFD_CLOEXEC);
	snprintf(tmpl, sizeof(tmpl), "%s/ublk_zc_more.XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	scratch = mkostemp(tmpl, O_CLOEXEC);
	if (scratch >= 0)
		unlink(tmpl);
	if (memfd < 0 || scratch < 0 || ftruncate(memfd, DEV_BYTES) ||
	    ftruncate(scratch, MAX_IO)) {
		printf("FAIL: memfd/scratch file: %s\n", strerror(errno));
		return false;
	}
	return true;
}

static int open_ctrl(void)
{
	ctrl_fd = open("/dev/ublk-control", O_RDWR | O_CLOEXEC);
	if (ctrl_fd < 0) {
		printf("SKIP: /dev/ublk-control: %s\n", strerror(errno));
		return 4;
	}
	if (io_uring_queue_init(4, &ctrl, IORING_SETUP_SQE128)) {
		printf("FAIL: cannot create an SQE128 ring\n");
		return 1;
	}
	return 0;
}

static int add_dev(__u64 flags, unsigned int *id)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_params p;
	int ret;

	memset(&info, 0, sizeof(info));
	info.nr_hw_queues = 1;
	info.queue_depth = DEPTH;
	info.max_io_buf_bytes = MAX_IO;
	info.dev_id = (__u32)-1;
	info.ublksrv_pid = getpid();
	info.flags = UBLK_F_CMD_IOCTL_ENCODE | flags;
	ret = ctrl_cmd(UBLK_U_CMD_ADD_DEV, (__u32)-1, &info, sizeof(info), 0);
	if (ret < 0)
		return ret;
	*id = info.dev_id;
	if ((info.flags & flags) != flags) {
		printf("INFO: flags 0x%llx asked, 0x%llx granted\n",
		       (unsigned long long)flags,
		       (unsigned long long)info.flags);
		ctrl_cmd(UBLK_U_CMD_DEL_DEV, *id, NULL, 0, 0);
		return -EOPNOTSUPP;
	}
	memset(&p, 0, sizeof(p));
	p.len = sizeof(p);
	p.types = UBLK_PARAM_TYPE_BASIC;
	p.basic.logical_bs_shift = 9;
	p.basic.physical_bs_shift = 12;
	p.basic.io_min_shift = 9;
	p.basic.io_opt_shift = 12;
	p.basic.max_sectors = MAX_IO >> 9;
	p.basic.dev_sectors = DEV_BYTES >> 9;
	return ctrl_cmd(UBLK_U_CMD_SET_PARAMS, *id, &p, sizeof(p), 0);
}

static int open_cdev(unsigned int id)
{
	char path[64];
	int t, fd = -1;

	snprintf(path, sizeof(path), "/dev/ublkc%u", id);
	for (t = 0; t < 100; t++) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			break;
		usleep(50000);
	}
	return fd < 0 ? -errno : fd;
}

static void cdev_close(void)
{
	if (iods)
		munmap((void *)iods, iods_len);
	iods = NULL;
	if (cdev >= 0)
		close(cdev);
	cdev = -1;
}

/*
 * START_DEV (or END_USER_RECOVERY): the disk's partition scan reads the
 * device, serve that on the main ring while waiting; a worker serves its
 * own tags by itself.
 */
static int start_dev(unsigned int op)
{
	struct io_uring_cqe *cqe;
	unsigned long long end;
	int ret = PENDING;

	ctrl_prep(op, dev_id, NULL, 0, getpid());
	io_uring_submit(&ctrl);
	end = now_ms() + 60000;
	while (ret == PENDING && now_ms() < end) {
		serve_pending(&msrv);
		reap(&msrv, 0, 20);
		if (io_uring_peek_cqe(&ctrl, &cqe) == 0) {
			ret = cqe->res;
			io_uring_cqe_seen(&ctrl, cqe);
		}
	}
	return ret;
}

/* ADD_DEV with @flags, cdev, main ring fetching @main_tags (bit mask) */
static bool setup_dev(__u64 flags, unsigned int main_tags)
{
	int ret, t;

	dev_flags = flags;
	ret = add_dev(flags, &dev_id);
	if (ret == -EOPNOTSUPP) {
		printf("SKIP: the kernel does not grant 0x%llx\n",
		       (unsigned long long)flags);
		exit(4);
	}
	if (!check("ADD_DEV + SET_PARAMS", ret < 0 ? ret : 0, 0))
		return false;
	printf("INFO: device %u, flags 0x%llx\n", dev_id,
	       (unsigned long long)flags);
	cdev = open_cdev(dev_id);
	if (!check("open /dev/ublkcN", cdev < 0 ? cdev : 0, 0))
		return false;
	iods_len = (DEPTH * sizeof(struct ublksrv_io_desc) + 4095) & ~4095UL;
	iods = mmap(NULL, iods_len, PROT_READ, MAP_SHARED | MAP_POPULATE, cdev,
		    UBLKSRV_CMD_BUF_OFFSET);
	if (iods == MAP_FAILED) {
		iods = NULL;
		check("mmap of the descriptors", -errno, 0);
		return false;
	}
	if (!check("main ring with a sparse table", srv_open(&msrv, "main"), 0))
		return false;
	for (t = 0; t < DEPTH; t++)
		if ((main_tags & (1U << t)) && fetch(&msrv, t))
			break;
	return check("FETCH of the main thread's tags stays pending",
		     t < DEPTH ? -EINVAL : 0, 0);
}

static void teardown(void)
{
	serve_pending(&msrv);
	srv_close(&msrv);
	cdev_close();
	if (dev_id != -1U) {
		check("STOP_DEV", ctrl_cmd(UBLK_U_CMD_STOP_DEV, dev_id, NULL, 0,
					   0), 0);
		helper_stop();
		check("DEL_DEV", ctrl_cmd(UBLK_U_CMD_DEL_DEV, dev_id, NULL, 0,
					  0), 0);
	}
	helper_stop();
}

/* wait for a helper result, serving the main ring meanwhile */
static bool io_wait_serving(int id, unsigned int ms)
{
	unsigned long long end = now_ms() + ms;

	while (!io_wait(id, 20)) {
		if (now_ms() >= end)
			return false;
		serve_pending(&msrv);
		reap(&msrv, 0, 20);
	}
	return true;
}

/* the reader @id completed with the full length and the pattern */
static void check_reader(const char *what, int id, unsigned int ms)
{
	char got[64];

	if (!io_wait_serving(id, ms)) {
		check(what, PENDING, 0);
		return;
	}
	if (results[id].ret != (int)IO_LEN)
		snprintf(got, sizeof(got), "ret %d", results[id].ret);
	else if (results[id].mismatch >= 0)
		snprintf(got, sizeof(got), "first difference at byte %d",
			 results[id].mismatch);
	else
		snprintf(got, sizeof(got), "all %u bytes equal", IO_LEN);
	check_cond(what, results[id].ret == (int)IO_LEN &&
		   results[id].mismatch < 0, got, "all bytes equal");
}

/* the I/O @id has not completed (yet): @ms of serving, no result */
static void check_not_done(const char *what, int id, unsigned int ms)
{
	bool done = io_wait_serving(id, ms);

	check_cond(what, !done, done ? "completed" : "still pending",
		   "still pending");
}

/* ------------------------------------------------------------------ */
/* net: SEND / SEND_ZC / RECV with request buffers                      */
/* ------------------------------------------------------------------ */

#ifndef IORING_RECVSEND_FIXED_BUF
#define IORING_RECVSEND_FIXED_BUF	(1U << 2)
#endif

#define OFF_SHORT	(1024U << 10)
#define SEED_SHORT	0x5a5a

static int tcp_pair(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int l, c, s;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (void *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (void *)&a, &alen))
		return -errno;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (void *)&a, sizeof(a)))
		return -errno;
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	if (s < 0)
		return -errno;
	sv[0] = c;
	sv[1] = s;
	return 0;
}

static int read_all(int fd, unsigned char *p, unsigned int len)
{
	unsigned int done = 0;

	while (done < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 5000) <= 0)
			break;
		n = read(fd, p + done, len - done);
		if (n <= 0)
			return n < 0 ? -errno : (int)done;
		done += n;
	}
	return done;
}

static int write_all(int fd, const unsigned char *p, unsigned int len)
{
	unsigned int done = 0;

	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n <= 0)
			return n < 0 ? -errno : (int)done;
		done += n;
	}
	return done;
}

/* bytes waiting in @fd, read and dropped (MSG_DONTWAIT): count or -errno */
static int drain(int fd)
{
	unsigned char b[4096];
	ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

	return n < 0 ? -errno : (int)n;
}

static void prep_sr(struct srv *s, bool send, int fd, unsigned int index,
		    unsigned int buf_off, unsigned int len, int flags, __u64 ud)
{
	struct io_uring_sqe *sqe = get_sqe(s);

	if (send)
		io_uring_prep_send(sqe, fd, (void *)(uintptr_t)buf_off, len,
				   flags);
	else
		io_uring_prep_recv(sqe, fd, (void *)(uintptr_t)buf_off, len,
				   flags);
	sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
	sqe->buf_index = index;
	sqe->user_data = ud;
}

static int sr_fixed(struct srv *s, bool send, int fd, unsigned int index,
		    unsigned int buf_off, unsigned int len, int flags)
{
	__u64 ud = ++s->seq;

	prep_sr(s, send, fd, index, buf_off, len, flags, ud);
	return reap(s, ud, 5000);
}

/* SEND_ZC fixed: its result, once the notification is in as well */
static int send_zc_fixed(struct srv *s, int fd, unsigned int index,
			 unsigned int buf_off, unsigned int len)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	__u64 ud = ++s->seq;
	__u32 fl = 0;
	int ret, n;

	io_uring_prep_send_zc_fixed(sqe, fd, (void *)(uintptr_t)buf_off, len,
				    0, 0, index);
	sqe->user_data = ud;
	ret = reap_fl(s, ud, 5000, &fl);
	if (ret != PENDING && (fl & IORING_CQE_F_MORE)) {
		n = reap_fl(s, ud, 5000, &fl);
		if (n == PENDING || !(fl & IORING_CQE_F_NOTIF))
			printf("INFO: send_zc notification: res %d flags 0x%x\n",
			       n, fl);
	}
	return ret;
}

static void check_data(const char *what, const unsigned char *p, int n,
		       unsigned int len, unsigned int seed, unsigned int from)
{
	char got[64];
	unsigned int i;

	if (n != (int)len) {
		snprintf(got, sizeof(got), "%d bytes", n);
		check_cond(what, false, got, "all bytes equal");
		return;
	}
	for (i = 0; i < len && p[i] == pattern(seed, from + i); i++)
		;
	if (i == len)
		snprintf(got, sizeof(got), "all %u bytes equal", len);
	else
		snprintf(got, sizeof(got), "first difference at byte %u", i);
	check_cond(what, i == len, got, "all bytes equal");
}

static void run_net(void)
{
	unsigned char *in = malloc(IO_LEN), *pat = malloc(IO_LEN);
	int sp[2], tp[2] = { -1, -1 }, tr, tw, ts, ret;
	__u64 ud;
	bool reg_r, reg_w;

	if (!setup_dev(UBLK_F_SUPPORT_ZERO_COPY, 0xf) ||
	    !check("START_DEV", start_dev(UBLK_U_CMD_START_DEV), 0))
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) ||
	    !check("loopback TCP connection", tcp_pair(tp), 0))
		return;
	check("filling the memfd", fill_memfd(OFF_SHORT, IO_LEN, SEED_SHORT),
	      0);

	expect_io(0, UBLK_IO_OP_READ, OFF_READ, IO_LEN);
	expect_io(1, UBLK_IO_OP_WRITE, OFF_WRITE, IO_LEN);
	io_start(1, false, dev_id, OFF_READ, IO_LEN, SEED_READ);
	io_start(2, true, dev_id, OFF_WRITE, IO_LEN, SEED_WRITE);
	tr = wait_request(&msrv, UBLK_IO_OP_READ, OFF_READ, IO_LEN, 20000);
	tw = wait_request(&msrv, UBLK_IO_OP_WRITE, OFF_WRITE, IO_LEN, 20000);
	if (!check("a READ and a WRITE request arrive",
		   tr < 0 || tw < 0 ? PENDING : 0, 0))
		return;
	reg_r = check("REGISTER_IO_BUF of the READ request",
		      reg_buf(&msrv, tr, IDX_READ), 0);
	reg_w = check("REGISTER_IO_BUF of the WRITE request",
		      reg_buf(&msrv, tw, IDX_WRITE), 0);
	if (!reg_r || !reg_w)
		return;

	/* ---- sending a WRITE request's data ---- */
	ret = sr_fixed(&msrv, true, sp[0], IDX_WRITE, 0, IO_LEN, 0);
	if (ret == -EINVAL) {
		printf("SKIP: no IORING_RECVSEND_FIXED_BUF for SEND\n");
		exit(4);
	}
	check("SEND fixed of the WRITE request over a socketpair", ret,
	      IO_LEN);
	check_data("the peer gets the writer's data", in,
		   read_all(sp[1], in, IO_LEN), IO_LEN, SEED_WRITE, 0);
	check("SEND fixed of the WRITE request, offset 4096 len 4096, TCP",
	      sr_fixed(&msrv, true, tp[0], IDX_WRITE, 4096, 4096, 0), 4096);
	check_data("the TCP peer gets bytes 4096..8191", in,
		   read_all(tp[1], in, 4096), 4096, SEED_WRITE, 4096);
	check("SEND_ZC fixed of the WRITE request over TCP",
	      send_zc_fixed(&msrv, tp[0], IDX_WRITE, 0, IO_LEN), IO_LEN);
	check_data("the TCP peer gets the writer's data", in,
		   read_all(tp[1], in, IO_LEN), IO_LEN, SEED_WRITE, 0);

	/* ---- the wrong direction: nothing moves ---- */
	memset(in, 0xee, 512);
	write_all(sp[1], in, 512);
	check("RECV fixed into the WRITE request's buffer",
	      sr_fixed(&msrv, false, sp[0], IDX_WRITE, 0, IO_LEN, 0), -EFAULT);
	check("RECV fixed into the READ request, len beyond the request",
	      sr_fixed(&msrv, false, sp[0], IDX_READ, 0, IO_LEN + 4096, 0),
	      -EFAULT);
	check("RECV fixed into the READ request, offset == request length",
	      sr_fixed(&msrv, false, sp[0], IDX_READ, IO_LEN, 512, 0),
	      -EFAULT);
	check("RECV fixed into the READ request, offset 4096 len 8192",
	      sr_fixed(&msrv, false, sp[0], IDX_READ, 4096, IO_LEN, 0),
	      -EFAULT);
	check("the 512 bytes waiting are still there", drain(sp[0]), 512);
	check("SEND fixed from the READ request's buffer",
	      sr_fixed(&msrv, true, sp[0], IDX_READ, 0, IO_LEN, 0), -EFAULT);
	check("SEND_ZC fixed from the READ request's buffer",
	      send_zc_fixed(&msrv, tp[0], IDX_READ, 0, IO_LEN), -EFAULT);
	check("SEND fixed of the WRITE request, offset 4096 len 8192",
	      sr_fixed(&msrv, true, sp[0], IDX_WRITE, 4096, IO_LEN, 0),
	      -EFAULT);
	check("SEND_ZC fixed of the WRITE request, len beyond the request",
	      send_zc_fixed(&msrv, tp[0], IDX_WRITE, 0, IO_LEN + 512),
	      -EFAULT);
	check("SEND fixed on an empty index",
	      sr_fixed(&msrv, true, sp[0], IDX_EMPTY, 0, 512, 0), -EFAULT);
	check("nothing reached the socketpair peer", drain(sp[1]), -EAGAIN);
	check("nothing reached the TCP peer", drain(tp[1]), -EAGAIN);

	/* ---- receiving a READ request's data, in two pieces ---- */
	fill_pattern(pat, IO_LEN, SEED_READ);
	ud = ++msrv.seq;
	prep_sr(&msrv, false, tp[0], IDX_READ, 0, IO_LEN, MSG_WAITALL, ud);
	io_uring_submit(&msrv.ring);
	write_all(tp[1], pat, 3000);
	usleep(100000);
	write_all(tp[1], pat + 3000, IO_LEN - 3000);
	check("RECV fixed MSG_WAITALL into the READ request (3000 + rest)",
	      reap(&msrv, ud, 5000), IO_LEN);
	check("UNREGISTER_IO_BUF of the READ request",
	      unreg_buf(&msrv, tr, IDX_READ), 0);
	commit(&msrv, tr, IO_LEN);
	check_reader("the reader gets the data received into its request", 1,
		     10000);

	check("UNREGISTER_IO_BUF of the WRITE request",
	      unreg_buf(&msrv, tw, IDX_WRITE), 0);
	commit(&msrv, tw, IO_LEN);
	if (io_wait_serving(2, 10000))
		check("the writer's pwrite completes", results[2].ret, IO_LEN);
	else
		check("the writer's pwrite completes", PENDING, IO_LEN);

	/* ---- a short receive ---- */
	expect_io(2, UBLK_IO_OP_READ, OFF_SHORT, IO_LEN);
	io_start(3, false, dev_id, OFF_SHORT, IO_LEN, SEED_SHORT);
	ts = wait_request(&msrv, UBLK_IO_OP_READ, OFF_SHORT, IO_LEN, 20000);
	if (!check("a third READ request arrives", ts < 0 ? PENDING : 0, 0))
		return;
	if (!check("REGISTER_IO_BUF of it", reg_buf(&msrv, ts, IDX_READ), 0))
		return;
	fill_pattern(pat, IO_LEN, SEED_SHORT);
	write_all(sp[1], pat, 4096);
	shutdown(sp[1], SHUT_WR);
	check("RECV fixed MSG_WAITALL, peer sent 4096 and shut down",
	      sr_fixed(&msrv, false, sp[0], IDX_READ, 0, IO_LEN, MSG_WAITALL),
	      4096);
	check("RECV fixed at offset 4096 after the shutdown (EOF)",
	      sr_fixed(&msrv, false, sp[0], IDX_READ, 4096, 4096, 0), 0);
	check("UNREGISTER_IO_BUF", unreg_buf(&msrv, ts, IDX_READ), 0);
	/* the rest comes back as a new request, served from the memfd */
	expected[2].used = false;
	commit(&msrv, ts, 4096);
	check_reader("the reader gets the 4096 bytes received and the rest from a second dispatch",
		     3, 10000);
	printf("INFO: %u other request(s) served\n", nr_served);
	close(sp[0]);
	close(sp[1]);
	close(tp[0]);
	close(tp[1]);
	free(in);
	free(pat);
}

/* ------------------------------------------------------------------ */
/* rings: one request on several rings and tasks                        */
/* ------------------------------------------------------------------ */

/*
 * A ring of another process (BUF_REG_OFF_DAEMON): a child registers a
 * WRITE request, writes its data to the scratch file and exits without
 * unregistering; the request ends only then.  Forked with no other thread
 * running; the child drops the inherited main ring first, so that its exit
 * tears down its own ring only.
 */
static void rings_process_check(void)
{
	unsigned char *data = malloc(IO_LEN);
	int res[2] = { PENDING, PENDING }, to_child[2], to_parent[2];
	int t3, ret;
	pid_t pid;
	char c = 0;

	expect_io(2, UBLK_IO_OP_WRITE, OFF_TEAR, IO_LEN);
	io_start(3, true, dev_id, OFF_TEAR, IO_LEN, SEED_WRITE + 1);
	t3 = wait_request(&msrv, UBLK_IO_OP_WRITE, OFF_TEAR, IO_LEN, 20000);
	if (!check("a third request (WRITE) arrives", t3 < 0 ? PENDING : 0, 0) ||
	    pipe(to_child) || pipe(to_parent))
		return;
	pid = fork();
	if (pid == 0) {
		struct srv cs;

		io_uring_queue_exit(&msrv.ring);
		io_uring_queue_exit(&ctrl);
		if (srv_open(&cs, "child") == 0) {
			res[0] = reg_buf(&cs, t3, IDX_WRITE);
			res[1] = rw_fixed(&cs, false, scratch, IDX_WRITE, 0,
					  IO_LEN, 0);
		}
		if (write(to_parent[1], res, sizeof(res)) != sizeof(res) ||
		    read(to_child[0], &c, 1) != 1)
			_exit(1);
		_exit(0);	/* no UNREGISTER: the exit drops it */
	}
	if (read(to_parent[0], res, sizeof(res)) != sizeof(res)) {
		res[0] = -EIO;
		res[1] = -EIO;
	}
	check("REGISTER_IO_BUF of it on a ring of another process", res[0], 0);
	check("WRITE_FIXED of its data there", res[1], IO_LEN);
	ret = pread(scratch, data, IO_LEN, 0);
	check_data("the file holds that writer's data", data, ret, IO_LEN,
		   SEED_WRITE + 1, 0);
	commit(&msrv, t3, IO_LEN);
	check_not_done("the writer after COMMIT, registered in the other process",
		       3, 300);
	if (write(to_child[1], &c, 1) != 1)
		kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (io_wait_serving(3, 10000))
		check("the writer completes once that process exited",
		      results[3].ret, IO_LEN);
	else
		check("the writer completes once that process exited", PENDING,
		      IO_LEN);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
	free(data);
}

static void run_rings(void)
{
	struct worker w;
	struct srv r2;
	unsigned char *data = malloc(IO_LEN);
	int tr, tw, ret;

	if (!setup_dev(UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_BUF_REG_OFF_DAEMON,
		       0xf) ||
	    !check("START_DEV", start_dev(UBLK_U_CMD_START_DEV), 0))
		return;
	if (!check("second ring of the main thread", srv_open(&r2, "ring2"),
		   0) || !check("worker thread", worker_start(&w), 0) ||
	    !check("worker ring", W_CALL(&w, &msrv, wf_open, 0, 0, 0, 0, 0, 0),
		   0))
		return;
	check("filling the memfd", fill_memfd(OFF_READ, IO_LEN, SEED_READ), 0);

	expect_io(0, UBLK_IO_OP_READ, OFF_READ, IO_LEN);
	expect_io(1, UBLK_IO_OP_WRITE, OFF_WRITE, IO_LEN);
	io_start(1, false, dev_id, OFF_READ, IO_LEN, SEED_READ);
	io_start(2, true, dev_id, OFF_WRITE, IO_LEN, SEED_WRITE);
	tr = wait_request(&msrv, UBLK_IO_OP_READ, OFF_READ, IO_LEN, 20000);
	tw = wait_request(&msrv, UBLK_IO_OP_WRITE, OFF_WRITE, IO_LEN, 20000);
	if (!check("a READ and a WRITE request arrive",
		   tr < 0 || tw < 0 ? PENDING : 0, 0))
		goto out;

	/* ---- READ: main ring, second ring (twice), worker ring ---- */
	check("REGISTER_IO_BUF of the READ request on the main ring",
	      reg_buf(&msrv, tr, IDX_READ), 0);
	check("REGISTER_IO_BUF of it on the second ring",
	      reg_buf(&r2, tr, IDX_READ), 0);
	check("REGISTER_IO_BUF of it on the second ring, another index",
	      reg_buf(&r2, tr, IDX_EMPTY), 0);
	check("REGISTER_IO_BUF of it on the worker thread's ring",
	      W_CALL(&w, &msrv, wf_buf_cmd, UBLK_U_IO_REGISTER_IO_BUF, tr,
		     IDX_READ, 0, 0, 0), 0);
	check("READ_FIXED of the first half through the second ring",
	      rw_fixed(&r2, true, memfd, IDX_READ, 0, IO_LEN / 2, OFF_READ),
	      IO_LEN / 2);
	check("READ_FIXED of the second half through the worker's ring",
	      W_CALL(&w, &msrv, wf_rw_fixed, 1, memfd, IDX_READ, IO_LEN / 2,
		     IO_LEN / 2, OFF_READ + IO_LEN / 2), IO_LEN / 2);
	check("UNREGISTER_IO_BUF on the main ring",
	      unreg_buf(&msrv, tr, IDX_READ), 0);
	commit(&msrv, tr, IO_LEN);
	check_not_done("after COMMIT, with registrations on two more rings",
		       1, 500);
	check("UNREGISTER_IO_BUF on the second ring",
	      unreg_buf(&r2, tr, IDX_READ), 0);
	check_not_done("after that, one more index and the worker's ring",
		       1, 300);
	check("IORING_UNREGISTER_BUFFERS of the second ring (drops index 2)",
	      io_uring_unregister_buffers(&r2.ring), 0);
	check_not_done("after that, registered on the worker's ring", 1, 300);
	check("UNREGISTER_IO_BUF on the worker's ring",
	      W_CALL(&w, &msrv, wf_buf_cmd, UBLK_U_IO_UNREGISTER_IO_BUF, tr,
		     IDX_READ, 0, 0, 0), 0);
	check_reader("the reader completes with the data of both halves", 1,
		     10000);

	/* ---- WRITE: released by ring teardown ---- */
	check("sparse table on the second ring again",
	      io_uring_register_buffers_sparse(&r2.ring, NBUF), 0);
	check("REGISTER_IO_BUF of the WRITE request on the main ring",
	      reg_buf(&msrv, tw, IDX_WRITE), 0);
	check("REGISTER_IO_BUF of it on the second ring",
	      reg_buf(&r2, tw, IDX_WRITE), 0);
	check("REGISTER_IO_BUF of it on the worker's ring",
	      W_CALL(&w, &msrv, wf_buf_cmd, UBLK_U_IO_REGISTER_IO_BUF, tw,
		     IDX_WRITE, 0, 0, 0), 0);
	check("WRITE_FIXED of its data through the worker's ring",
	      W_CALL(&w, &msrv, wf_rw_fixed, 0, scratch, IDX_WRITE, 0, IO_LEN,
		     0), IO_LEN);
	ret = pread(scratch, data, IO_LEN, 0);
	check_data("the file holds the writer's data", data, ret, IO_LEN,
		   SEED_WRITE, 0);
	commit(&msrv, tw, IO_LEN);
	check("UNREGISTER_IO_BUF on the main ring",
	      unreg_buf(&msrv, tw, IDX_WRITE), 0);
	check_not_done("the writer after COMMIT, registered on two more rings",
		       2, 300);
	W_CALL(&w, &msrv, wf_close, 0, 0, 0, 0, 0, 0);
	check_not_done("after the worker's ring was closed, on the second",
		       2, 300);
	srv_close(&r2);
	if (io_wait_serving(2, 10000))
		check("the writer completes once the second ring is closed",
		      results[2].ret, IO_LEN);
	else
		check("the writer completes once the second ring is closed",
		      PENDING, IO_LEN);
	worker_stop(&w);
	rings_process_check();
	free(data);
	return;
out:
	worker_stop(&w);
	srv_close(&r2);
	free(data);
}

/* ------------------------------------------------------------------ */
/* kill / recover: a server dies with a buffer on three rings           */
/* ------------------------------------------------------------------ */

struct kill_msg {
	int ready;
	unsigned int dev_id;
	int pass, fail;
};

static void kill_child(int fd, __u64 flags)
{
	struct kill_msg m = { .dev_id = -1U };
	struct worker w;
	struct srv r2;
	int tr, ret;

	ret = open_ctrl();
	if (ret)
		goto out;
	if (!setup_dev(flags, 0xf))
		goto out;
	m.dev_id = dev_id;
	if (!check("START_DEV", start_dev(UBLK_U_CMD_START_DEV), 0) ||
	    !check("second ring", srv_open(&r2, "ring2"), 0) ||
	    !check("worker thread", worker_start(&w), 0) ||
	    !check("worker ring", W_CALL(&w, &msrv, wf_open, 0, 0, 0, 0, 0, 0),
		   0))
		goto out;
	expect_io(0, UBLK_IO_OP_READ, OFF_READ, IO_LEN);
	io_start(1, false, dev_id, OFF_READ, IO_LEN, SEED_READ);
	tr = wait_request(&msrv, UBLK_IO_OP_READ, OFF_READ, IO_LEN, 20000);
	if (!check("the READ request arrives", tr < 0 ? PENDING : 0, 0))
		goto out;
	check("REGISTER_IO_BUF on the main ring",
	      reg_buf(&msrv, tr, IDX_READ), 0);
	check("REGISTER_IO_BUF on the second ring",
	      reg_buf(&r2, tr, IDX_READ), 0);
	check("REGISTER_IO_BUF on the worker's ring",
	      W_CALL(&w, &msrv, wf_buf_cmd, UBLK_U_IO_REGISTER_IO_BUF, tr,
		     IDX_READ, 0, 0, 0), 0);
	/* half of the data in, a fixed read in flight on a pipe */
	check("READ_FIXED of half of the request through the second ring",
	      rw_fixed(&r2, true, memfd, IDX_READ, 0, IO_LEN / 2, OFF_READ),
	      IO_LEN / 2);
	{
		int p[2];

		if (!pipe(p)) {
			struct io_uring_sqe *sqe = get_sqe(&r2);

			io_uring_prep_read_fixed(sqe, p[0],
						 (void *)(uintptr_t)(IO_LEN / 2),
						 IO_LEN / 2, 0, IDX_READ);
			sqe->user_data = 0x777;
			io_uring_submit(&r2.ring);
		}
	}
	m.ready = 1;
out:
	m.pass = nr_pass;
	m.fail = nr_fail;
	if (write(fd, &m, sizeof(m)) != sizeof(m))
		_exit(1);
	for (;;)
		pause();
}

static void run_kill(bool recover, bool del_only)
{
	__u64 flags = UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_BUF_REG_OFF_DAEMON;
	struct kill_msg m = { 0 };
	struct pollfd pfd;
	int p[2], ret, t;
	pid_t pid;

	if (recover)
		flags |= UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE;
	if (fill_memfd(OFF_READ, IO_LEN, SEED_READ) || pipe(p))
		return;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		kill_child(p[1], flags);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 90000) <= 0 || read(p[0], &m, sizeof(m)) != sizeof(m))
		m.fail++;
	nr_pass += m.pass;
	nr_fail += m.fail;
	dev_id = m.dev_id;
	check("kill -9 of the server process", kill(pid, SIGKILL) ? -errno : 0,
	      0);
	waitpid(pid, NULL, 0);
	ret = open_ctrl();
	if (ret) {
		nr_fail++;
		return;
	}
	if (!m.ready) {
		printf("INFO: the server did not get ready\n");
		return;
	}
	if (!recover) {
		char got[32];

		if (!io_wait(1, 30000)) {
			check("the reader's I/O ends after the kill", PENDING,
			      -EIO);
			return;
		}
		snprintf(got, sizeof(got), "%d", results[1].ret);
		check_cond("the reader's I/O fails after the kill",
			   results[1].ret < 0, got, "an error");
		return;
	}

	/* recovery: the READ is reissued to the new server */
	check_not_done("the reader waits for the recovery", 1, 500);
	if (del_only) {
		char got[32];

		/* nobody recovers: stopping the device fails the I/O */
		check("STOP_DEV without recovery",
		      ctrl_cmd(UBLK_U_CMD_STOP_DEV, dev_id, NULL, 0, 0), 0);
		if (io_wait(1, 30000)) {
			snprintf(got, sizeof(got), "%d", results[1].ret);
			check_cond("the reader's I/O fails", results[1].ret < 0,
				   got, "an error");
		} else {
			check("the reader's I/O ends after STOP_DEV", PENDING,
			      -EIO);
		}
		check("DEL_DEV", ctrl_cmd(UBLK_U_CMD_DEL_DEV, dev_id, NULL, 0,
					  0), 0);
		dev_id = -1U;
		return;
	}
	for (t = 0; t < 200; t++) {
		ret = ctrl_cmd(UBLK_U_CMD_START_USER_RECOVERY, dev_id, NULL, 0,
			       0);
		if (ret != -EBUSY)
			break;
		usleep(50000);
	}
	if (!check("START_USER_RECOVERY", ret, 0))
		return;
	cdev = open_cdev(dev_id);
	if (!check("open /dev/ublkcN", cdev < 0 ? cdev : 0, 0))
		return;
	iods_len = (DEPTH * sizeof(struct ublksrv_io_desc) + 4095) & ~4095UL;
	iods = mmap(NULL, iods_len, PROT_READ, MAP_SHARED | MAP_POPULATE, cdev,
		    UBLKSRV_CMD_BUF_OFFSET);
	if (iods == MAP_FAILED) {
		iods = NULL;
		check("mmap of the descriptors", -errno, 0);
		return;
	}
	if (!check("new server ring", srv_open(&msrv, "main"), 0))
		return;
	for (t = 0; t < DEPTH; t++)
		fetch(&msrv, t);
	check("END_USER_RECOVERY", start_dev(UBLK_U_CMD_END_USER_RECOVERY), 0);
	check_reader("the reader gets its data from the new server", 1, 20000);
}

/* ------------------------------------------------------------------ */
/* perio: tags owned by two tasks                                       */
/* ------------------------------------------------------------------ */

#define OFF_P(i)	((1536U << 10) + (i) * IO_LEN)
#define SEED_P(i)	(0x700 + (i))
#define NR_VERIFY	8

static int wf_release(struct srv *s, const unsigned int *a)
{
	s->claimed[a[0]] = false;
	serve_pending(s);
	return 0;
}

/* FETCH from a second task without PER_IO_DAEMON, on a device not started */
static void perio_refusal(struct worker *w)
{
	struct srv tmp;
	unsigned int id;
	int ret;

	if (!check("worker ring", W_CALL(w, NULL, wf_open, 0, 0, 0, 0, 0, 0),
		   0))
		return;
	ret = add_dev(UBLK_F_SUPPORT_ZERO_COPY, &id);
	if (!check("ADD_DEV without PER_IO_DAEMON", ret < 0 ? ret : 0, 0))
		return;
	cdev = open_cdev(id);
	if (check("open its /dev/ublkcN", cdev < 0 ? cdev : 0, 0) &&
	    check("its ring", srv_open(&tmp, "tmp"), 0)) {
		check("FETCH of tag 0 from the main thread", fetch(&tmp, 0), 0);
		check("FETCH of tag 1 from another thread (no PER_IO_DAEMON)",
		      W_CALL(w, NULL, wf_must_fail, UBLK_U_IO_FETCH_REQ, 1, 0,
			     0, 0, 0), -EINVAL);
		check("FETCH of tag 1 from the main thread", fetch(&tmp, 1), 0);
		W_CALL(w, NULL, wf_close, 0, 0, 0, 0, 0, 0);
		srv_close(&tmp);
	}
	if (cdev >= 0)
		close(cdev);
	cdev = -1;
	check("DEL_DEV of the device never started",
	      ctrl_cmd(UBLK_U_CMD_DEL_DEV, id, NULL, 0, 0), 0);
}

static void run_perio(bool off_daemon)
{
	__u64 flags = UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_PER_IO_DAEMON;
	int mt[DEPTH - 1], wt, i, n, ret, exp_reg = off_daemon ? 0 : -EINVAL;
	struct worker w;
	char what[160];

	if (off_daemon)
		flags |= UBLK_F_BUF_REG_OFF_DAEMON;
	if (!check("worker thread", worker_start(&w), 0))
		return;
	perio_refusal(&w);

	if (!setup_dev(flags, (1U << (DEPTH - 1)) - 1) ||
	    !check("worker ring", W_CALL(&w, &msrv, wf_open, 0, 0, 0, 0, 0, 0),
		   0))
		goto out;
	check("FETCH of the last tag from the worker thread (PER_IO_DAEMON)",
	      W_CALL(&w, &msrv, wf_fetch, DEPTH - 1, 0, 0, 0, 0, 0), 0);
	check("FETCH of tag 0 (the main thread's) from the worker",
	      W_CALL(&w, &msrv, wf_must_fail, UBLK_U_IO_FETCH_REQ, 0, 0, 0, 0,
		     0), -EBUSY);
	if (!check("START_DEV", start_dev(UBLK_U_CMD_START_DEV), 0))
		goto out;

	/* four readers: three on the main thread's tags, one on the worker's */
	for (i = 0; i < DEPTH; i++) {
		fill_memfd(OFF_P(i), IO_LEN, SEED_P(i));
		expect_io(i, UBLK_IO_OP_READ, OFF_P(i), IO_LEN);
	}
	for (i = 0; i < DEPTH; i++)
		io_start(1 + i, false, dev_id, OFF_P(i), IO_LEN, SEED_P(i));
	for (i = 0; i < DEPTH - 1; i++) {
		mt[i] = wait_request(&msrv, ~0U, 0, 0, 20000);
		if (mt[i] < 0)
			break;
	}
	wt = W_CALL(&w, &msrv, wf_wait_any, 20000, 0, 0, 0, 0, 0);
	if (!check("three requests on the main thread, one on the worker",
		   i < DEPTH - 1 || wt < 0 ? PENDING : 0, 0))
		goto out;
	printf("INFO: main tags %d %d %d, worker tag %d\n", mt[0], mt[1], mt[2],
	       wt);

	check("COMMIT of the worker's tag from the main thread",
	      io_cmd_must_fail(&msrv, UBLK_U_IO_COMMIT_AND_FETCH_REQ, wt,
			       IO_LEN), -EINVAL);
	check("COMMIT of a main-thread tag from the worker",
	      W_CALL(&w, &msrv, wf_must_fail, UBLK_U_IO_COMMIT_AND_FETCH_REQ,
		     mt[0], IO_LEN, 0, 0, 0), -EINVAL);
	snprintf(what, sizeof(what), "REGISTER_IO_BUF of the worker's tag from the main thread%s",
		 off_daemon ? " (BUF_REG_OFF_DAEMON)" : "");
	ret = reg_buf(&msrv, wt, 0);
	check(what, ret, exp_reg);
	if (ret == 0) {
		unsigned int off = iods[wt].start_sector << 9;

		check("READ_FIXED into it through the main ring",
		      rw_fixed(&msrv, true, memfd, 0, 0, IO_LEN, off), IO_LEN);
		check("UNREGISTER_IO_BUF of it from the main thread",
		      unreg_buf(&msrv, wt, 0), 0);
	}
	snprintf(what, sizeof(what), "REGISTER_IO_BUF of a main-thread tag from the worker%s",
		 off_daemon ? " (BUF_REG_OFF_DAEMON)" : "");
	ret = W_CALL(&w, &msrv, wf_buf_cmd, UBLK_U_IO_REGISTER_IO_BUF, mt[0], 1,
		     0, 0, 0);
	check(what, ret, exp_reg);
	if (ret == 0)
		check("UNREGISTER_IO_BUF of it from the worker",
		      W_CALL(&w, &msrv, wf_buf_cmd,
			     UBLK_U_IO_UNREGISTER_IO_BUF, mt[0], 1, 0, 0, 0),
		      0);
	check("REGISTER_IO_BUF of a main-thread tag from the main thread",
	      reg_buf(&msrv, mt[0], 2), 0);
	snprintf(what, sizeof(what), "UNREGISTER_IO_BUF naming the worker's tag, main thread%s",
		 off_daemon ? " (tag ignored)" : "");
	ret = unreg_buf(&msrv, wt, 2);
	check(what, ret, exp_reg);
	if (ret)
		check("UNREGISTER_IO_BUF naming its own tag",
		      unreg_buf(&msrv, mt[0], 2), 0);

	/* now each task serves its own requests */
	memset(expected, 0, sizeof(expected));
	for (i = 0; i < DEPTH - 1; i++)
		msrv.claimed[mt[i]] = false;
	W_CALL(&w, &msrv, wf_release, wt, 0, 0, 0, 0, 0);
	for (i = 0; i < DEPTH; i++) {
		snprintf(what, sizeof(what), "reader %d gets its data", i);
		check_reader(what, 1 + i, 10000);
	}

	/* write, then read back and verify, both tasks serving */
	for (i = 0; i < NR_VERIFY; i++)
		io_start(8 + i, true, dev_id, OFF_P(8 + i), IO_LEN, SEED_P(i));
	for (i = 0, n = 0; i < NR_VERIFY; i++)
		if (io_wait_serving(8 + i, 10000) &&
		    results[8 + i].ret == (int)IO_LEN)
			n++;
	check("8 concurrent writes complete", n, NR_VERIFY);
	for (i = 0; i < NR_VERIFY; i++)
		io_start(16 + i, false, dev_id, OFF_P(8 + i), IO_LEN, SEED_P(i));
	for (i = 0, n = 0; i < NR_VERIFY; i++)
		if (io_wait_serving(16 + i, 10000) &&
		    results[16 + i].ret == (int)IO_LEN &&
		    results[16 + i].mismatch < 0)
			n++;
	check("8 concurrent reads return what was written", n, NR_VERIFY);
out:
	worker_stop(&w);
}

static void bad_args(void)
{
	printf("usage: ublk_zc_more net|rings|kill|recover|recover_del|perio|perio_off\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	__u64 f = 0;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(mode, "net") && strcmp(mode, "rings") &&
	    strcmp(mode, "kill") && strcmp(mode, "recover") &&
	    strcmp(mode, "recover_del") &&
	    strcmp(mode, "perio") && strcmp(mode, "perio_off"))
		bad_args();

	/* before anything that a child must not inherit */
	if (helper_start()) {
		printf("FAIL: cannot start the I/O helper\n");
		return 1;
	}
	signal(SIGALRM, alarm_handler);
	alarm(200);
	if (access("/dev/ublk-control", R_OK | W_OK)) {
		printf("SKIP: /dev/ublk-control: %s\n", strerror(errno));
		helper_stop();
		return 4;
	}
	if (!setup_files()) {
		helper_stop();
		return 1;
	}

	if (!strcmp(mode, "kill") || !strncmp(mode, "recover", 7)) {
		run_kill(strcmp(mode, "kill"), !strcmp(mode, "recover_del"));
		goto out_del;
	}

	ret = open_ctrl();
	if (ret) {
		helper_stop();
		return ret;
	}
	ret = ctrl_cmd(UBLK_U_CMD_GET_FEATURES, (__u32)-1, &f, sizeof(f), 0);
	if (ret < 0 || !(f & UBLK_F_SUPPORT_ZERO_COPY)) {
		printf("SKIP: no SUPPORT_ZERO_COPY in GET_FEATURES (%d, 0x%llx)\n",
		       ret, (unsigned long long)f);
		helper_stop();
		return 4;
	}
	if (!strcmp(mode, "net"))
		run_net();
	else if (!strcmp(mode, "rings"))
		run_rings();
	else
		run_perio(!strcmp(mode, "perio_off"));
out_del:
	/* whatever happened above: tear down, and nothing may hang */
	teardown();
	printf("%d passed, %d failed\n", nr_pass, nr_fail);
	return nr_fail ? 1 : 0;
}
