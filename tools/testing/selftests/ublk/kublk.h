/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kublk: a small userspace ublk server used by the ublk selftests.
 *
 * Layout of the program:
 *   kublk.c        CLI, control ring (/dev/ublk-control), device lifecycle,
 *                  daemon, per-queue io threads, copy/user-copy handling
 *   null.c         "null" target: completes every request immediately
 *   file_backed.c  "loop" target: io_uring I/O on a backing file
 *   stripe.c       "stripe" target: RAID-0 over two or more backing files
 *   zoned.c        "zoned" target: RAM-backed zoned device (UBLK_F_ZONED)
 *   nbd.c          "nbd" target: an export of an NBD server over TCP
 *
 * A target only sees a request after the core has made its data available in
 * the tag's bounce buffer (copy mode, NEED_GET_DATA, USER_COPY); the core
 * copies READ data back (USER_COPY) before committing.  Zero-copy modes
 * (-z, --auto_zc, --auto_zc_fallback) hand the target a request with no
 * bounce buffer (ublk_io_buf() == NULL); the target then uses fixed-buffer
 * I/O on buffer index ublk_io_buf_index() with buffer offsets starting at 0:
 *
 *   ublk_io_auto_reg()  the driver registered the buffer itself (AUTO_BUF_REG)
 *                       and drops it at COMMIT: just do the fixed I/O;
 *   ublk_io_need_reg()  -z, or AUTO_BUF_REG fallback (UBLK_IO_F_NEED_REG_BUF):
 *                       submit REGISTER_IO_BUF (IOSQE_IO_LINK) -> fixed I/O
 *                       (IOSQE_IO_HARDLINK, so the unregister runs even when
 *                       the I/O fails) -> UNREGISTER_IO_BUF as one chain, and
 *                       COMMIT once all of them have completed.
 *
 * Chains must not be split across submissions: reserve the SQEs of a chain
 * first with ublk_queue_reserve_sqes().
 */
#ifndef KUBLK_H
#define KUBLK_H

#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/types.h>
#include <sys/ioctl.h>
#include <linux/types.h>
#include <liburing.h>
#include <linux/ublk_cmd.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

#ifndef fallthrough
#define fallthrough		__attribute__((__fallthrough__))
#endif

/*
 * Compatibility with older installed UAPI headers (e.g. a 6.12 tree).  The
 * project's own include/uapi/linux/ublk_cmd.h carries all of these with the
 * mainline values; these fallbacks only make the server build against an
 * older header and never override it.
 */
