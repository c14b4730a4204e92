// SPDX-License-Identifier: GPL-2.0
/*
 * ublk_fixedbuf: ordinary userspace fixed buffers still work.
 *
 * Our io_uring patches (kernel-owned buffers in the fixed-buffer table)
 * touch the lookup, import, update, unregister and clone paths that plain
 * userspace fixed buffers use too.  This checks those paths at the
 * liburing level, without ublk:
 *
 *   WRITE_FIXED / READ_FIXED on a file, whole buffers and ranges inside
 *   them, linked (the READ looks its buffer up at issue), out of range
 *   SEND / RECV with IORING_RECVSEND_FIXED_BUF on a user buffer (if the
 *   kernel has it), SEND_ZC fixed over loopback TCP
 *   IORING_REGISTER_BUFFERS_UPDATE: replace a buffer, clear a slot
 *   IORING_UNREGISTER_BUFFERS and registering again
 *   IORING_REGISTER_CLONE_BUFFERS (if the kernel has it)
 *
 * One line per check, a summary "N passed, N failed".  Exit 0 all passed,
 * 1 a check failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <liburing.h>
#include "ublk_sock.h"

#define BUF_LEN		(64U << 10)
#define NBUF		4

#ifndef IORING_RECVSEND_FIXED_BUF
#define IORING_RECVSEND_FIXED_BUF	(1U << 2)
#endif
#define REGISTER_CLONE_BUFFERS		30

static int nr_pass, nr_fail;
static struct io_uring ring;

static bool check(const char *what, int got, int exp)
{
	bool ok = got == exp;

	if (ok)
		nr_pass++;
	else
		nr_fail++;
	printf("%s: %s: got %d, expected %d\n", ok ? "PASS" : "FAIL", what,
	       got, exp);
	return ok;
}

static bool check_data(const char *what, const unsigned char *p,
		       const unsigned char *exp, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < len && p[i] == exp[i]; i++)
		;
	if (i == len) {
		nr_pass++;
		printf("PASS: %s: data equal\n", what);
		return true;
	}
	nr_fail++;
	printf("FAIL: %s: first difference at byte %u\n", what, i);
	return false;
}

static void fill(unsigned char *p, unsigned int len, unsigned int seed)
{
	unsigned int i, x = seed;

	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = x >> 16;
	}
}

static struct io_uring_sqe *sqe_get(struct io_uring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);

	if (!sqe) {
		io_uring_submit(r);
		sqe = io_uring_get_sqe(r);
	}
	if (!sqe) {
		printf("FAIL: ring full\n");
		exit(1);
	}
	return sqe;
}

/* submit what is queued, wait for the CQE of @ud; -ETIME after 5 s */
static int wait_ud(struct io_uring *r, __u64 ud, __u32 *flags)
{
	struct __kernel_timespec ts = { .tv_sec = 5 };
	struct io_uring_cqe *cqe;
	int ret;

	io_uring_submit(r);
	for (;;) {
		ret = io_uring_wait_cqe_timeout(r, &cqe, &ts);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret;
		if (cqe->user_data == ud) {
			ret = cqe->res;
			if (flags)
				*flags = cqe->flags;
			io_uring_cqe_seen(r, cqe);
			return ret;
		}
		printf("INFO: stray cqe ud %llu res %d\n",
		       (unsigned long long)cqe->user_data, cqe->res);
		io_uring_cqe_seen(r, cqe);
	}
}

static int rw_fixed(struct io_uring *r, bool rd, int fd, void *addr,
		    unsigned int len, __u64 off, int idx)
{
	struct io_uring_sqe *sqe = sqe_get(r);

	if (rd)
		io_uring_prep_read_fixed(sqe, fd, addr, len, off, idx);
	else
		io_uring_prep_write_fixed(sqe, fd, addr, len, off, idx);
	sqe->user_data = 1;
	return wait_ud(r, 1, NULL);
}

