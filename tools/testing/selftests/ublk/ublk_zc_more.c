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
 *         process ends when that process is killed.
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
 * nvme    NVMe passthrough (NVME_URING_CMD_IO with IORING_URING_CMD_FIXED)
 *         on /dev/ng0n1 with request buffers registered on an SQE128 +
 *         CQE32 ring of the server: a READ request is filled from the
 *         namespace, a WRITE request's data lands there; the wrong
 *         direction (also once the READ buffer was filled) and ranges
 *         outside the request fail with -EFAULT.  Skips without NVMe.
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
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <linux/nvme_ioctl.h>
#include "ublk_check.h"
#include "ublk_sock.h"

static __u64 dev_flags;
static unsigned int dev_id = -1U;

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

/* ADD_DEV with @flags, all of them granted, and SET_PARAMS */
static int add_dev_params(__u64 flags, unsigned int *id)
{
	struct ublksrv_ctrl_dev_info info;
	int ret;

	ret = add_dev(flags, &info);
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
	return set_basic_params(*id);
}

/* ADD_DEV with @flags, cdev, main ring fetching @main_tags (bit mask) */
static bool setup_dev(__u64 flags, unsigned int main_tags)
{
	int ret, t;

	dev_flags = flags;
	ret = add_dev_params(flags, &dev_id);
	if (ret == -EOPNOTSUPP) {
		printf("SKIP: the kernel does not grant 0x%llx\n",
		       (unsigned long long)flags);
		exit(4);
	}
	if (!check("ADD_DEV + SET_PARAMS", ret < 0 ? ret : 0, 0))
		return false;
	printf("INFO: device %u, flags 0x%llx\n", dev_id,
	       (unsigned long long)flags);
	if (!cdev_setup(dev_id))
		return false;
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

/* the write @id completes with all of IO_LEN within @ms of serving */
static void check_writer(const char *what, int id, unsigned int ms)
{
	check(what, io_wait_serving(id, ms) ? results[id].ret : PENDING,
	      IO_LEN);
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
	    !check("START_DEV", start_dev(&msrv, UBLK_U_CMD_START_DEV, dev_id), 0))
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) ||
	    !check("loopback TCP connection", tcp_pair(tp), 0))
		return;
	check("filling the memfd", fill_memfd(OFF_SHORT, IO_LEN, SEED_SHORT),
	      0);

	tr = request_arrives(&msrv, "the READ request arrives", 1, false,
			     dev_id, OFF_READ, SEED_READ);
	tw = request_arrives(&msrv, "the WRITE request arrives", 2, true,
			     dev_id, OFF_WRITE, SEED_WRITE);
	if (tr < 0 || tw < 0)
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
	check_writer("the writer's pwrite completes", 2, 10000);

	/* ---- a short receive ---- */
	ts = request_arrives(&msrv, "a third READ request arrives", 3, false,
			     dev_id, OFF_SHORT, SEED_SHORT);
	if (ts < 0)
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
 * WRITE request, writes its data to the scratch file and is killed
 * without unregistering; the request ends only then.  Forked with no other thread
 * running; the child drops the inherited main ring first, so that its exit
 * tears down its own ring only.
 */
/* START_DEV, a second ring @r2 in this thread, worker @w with its ring */
static bool start_three_rings(struct srv *r2, struct worker *w)
{
	return check("START_DEV", start_dev(&msrv, UBLK_U_CMD_START_DEV, dev_id),
		     0) &&
	       check("second ring of the main thread", srv_open(r2, "ring2"),
		     0) &&
	       check("worker thread", worker_start(w), 0) &&
	       check("worker ring", W_CALL(w, &msrv, wf_open, 0, 0, 0, 0, 0, 0),
		     0);
}

/* REGISTER_IO_BUF of @tag (the @req request) at @index on the three rings */
static void reg_three_rings(struct srv *r2, struct worker *w, int tag,
			    unsigned int index, const char *req)
{
	char what[96];

	snprintf(what, sizeof(what),
		 "REGISTER_IO_BUF of the %s request on the main ring", req);
	check(what, reg_buf(&msrv, tag, index), 0);
	snprintf(what, sizeof(what),
		 "REGISTER_IO_BUF of the %s request on the second ring", req);
	check(what, reg_buf(r2, tag, index), 0);
	snprintf(what, sizeof(what),
		 "REGISTER_IO_BUF of the %s request on the worker's ring", req);
	check(what, W_CALL(w, &msrv, wf_buf_cmd, UBLK_U_IO_REGISTER_IO_BUF, tag,
			   index, 0, 0, 0), 0);
}