#ifndef UBLK_U_CMD_UPDATE_SIZE
#define UBLK_U_CMD_UPDATE_SIZE		_IOWR('u', 0x15, struct ublksrv_ctrl_cmd)
#endif
#ifndef UBLK_U_CMD_QUIESCE_DEV
#define UBLK_U_CMD_QUIESCE_DEV		_IOWR('u', 0x16, struct ublksrv_ctrl_cmd)
#endif
#ifndef UBLK_U_CMD_TRY_STOP_DEV
#define UBLK_U_CMD_TRY_STOP_DEV		_IOWR('u', 0x17, struct ublksrv_ctrl_cmd)
#endif
#ifndef UBLK_U_IO_REGISTER_IO_BUF
#define UBLK_U_IO_REGISTER_IO_BUF	_IOWR('u', 0x23, struct ublksrv_io_cmd)
#endif
#ifndef UBLK_U_IO_UNREGISTER_IO_BUF
#define UBLK_U_IO_UNREGISTER_IO_BUF	_IOWR('u', 0x24, struct ublksrv_io_cmd)
#endif
#ifndef UBLK_F_USER_RECOVERY_FAIL_IO
#define UBLK_F_USER_RECOVERY_FAIL_IO	(1ULL << 9)
#endif
#ifndef UBLK_F_UPDATE_SIZE
#define UBLK_F_UPDATE_SIZE		(1ULL << 10)
#endif
#ifndef UBLK_F_AUTO_BUF_REG
#define UBLK_F_AUTO_BUF_REG		(1ULL << 11)
#endif
#ifndef UBLK_F_QUIESCE
#define UBLK_F_QUIESCE			(1ULL << 12)
#endif
#ifndef UBLK_F_PER_IO_DAEMON
#define UBLK_F_PER_IO_DAEMON		(1ULL << 13)
#endif
#ifndef UBLK_F_BUF_REG_OFF_DAEMON
#define UBLK_F_BUF_REG_OFF_DAEMON	(1ULL << 14)
#endif
#ifndef UBLK_F_BATCH_IO
#define UBLK_F_BATCH_IO			(1ULL << 15)
#endif
#ifndef UBLK_F_INTEGRITY
#define UBLK_F_INTEGRITY		(1ULL << 16)
#endif
#ifndef UBLK_F_SAFE_STOP_DEV
#define UBLK_F_SAFE_STOP_DEV		(1ULL << 17)
#endif
#ifndef UBLK_F_NO_AUTO_PART_SCAN
#define UBLK_F_NO_AUTO_PART_SCAN	(1ULL << 18)
#endif
#ifndef UBLK_F_SHMEM_ZC
#define UBLK_F_SHMEM_ZC			(1ULL << 19)
#endif
#ifndef UBLK_S_DEV_FAIL_IO
#define UBLK_S_DEV_FAIL_IO		3
#endif
#ifndef UBLK_IO_F_NEED_REG_BUF
#define UBLK_IO_F_NEED_REG_BUF		(1U << 17)
#endif
#ifndef UBLK_AUTO_BUF_REG_FALLBACK
#define UBLK_AUTO_BUF_REG_FALLBACK	(1 << 0)
#endif
#ifndef UBLK_IO_OP_REPORT_ZONES
#define UBLK_IO_OP_REPORT_ZONES		18
#endif
#ifndef UBLK_IO_OP_WRITE_ZEROES
#define UBLK_IO_OP_WRITE_ZEROES		5
#endif

/* liburing 2.3 lacks a few newer io_uring definitions */
#ifndef IORING_SETUP_SQE128
#define IORING_SETUP_SQE128		(1U << 10)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN	(1U << 8)
#endif
/* send/recv from/into a registered buffer: sqe->ioprio flag + buf_index */
#ifndef IORING_RECVSEND_FIXED_BUF
#define IORING_RECVSEND_FIXED_BUF	(1U << 2)
#endif

/* --- limits and defaults of this server --- */
#define KUBLK_MAX_QUEUES	32
#define KUBLK_MAX_PER_IO_TASKS	4
#define KUBLK_MAX_FILES		8
#define KUBLK_DEF_DEPTH		128
#define KUBLK_DEF_QUEUES	1
#define KUBLK_DEF_IO_BYTES	(512U << 10)
#define KUBLK_DEF_NULL_SIZE	(1ULL << 30)
#define KUBLK_PATH_MAX		32	/* "/dev/ublkcN" buffer for UNPRIVILEGED_DEV */
#define KUBLK_MAX_RING_ENTRIES	4096	/* per queue ring; chains are reserved */
#define KUBLK_DEF_ZONED_SIZE	(256ULL << 20)
#define KUBLK_DEF_ZONE_SIZE	(16ULL << 20)
#define KUBLK_DEF_CHUNK		(64U << 10)	/* stripe chunk size */

/* ublksrv_flags (server-private, the kernel stores it for us) */
#define KUBLK_SRV_MAGIC		0x6b62ULL	/* "kb" */
#define KUBLK_SRV_FLAGS(tgt_id)	((KUBLK_SRV_MAGIC << 16) | ((tgt_id) & 0xff))
#define KUBLK_SRV_TGT(f)	((((f) >> 16) & 0xffff) == KUBLK_SRV_MAGIC ? \
				 (int)((f) & 0xff) : -1)

/*
 * cqe->user_data layout
 *   bits  0..15  tag
 *   bits 16..23  ublk io command nr (ublk command) or target op
 *   bits 24..39  target private data
 *   bit  63      set for target I/O, clear for ublk uring_cmds
 */