static int sr_fixed(bool send, int fd, void *addr, unsigned int len, int idx,
		    int flags)
{
	struct io_uring_sqe *sqe = sqe_get(&ring);

	if (send)
		io_uring_prep_send(sqe, fd, addr, len, flags);
	else
		io_uring_prep_recv(sqe, fd, addr, len, flags);
	sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
	sqe->buf_index = idx;
	sqe->user_data = 2;
	return wait_ud(&ring, 2, NULL);
}

/* SEND_ZC fixed: the result, after its notification arrived */
static int send_zc_fixed(int fd, void *addr, unsigned int len, int idx)
{
	struct io_uring_sqe *sqe = sqe_get(&ring);
	__u32 fl = 0;
	int ret, n;

	io_uring_prep_send_zc_fixed(sqe, fd, addr, len, 0, 0, idx);
	sqe->user_data = 3;
	ret = wait_ud(&ring, 3, &fl);
	if (fl & IORING_CQE_F_MORE) {
		n = wait_ud(&ring, 3, &fl);
		if (n < 0 || !(fl & IORING_CQE_F_NOTIF))
			printf("INFO: send_zc notification: res %d flags 0x%x\n",
			       n, fl);
	}
	return ret;
}

static bool have_fixed_sendrecv(void)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
	bool ok = probe && io_uring_opcode_supported(probe, IORING_OP_SEND);

	free(probe);
	return ok;
}

static void file_checks(int fd, unsigned char **b)
{
	fill(b[0], BUF_LEN, 1);
	memset(b[1], 0, BUF_LEN);
	check("WRITE_FIXED of buffer 0 to the file",
	      rw_fixed(&ring, false, fd, b[0], BUF_LEN, 0, 0), BUF_LEN);
	check("READ_FIXED of the file into buffer 1",
	      rw_fixed(&ring, true, fd, b[1], BUF_LEN, 0, 1), BUF_LEN);
	check_data("buffer 1 holds what buffer 0 wrote", b[1], b[0], BUF_LEN);

	/* ranges inside the buffers */
	memset(b[1], 0, BUF_LEN);
	check("READ_FIXED 4096 bytes at buffer offset 8192",
	      rw_fixed(&ring, true, fd, b[1] + 8192, 4096, 4096, 1), 4096);
	check_data("the range read", b[1] + 8192, b[0] + 4096, 4096);
	check("READ_FIXED ending exactly at the buffer end",
	      rw_fixed(&ring, true, fd, b[1] + BUF_LEN - 512, 512, 0, 1), 512);
	check("READ_FIXED past the buffer end",
	      rw_fixed(&ring, true, fd, b[1] + BUF_LEN - 512, 1024, 0, 1),
	      -EFAULT);
	check("READ_FIXED starting before the buffer",
	      rw_fixed(&ring, true, fd, b[1] - 4096, 4096, 0, 1), -EFAULT);
	check("WRITE_FIXED from an address inside another buffer",
	      rw_fixed(&ring, false, fd, b[2], 4096, 0, 0), -EFAULT);
	check("READ_FIXED with buf_index >= table size",
	      rw_fixed(&ring, true, fd, b[1], 4096, 0, NBUF), -EFAULT);

	/* a link chain: the READ is prepped before the WRITE ran */
	{
		struct io_uring_sqe *sqe;
		int r1, r2;

		fill(b[2], BUF_LEN, 2);
		memset(b[3], 0, BUF_LEN);
		sqe = sqe_get(&ring);
		io_uring_prep_write_fixed(sqe, fd, b[2], BUF_LEN, BUF_LEN, 2);
		sqe->flags |= IOSQE_IO_LINK;
		sqe->user_data = 10;
		sqe = sqe_get(&ring);
		io_uring_prep_read_fixed(sqe, fd, b[3], BUF_LEN, BUF_LEN, 3);
		sqe->user_data = 11;
		r1 = wait_ud(&ring, 10, NULL);
		r2 = wait_ud(&ring, 11, NULL);
		check("linked WRITE_FIXED", r1, BUF_LEN);
		check("linked READ_FIXED after it", r2, BUF_LEN);
		check_data("the linked READ_FIXED sees the WRITE's data", b[3],
			   b[2], BUF_LEN);
	}
}