static void rings_process_check(void)
{
	unsigned char *data = malloc(IO_LEN);
	int res[2] = { PENDING, PENDING }, to_child[2], to_parent[2];
	int t3, ret;
	pid_t pid;
	char c = 0;

	t3 = request_arrives(&msrv, "a third request (WRITE) arrives", 3, true,
			     dev_id, OFF_TEAR, SEED_WRITE + 1);
	if (t3 < 0 || pipe(to_child) || pipe(to_parent))
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
	/* killed, not exiting on its own: its ring goes all the same */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	check_writer("the writer completes once that process was killed", 3,
		     10000);
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
	    !start_three_rings(&r2, &w))
		return;
	check("filling the memfd", fill_memfd(OFF_READ, IO_LEN, SEED_READ), 0);

	tr = request_arrives(&msrv, "the READ request arrives", 1, false,
			     dev_id, OFF_READ, SEED_READ);
	tw = request_arrives(&msrv, "the WRITE request arrives", 2, true,
			     dev_id, OFF_WRITE, SEED_WRITE);
	if (tr < 0 || tw < 0)
		goto out;

	/* ---- READ: main ring, second ring (twice), worker ring ---- */
	reg_three_rings(&r2, &w, tr, IDX_READ, "READ");
	check("REGISTER_IO_BUF of it on the second ring, another index",
	      reg_buf(&r2, tr, IDX_EMPTY), 0);
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
	reg_three_rings(&r2, &w, tw, IDX_WRITE, "WRITE");
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
	check_writer("the writer completes once the second ring is closed", 2,
		     10000);
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
	if (!start_three_rings(&r2, &w))
		goto out;
	tr = request_arrives(&msrv, "the READ request arrives", 1, false,
			     dev_id, OFF_READ, SEED_READ);
	if (tr < 0)
		goto out;
	reg_three_rings(&r2, &w, tr, IDX_READ, "READ");
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
	if (!cdev_setup(dev_id))
		return;
	if (!check("new server ring", srv_open(&msrv, "main"), 0))
		return;
	for (t = 0; t < DEPTH; t++)
		fetch(&msrv, t);
	check("END_USER_RECOVERY", start_dev(&msrv, UBLK_U_CMD_END_USER_RECOVERY, dev_id), 0);
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
	ret = add_dev_params(UBLK_F_SUPPORT_ZERO_COPY, &id);
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
	cdev_close();
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
	if (!check("START_DEV", start_dev(&msrv, UBLK_U_CMD_START_DEV, dev_id), 0))
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

/* ------------------------------------------------------------------ */
/* nvme: NVMe passthrough (IORING_URING_CMD_FIXED) on request buffers   */
/* ------------------------------------------------------------------ */

#define NVME_CMD_WRITE	0x01
#define NVME_CMD_READ	0x02
#define NVME_LBA_READ	64	/* where the READ request's data comes from */
#define NVME_LBA_WRITE	256	/* where the WRITE request's data goes */

/*
 * An NVMe read or write through the namespace's generic char device, with
 * the request buffer at @index as its data buffer (IORING_URING_CMD_FIXED).
 * @buf_off is the offset into the buffer. The NVMe status or -errno.
 */
static int nvme_fixed(struct srv *s, int ng, __u32 nsid, unsigned int lbs,
		      bool is_read, unsigned int index, unsigned int buf_off,
		      unsigned int len, __u64 slba)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	struct nvme_uring_cmd *nc;
	__u64 ud = ++s->seq;

	memset(sqe, 0, 2 * sizeof(*sqe));	/* SQE128 */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ng;
	sqe->cmd_op = NVME_URING_CMD_IO;
	sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
	sqe->buf_index = index;
	sqe->user_data = ud;
	nc = (struct nvme_uring_cmd *)sqe->cmd;
	nc->opcode = is_read ? NVME_CMD_READ : NVME_CMD_WRITE;
	nc->nsid = nsid;
	nc->addr = buf_off;
	nc->data_len = len;
	nc->cdw10 = slba & 0xffffffff;
	nc->cdw11 = slba >> 32;
	nc->cdw12 = len / lbs - 1;
	return reap(s, ud, 10000);
}

/* NVMe commands that must fail with -EFAULT before reaching the device */
static const struct nvme_refused {
	const char *what;
	bool is_read;
	unsigned int index, off, len;
	__u64 slba;
} refused[] = {
	{ "NVMe write from the READ request's buffer",
	  false, IDX_READ, 0, IO_LEN, NVME_LBA_WRITE },
	{ "NVMe read into the WRITE request's buffer",
	  true, IDX_WRITE, 0, IO_LEN, NVME_LBA_READ },
	{ "NVMe read into the READ request, len beyond the request",
	  true, IDX_READ, 0, IO_LEN + 4096, NVME_LBA_READ },
	{ "NVMe read into an empty buffer slot",
	  true, IDX_EMPTY, 0, IO_LEN, NVME_LBA_READ },
	{ "NVMe read into the READ request, offset 4096 len 8192",
	  true, IDX_READ, 4096, IO_LEN, NVME_LBA_READ },
};