static inline __u64 build_user_data(unsigned int tag, unsigned int op,
				    unsigned int tgt_data, bool is_tgt)
{
	return (__u64)(tag & 0xffff) | ((__u64)(op & 0xff) << 16) |
		((__u64)(tgt_data & 0xffff) << 24) | ((__u64)is_tgt << 63);
}

static inline unsigned int user_data_to_tag(__u64 ud) { return ud & 0xffff; }
static inline unsigned int user_data_to_op(__u64 ud) { return (ud >> 16) & 0xff; }
static inline unsigned int user_data_to_tgt_data(__u64 ud) { return (ud >> 24) & 0xffff; }
static inline bool user_data_is_tgt(__u64 ud) { return ud >> 63; }

/* Parsed command line of "add"/"recover"; also what the state file stores. */
struct dev_ctx {
	char tgt_type[16];
	int dev_id;			/* -1: let the kernel pick */
	unsigned int nr_queues;
	unsigned int depth;
	unsigned int max_io_buf_bytes;
	unsigned long long size;	/* null: device size; 0 = default */
	unsigned int logical_bs;
	unsigned int physical_bs;
	bool user_copy;
	bool get_data;
	bool recovery;
	bool recovery_reissue;
	bool recovery_fail_io;
	bool unprivileged;
	bool quiesce;
	bool update_size;
	bool zero_copy;
	bool auto_zc;
	bool auto_zc_fallback;
	bool no_safe_stop;
	bool foreground;
	bool recovering;		/* set by "recover" */
	bool buffered;			/* loop: don't try O_DIRECT */
	/*
	 * test hook: give the driver an out-of-range AUTO_BUF_REG index so
	 * that every automatic registration fails and, with FALLBACK, each
	 * request arrives with UBLK_IO_F_NEED_REG_BUF (registered by hand)
	 */
	bool auto_zc_force_fallback;
	/*
	 * test hook, loop -z: requests starting at sector zc_leak_sector
	 * are served without their UNREGISTER_IO_BUF, as if it had failed,
	 * so they stay pinned by the registration after COMMIT
	 */
	bool zc_leak_unreg;
	unsigned long long zc_leak_sector;
	unsigned int chunk_size;		/* stripe: bytes per chunk (power of 2) */
	/* zoned target; the driver validates these (SET_PARAMS) */
	unsigned long long zone_size;	/* bytes */
	unsigned int conv_zones;
	unsigned int max_open;
	unsigned int max_active;
	unsigned long long max_append;	/* bytes, with max_append_given */
	bool max_append_given;
	/* zoned test hooks: ZONED params without the flag, flag w/o params */
	bool zoned_no_flag;
	bool zoned_no_params;
	bool zoned_skip_params;		/* no SET_PARAMS at all */
	bool zoned_bad_append;		/* append LBA outside the zone */
	/*
	 * UBLK_F_PER_IO_DAEMON: threads per queue, thread k fetches and
	 * serves the tags t with t % per_io_tasks == k (0, 1: one thread)
	 */
	unsigned int per_io_tasks;
	char nbd_host[256];		/* nbd: server host name or address */
	char nbd_port[32];		/* nbd: port or service, "" = 10809 */
	char nbd_export[256];		/* nbd: export name, "" = default */
	int nr_files;
	char files[KUBLK_MAX_FILES][4096];
};

struct ublk_dev;
struct ublk_queue;

struct ublk_io {
	void *buf;			/* bounce buffer, NULL in zero copy */
	unsigned int flags;
#define IO_F_CMD_INFLIGHT	(1U << 0)	/* a FETCH/COMMIT/GET_DATA is in the kernel */
#define IO_F_DONE		(1U << 1)	/* aborted: never re-fetch */
#define IO_F_IN_SERVER		(1U << 2)	/* request owned by us */
	int result;
	int tgt_inflight;		/* target SQEs still in flight */
	int tgt_res;			/* target scratch */
	unsigned int tgt_flags;		/* target scratch */
	/*
	 * addr of the next COMMIT in user/zero copy modes: the LBA a zone
	 * append was written at (zone_append_lba); reset after use
	 */
	__u64 commit_addr;
};