static void net_checks(unsigned char **b)
{
	unsigned char *in = malloc(BUF_LEN);
	int sv[2], tv[2] = { -1, -1 }, ret;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		check("socketpair", -errno, 0);
		return;
	}
	fill(b[0], BUF_LEN, 3);
	ret = sr_fixed(true, sv[0], b[0] + 4096, 8192, 0, 0);
	if (ret == -EINVAL) {
		printf("INFO: no IORING_RECVSEND_FIXED_BUF for SEND (base kernel?)\n");
	} else {
		check("SEND fixed, user buffer, 8192 bytes at offset 4096", ret,
		      8192);
		check("the peer receives them", read_all(sv[1], in, 8192),
		      8192);
		check_data("the peer's data", in, b[0] + 4096, 8192);

		fill(in, 8192, 4);
		write_all(sv[1], in, 8192);
		memset(b[1], 0, BUF_LEN);
		check("RECV fixed, user buffer, MSG_WAITALL 8192 bytes",
		      sr_fixed(false, sv[0], b[1] + 512, 8192, 1, MSG_WAITALL),
		      8192);
		check_data("RECV fixed data", b[1] + 512, in, 8192);
		check("SEND fixed past the buffer end",
		      sr_fixed(true, sv[0], b[0] + BUF_LEN - 100, 200, 0, 0),
		      -EFAULT);
		check("RECV fixed past the buffer end",
		      sr_fixed(false, sv[0], b[1] + BUF_LEN - 100, 200, 1, 0),
		      -EFAULT);
	}
	close(sv[0]);
	close(sv[1]);

	if (tcp_pair(tv)) {
		check("loopback TCP connection", -errno, 0);
		return;
	}
	fill(b[2], BUF_LEN, 5);
	check("SEND_ZC fixed, user buffer, over loopback TCP",
	      send_zc_fixed(tv[0], b[2], BUF_LEN, 2), BUF_LEN);
	check("the peer receives it", read_all(tv[1], in, BUF_LEN), BUF_LEN);
	check_data("the SEND_ZC data", in, b[2], BUF_LEN);
	check("SEND_ZC fixed past the buffer end",
	      send_zc_fixed(tv[0], b[2] + 4096, BUF_LEN, 2), -EFAULT);
	close(tv[0]);
	close(tv[1]);
	free(in);
}