static void run_nvme(void)
{
	unsigned char *buf = NULL;
	unsigned int lbs = 0, i;
	struct srv nr;
	int ng, bd, tr, tw, ret;
	__u32 nsid;

	ng = open("/dev/ng0n1", O_RDWR);
	bd = open("/dev/nvme0n1", O_RDWR | O_DIRECT);
	if (ng < 0 || bd < 0) {
		printf("SKIP: no NVMe namespace (/dev/ng0n1, /dev/nvme0n1)\n");
		exit(4);
	}
	ret = ioctl(ng, NVME_IOCTL_ID);
	if (ret <= 0 || ioctl(bd, BLKSSZGET, &lbs) || !lbs || IO_LEN % lbs) {
		printf("FAIL: NVMe namespace id %d, block size %u\n", ret, lbs);
		nr_fail++;
		return;
	}
	nsid = ret;
	if (posix_memalign((void **)&buf, 4096, IO_LEN))
		return;
	/* the namespace holds the reader's data at NVME_LBA_READ */
	fill_pattern(buf, IO_LEN, SEED_READ);
	if (!check("writing the reader's data to the namespace",
		   pwrite(bd, buf, IO_LEN, (off_t)NVME_LBA_READ * lbs) ==
		   IO_LEN ? 0 : -EIO, 0))
		return;

	if (!setup_dev(UBLK_F_SUPPORT_ZERO_COPY, 0xf) ||
	    !check("START_DEV", start_dev(&msrv, UBLK_U_CMD_START_DEV, dev_id),
		   0))
		return;
	/* NVMe passthrough needs big SQEs and CQEs: a second ring */
	if (!check("SQE128 + CQE32 ring of the server task",
		   srv_open_flags(&nr, "nvme", IORING_SETUP_SQE128 |
				  IORING_SETUP_CQE32), 0))
		return;

	tr = request_arrives(&msrv, "the READ request arrives", 1, false,
			     dev_id, OFF_READ, SEED_READ);
	tw = request_arrives(&msrv, "the WRITE request arrives", 2, true,
			     dev_id, OFF_WRITE, SEED_WRITE);
	if (tr < 0 || tw < 0)
		goto out;
	if (!check("REGISTER_IO_BUF of the READ request on the NVMe ring",
		   reg_buf(&nr, tr, IDX_READ), 0) ||
	    !check("REGISTER_IO_BUF of the WRITE request on the NVMe ring",
		   reg_buf(&nr, tw, IDX_WRITE), 0))
		goto out;

	/* the wrong direction and out of range: refused before the device */
	for (i = 0; i < ARRAY_SIZE(refused); i++) {
		const struct nvme_refused *r = &refused[i];

		check(r->what, nvme_fixed(&nr, ng, nsid, lbs, r->is_read,
					  r->index, r->off, r->len, r->slba),
		      -EFAULT);
	}

	/* the READ request's data comes from the namespace */
	check("NVMe read into the READ request's buffer",
	      nvme_fixed(&nr, ng, nsid, lbs, true, IDX_READ, 0, IO_LEN,
			 NVME_LBA_READ), 0);
	check("NVMe write from the READ request's buffer, once filled",
	      nvme_fixed(&nr, ng, nsid, lbs, false, IDX_READ, 0, IO_LEN,
			 NVME_LBA_WRITE), -EFAULT);
	check("UNREGISTER_IO_BUF of the READ request", unreg_buf(&nr, tr,
								 IDX_READ), 0);
	commit(&msrv, tr, IO_LEN);
	check_reader("the reader gets the namespace's data", 1, 10000);

	/* the WRITE request's data goes to the namespace */
	check("NVMe write from the WRITE request's buffer",
	      nvme_fixed(&nr, ng, nsid, lbs, false, IDX_WRITE, 0, IO_LEN,
			 NVME_LBA_WRITE), 0);
	check("UNREGISTER_IO_BUF of the WRITE request",
	      unreg_buf(&nr, tw, IDX_WRITE), 0);
	commit(&msrv, tw, IO_LEN);
	check_writer("the writer completes", 2, 10000);
	memset(buf, 0, IO_LEN);
	ret = pread(bd, buf, IO_LEN, (off_t)NVME_LBA_WRITE * lbs);
	check_data("the namespace holds the writer's data", buf, ret, IO_LEN,
		   SEED_WRITE, 0);
out:
	srv_close(&nr);
	close(ng);
	close(bd);
	free(buf);
}

static void bad_args(void)
{
	printf("usage: ublk_zc_more net|rings|kill|recover|recover_del|perio|perio_off|nvme\n");
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
	    strcmp(mode, "perio") && strcmp(mode, "perio_off") &&
	    strcmp(mode, "nvme"))
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
	if (!setup_files("ublk_zc_more", MAX_IO)) {
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
	else if (!strcmp(mode, "nvme"))
		run_nvme();
	else
		run_perio(!strcmp(mode, "perio_off"));
out_del:
	/* whatever happened above: tear down, and nothing may hang */
	teardown();
	printf("%d passed, %d failed\n", nr_pass, nr_fail);
	return nr_fail ? 1 : 0;
}