struct ublk_queue {
	struct ublk_dev *dev;
	int q_id;
	unsigned int task_idx;		/* --per_io_tasks: this thread's share */
	unsigned int nr_tasks;		/* threads serving this queue (>= 1) */
	int depth;
	const struct ublksrv_io_desc *iods;
	size_t iods_len;
	struct io_uring ring;
	bool ring_ok;
	pthread_t thread;
	int cmd_inflight;		/* uring_cmds in the kernel */
	int tgt_inflight;		/* target sqes in flight */
	int nr_done;			/* tags that got ABORT / fatal errors */
	int ret;			/* thread exit status */
	unsigned long long nr_ios;
	unsigned long long nr_need_reg;	/* requests with UBLK_IO_F_NEED_REG_BUF */
	struct ublk_io *ios;
};

struct target_ops {
	const char *name;
	int id;				/* stored in ublksrv_flags */
	/*
	 * Set up the target: open backing files (append them to dev->fds),
	 * fill dev->params (basic + optional discard) unless recovering.
	 */
	int (*init)(struct ublk_dev *dev);
	void (*deinit)(struct ublk_dev *dev);
	/*
	 * Handle the request at @tag.  Call ublk_complete_io() exactly once,
	 * now or from tgt_io_done().  A negative return completes the request
	 * with that error (and then the target must not complete it itself).
	 */
	int (*queue_io)(struct ublk_queue *q, int tag);
	/* CQE of a target SQE (user_data built with is_tgt = true) */
	void (*tgt_io_done)(struct ublk_queue *q, int tag,
			    const struct io_uring_cqe *cqe);
	/*
	 * optional: called from the queue loop while no io command is in the
	 * kernel (the queue is going away once nothing of the target's is in
	 * flight either); lets a target end I/O it keeps pending, such as a
	 * receive on an idle connection
	 */
	void (*queue_idle)(struct ublk_queue *q);
	/*
	 * number of SQEs the target may need per tag (sizing the ring);
	 * init() may set dev->tgt_sqes_per_io instead when it depends on
	 * the arguments
	 */
	int sqes_per_io;
};

struct ublk_dev {
	struct ublksrv_ctrl_dev_info info;
	struct ublk_params params;
	const struct target_ops *tgt;
	struct dev_ctx *ctx;
	unsigned long long features;
	int cdev_fd;
	int fds[KUBLK_MAX_FILES + 1];	/* fds[0] = /dev/ublkcN, registered as fixed files */
	int nr_fds;
	void *tgt_data;
	int tgt_sqes_per_io;		/* 0: tgt->sqes_per_io */
	unsigned long long dev_size;
	unsigned int nr_queues;
	struct ublk_queue *q[KUBLK_MAX_QUEUES * KUBLK_MAX_PER_IO_TASKS];
	char cdev_path[KUBLK_PATH_MAX];
	int wake_fd[2];			/* queue threads and signals poke main */
};

/* --- core API for targets --- */
int ublk_complete_io(struct ublk_queue *q, int tag, int res);
struct io_uring_sqe *ublk_queue_alloc_sqe(struct ublk_queue *q);
/* an SQE for target I/O: counted, user_data must be built with is_tgt */
struct io_uring_sqe *ublk_alloc_tgt_sqe(struct ublk_queue *q);
/*
 * an SQE for target I/O of @tag, counted in its tgt_inflight too, user_data
 * (@op, @kind); after io_uring_prep_*(), which overwrite flags and
 * user_data, ublk_tgt_io_sqe_file() makes the fd a fixed file and sets the
 * user_data again
 */
struct io_uring_sqe *ublk_tgt_io_sqe(struct ublk_queue *q, int tag,
				     unsigned int op, unsigned int kind);
void ublk_tgt_io_sqe_file(struct io_uring_sqe *sqe, unsigned int tag,
			  unsigned int op, unsigned int kind);
/*
 * zero copy: (UN)REGISTER_IO_BUF of @tag at buffer index ublk_io_buf_index(),
 * CQE to the target with @tgt_data; counted in q->tgt_inflight (not in
 * ios[tag].tgt_inflight, that is the target's business)
 */
