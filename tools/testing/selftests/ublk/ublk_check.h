/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ublk_check: what the raw zero-copy checkers (ublk_zc_misuse, ublk_zc_more)
 * share.  Both set up a device by hand with raw commands (1 queue, depth 4,
 * zero copy), serve it from tiny rings backed by a memfd, and let a helper
 * process issue O_DIRECT pread/pwrite on /dev/ublkbN:
 *
 *   reporting      one "PASS: ..." / "FAIL: ..." line per check, counted
 *   data pattern   a seeded byte pattern to write and to verify
 *   I/O helper     a process without rings that runs block device I/O
 *   control ring   ublk control commands, one at a time
 *   servers        a ring that fetches some tags and serves the requests
 *                  nobody waits for
 *   device setup   memfd and scratch file, ADD_DEV, SET_PARAMS, the char
 *                  device and its descriptors, START_DEV
 */
#ifndef UBLK_CHECK_H
#define UBLK_CHECK_H

#include <limits.h>
#include "kublk.h"

#define DEPTH		4
#define NBUF		8		/* sparse buffer table size */
#define IDX_READ	0		/* the READ request's buffer */
#define IDX_WRITE	1		/* the WRITE request's buffer */
#define IDX_EMPTY	2		/* stays empty */
#define IDX_SERVE	6		/* serving unrelated requests */
#define NRES		32		/* I/O helper result slots */
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

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* reporting */
extern int nr_fail, nr_pass;
const char *ename(int e, char *buf, size_t len);
bool check2(const char *what, int got, int exp1, int exp2);
bool check(const char *what, int got, int exp);
bool check_cond(const char *what, bool ok, const char *got, const char *exp);
void alarm_handler(int sig);
unsigned long long now_ms(void);

/* data pattern */
unsigned char pattern(unsigned int seed, unsigned int i);
void fill_pattern(unsigned char *p, unsigned int len, unsigned int seed);
int cmp_pattern(const unsigned char *p, unsigned int len, unsigned int seed);

/* the I/O helper; start it before opening anything a child must not hold */
struct io_result {
	int id;
	int ret;		/* bytes, or -errno */
	int mismatch;		/* READ: first byte != pattern, -1 if none */
};

extern struct io_result results[NRES];
extern pid_t helper_pid;
int helper_start(void);
void helper_stop(void);
int io_start(int id, bool is_write, unsigned int dev_id, unsigned int off,
	     unsigned int len, unsigned int seed);
bool io_wait(int id, unsigned int ms);

/* the control ring */
extern struct io_uring ctrl;
extern int ctrl_fd;
int open_ctrl(void);
void ctrl_prep(unsigned int op, __u32 dev_id, void *addr, unsigned int len,
	       __u64 data0);
int ctrl_cmd(unsigned int op, __u32 dev_id, void *addr, unsigned int len,
	     __u64 data0);

/* servers: a ring that fetches some tags, in the task that owns them */
enum { T_NONE, T_FETCHING, T_OWNED, T_DEAD };

struct srv {
	const char *name;
	struct io_uring ring;
	bool open;
	int tstate[DEPTH];
	bool claimed[DEPTH];	/* owned and kept by a check */
	__u64 seq;
};

extern int cdev;
extern const struct ublksrv_io_desc *iods;
extern int memfd;		/* the device's data */
extern int scratch;		/* WRITE_FIXED target */
extern unsigned int nr_served;	/* all serving tasks: atomic */

/* requests the checks are waiting for; never served automatically */
struct expect {
	bool used;
	unsigned int op, off, len;
};

#define NEXPECT		8
extern struct expect expected[NEXPECT];

int srv_open(struct srv *s, const char *name);
int srv_open_flags(struct srv *s, const char *name, unsigned int flags);
void srv_close(struct srv *s);
struct io_uring_sqe *get_sqe(struct srv *s);
void prep_io_cmd(struct io_uring_sqe *sqe, unsigned int op, unsigned int q_id,
		 unsigned int tag, int result, __u64 addr);
int reap_fl(struct srv *s, __u64 ud, unsigned int ms, __u32 *flags);
int reap(struct srv *s, __u64 ud, unsigned int ms);
int buf_cmd(struct srv *s, unsigned int op, unsigned int q_id, unsigned int tag,
	    unsigned int index);
int reg_buf(struct srv *s, unsigned int tag, unsigned int index);
int unreg_buf(struct srv *s, unsigned int tag, unsigned int index);
int rw_fixed(struct srv *s, bool is_read, int fd, unsigned int index,
	     unsigned int buf_off, unsigned int len, __u64 file_off);
void commit(struct srv *s, unsigned int tag, int res);
int io_cmd_must_fail(struct srv *s, unsigned int op, unsigned int tag, int res);
int fetch(struct srv *s, unsigned int tag);
bool is_expected(const struct ublksrv_io_desc *iod);
void serve_pending(struct srv *s);
int find_request(struct srv *s, unsigned int op, unsigned int off,
		 unsigned int len);
int wait_request(struct srv *s, unsigned int op, unsigned int off,
		 unsigned int len, unsigned int ms);
void expect_io(int slot, unsigned int op, unsigned int off, unsigned int len);
int request_arrives(struct srv *s, const char *what, int id, bool is_write,
		    unsigned int dev_id, unsigned int off, unsigned int seed);

/* device setup */
bool setup_files(const char *name, unsigned int scratch_len);
int fill_memfd(unsigned int off, unsigned int len, unsigned int seed);
int add_dev(__u64 flags, struct ublksrv_ctrl_dev_info *info);
int set_basic_params(__u32 id);
int open_cdev(__u32 id);
bool cdev_setup(__u32 id);
void cdev_close(void);
int start_dev(struct srv *s, unsigned int op, __u32 id);

#endif