static void table_checks(int fd, unsigned char **b)
{
	struct iovec iov;
	unsigned char *c;
	int ret;

	if (posix_memalign((void **)&c, 4096, BUF_LEN)) {
		check("memory", -ENOMEM, 0);
		return;
	}
	fill(b[0], BUF_LEN, 6);
	check("WRITE_FIXED new data", rw_fixed(&ring, false, fd, b[0],
					       BUF_LEN, 0, 0), BUF_LEN);

	/* replace index 1 with buffer c */
	iov.iov_base = c;
	iov.iov_len = BUF_LEN;
	check("IORING_REGISTER_BUFFERS_UPDATE replacing index 1",
	      io_uring_register_buffers_update_tag(&ring, 1, &iov, NULL, 1), 1);
	memset(c, 0, BUF_LEN);
	check("READ_FIXED into the new buffer at index 1",
	      rw_fixed(&ring, true, fd, c, BUF_LEN, 0, 1), BUF_LEN);
	check_data("the new buffer got the data", c, b[0], BUF_LEN);
	check("READ_FIXED at the old buffer's address, index 1",
	      rw_fixed(&ring, true, fd, b[1], 4096, 0, 1), -EFAULT);

	/* clear it */
	iov.iov_base = NULL;
	iov.iov_len = 0;
	check("IORING_REGISTER_BUFFERS_UPDATE clearing index 1",
	      io_uring_register_buffers_update_tag(&ring, 1, &iov, NULL, 1), 1);
	check("READ_FIXED on the cleared index 1",
	      rw_fixed(&ring, true, fd, c, 4096, 0, 1), -EFAULT);
	check("READ_FIXED on index 0, still there",
	      rw_fixed(&ring, true, fd, b[0], 4096, 0, 0), 4096);

	/* clone into a second ring (6.12 has it, older kernels not) */
	{
		struct io_uring r2;
		struct {
			__u32 src_fd, flags, pad[6];
		} arg = { .src_fd = ring.ring_fd };

		if (io_uring_queue_init(8, &r2, 0) == 0) {
			ret = syscall(__NR_io_uring_register, r2.ring_fd,
				      REGISTER_CLONE_BUFFERS, &arg, 1);
			if (ret < 0 && errno == EINVAL) {
				printf("INFO: no IORING_REGISTER_CLONE_BUFFERS\n");
			} else {
				check("IORING_REGISTER_CLONE_BUFFERS",
				      ret < 0 ? -errno : ret, 0);
				memset(c, 0, BUF_LEN);
				memcpy(c, b[0], BUF_LEN);
				memset(b[0], 0, BUF_LEN);
				check("READ_FIXED on the clone, index 0",
				      rw_fixed(&r2, true, fd, b[0], BUF_LEN, 0,
					       0), BUF_LEN);
				check_data("the clone's buffer 0", b[0], c,
					   BUF_LEN);
				check("READ_FIXED on the clone's cleared index 1",
				      rw_fixed(&r2, true, fd, c, 4096, 0, 1),
				      -EFAULT);
			}
			io_uring_queue_exit(&r2);
		}
	}

	check("IORING_UNREGISTER_BUFFERS",
	      io_uring_unregister_buffers(&ring), 0);
	ret = rw_fixed(&ring, true, fd, b[0], 4096, 0, 0);
	check("READ_FIXED without a table", ret, -EFAULT);
	iov.iov_base = b[3];
	iov.iov_len = BUF_LEN;
	check("registering again", io_uring_register_buffers(&ring, &iov, 1),
	      0);
	memset(b[3], 0, BUF_LEN);
	check("READ_FIXED on the new table",
	      rw_fixed(&ring, true, fd, b[3], BUF_LEN, 0, 0), BUF_LEN);
	check_data("its data", b[3], c, BUF_LEN);
	check("IORING_UNREGISTER_BUFFERS again",
	      io_uring_unregister_buffers(&ring), 0);
	check("IORING_UNREGISTER_BUFFERS of no table",
	      io_uring_unregister_buffers(&ring), -ENXIO);
	free(c);
}

int main(void)
{
	const char *tmpdir = getenv("TMPDIR");
	char path[PATH_MAX];
	unsigned char *b[NBUF];
	struct iovec iov[NBUF];
	int fd, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(120);
	snprintf(path, sizeof(path), "%s/ublk_fixedbuf.XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		printf("FAIL: temporary file: %s\n", strerror(errno));
		return 1;
	}
	unlink(path);
	if (io_uring_queue_init(16, &ring, 0)) {
		printf("FAIL: io_uring_queue_init\n");
		return 1;
	}
	for (i = 0; i < NBUF; i++) {
		if (posix_memalign((void **)&b[i], 4096, BUF_LEN)) {
			printf("FAIL: memory\n");
			return 1;
		}
		iov[i].iov_base = b[i];
		iov[i].iov_len = BUF_LEN;
	}
	if (!check("io_uring_register_buffers (4 x 64K)",
		   io_uring_register_buffers(&ring, iov, NBUF), 0))
		goto out;

	file_checks(fd, b);
	if (have_fixed_sendrecv())
		net_checks(b);
	table_checks(fd, b);
out:
	io_uring_queue_exit(&ring);
	printf("%d passed, %d failed\n", nr_pass, nr_fail);
	return nr_fail ? 1 : 0;
}