struct io_uring_sqe *ublk_prep_buf_reg(struct ublk_queue *q, int tag,
				       bool reg, unsigned int tgt_data);
/*
 * make sure @nr SQEs can be taken without an implicit submit in between
 * (a link chain must go to the kernel in one piece); false if the ring is
 * too small for @nr
 */
bool ublk_queue_reserve_sqes(struct ublk_queue *q, unsigned int nr);

/* pread/pwrite offset of a request's data on /dev/ublkcN (user copy) */
static inline __u64 ublk_user_copy_off(int q_id, int tag)
{
	return UBLKSRV_IO_BUF_OFFSET + ((__u64)q_id << UBLK_QID_OFF) +
		((__u64)tag << UBLK_TAG_OFF);
}

/* --per_io_tasks: is @tag fetched and served by @q's thread? */
static inline bool ublk_queue_owns_tag(const struct ublk_queue *q, int tag)
{
	return (unsigned int)tag % q->nr_tasks == q->task_idx;
}

static inline const struct ublksrv_io_desc *ublk_get_iod(const struct ublk_queue *q, int tag)
{
	return &q->iods[tag];
}

static inline void *ublk_io_buf(const struct ublk_queue *q, int tag)
{
	return q->ios[tag].buf;
}

static inline bool ublk_queue_zc(const struct ublk_queue *q)
{
	return q->dev->info.flags & UBLK_F_SUPPORT_ZERO_COPY;
}

static inline bool ublk_queue_auto_zc(const struct ublk_queue *q)
{
	return q->dev->info.flags & UBLK_F_AUTO_BUF_REG;
}

static inline bool ublk_queue_user_copy(const struct ublk_queue *q)
{
	return q->dev->info.flags & UBLK_F_USER_COPY;
}

/* index of the tag's request buffer in the queue ring's buffer table */
static inline unsigned int ublk_io_buf_index(const struct ublk_queue *q, int tag)
{
	(void)q;
	return tag;
}

/* the driver registered this request's buffer (AUTO_BUF_REG succeeded) */
static inline bool ublk_io_auto_reg(const struct ublk_queue *q,
				    const struct ublksrv_io_desc *iod)
{
	return ublk_queue_auto_zc(q) && !(iod->op_flags & UBLK_IO_F_NEED_REG_BUF);
}

/*
 * the server must register the buffer itself: -z, or an AUTO_BUF_REG
 * fallback request (only READ/WRITE carry data)
 */
static inline bool ublk_io_need_reg(const struct ublk_queue *q,
				    const struct ublksrv_io_desc *iod)
{
	if (ublk_queue_auto_zc(q))
		return iod->op_flags & UBLK_IO_F_NEED_REG_BUF;
	return ublk_queue_zc(q);
}

/* any zero-copy mode: data only through fixed buffers */
static inline bool ublk_io_zc(const struct ublk_queue *q,
			      const struct ublksrv_io_desc *iod)
{
	return ublk_io_auto_reg(q, iod) || ublk_io_need_reg(q, iod);
}

/*
 * open a target's backing file or block device, O_DIRECT unless --buffered
 * or the file refuses it (*@direct says which, if not NULL); its size in
 * *@size. The fd, or -errno (said on stderr with @tgt's name).
 */
int ublk_open_backing(const struct dev_ctx *ctx, const char *tgt,
		      const char *path, unsigned long long *size, bool *direct);

/* fill the basic parameters common to all targets */
void ublk_set_basic_params(struct ublk_dev *dev, unsigned long long size);

#define ublk_err(fmt, ...)	fprintf(stderr, "kublk: " fmt, ##__VA_ARGS__)
extern int kublk_verbose;
#define ublk_dbg(fmt, ...)						\
	do {								\
		if (kublk_verbose)					\
			fprintf(stderr, "kublk: " fmt, ##__VA_ARGS__);	\
	} while (0)

extern const struct target_ops null_tgt_ops;
extern const struct target_ops loop_tgt_ops;
extern const struct target_ops stripe_tgt_ops;
extern const struct target_ops zoned_tgt_ops;
extern const struct target_ops nbd_tgt_ops;

#endif
