/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ublk: block devices served from userspace over io_uring.
 *
 * A ublk server creates a device with control commands on /dev/ublk-control
 * and then serves its I/O through /dev/ublkcN, the device's char device:
 *
 *  - each (queue, tag) pair owns a slot (struct ublk_io);
 *  - the server parks one UBLK_IO_FETCH_REQ uring_cmd per slot;
 *  - a block request for tag T of queue Q is bound to slot (Q, T) by
 *    ->queue_rq(), which schedules task work on the parked command;
 *  - the task work runs in the server task (the one that issued the
 *    command), copies WRITE data into the server buffer in copy mode and
 *    completes the command: the server now owns the request and finds its
 *    description in the read-only mmapped descriptor array;
 *  - the server does the I/O (copy mode: through its own buffer; user copy:
 *    pread/pwrite on /dev/ublkcN; zero copy: fixed-buffer I/O on the
 *    request pages registered in an io_uring buffer table, see "Zero copy"
 *    below) and sends UBLK_IO_COMMIT_AND_FETCH_REQ, which hands the result
 *    back and parks the command for the next request.
 *
 * Request references
 * ------------------
 * Every request delivered to the server carries a reference count in its
 * pdu (struct ublk_rq_data::ref). Binding the request to a slot sets it to
 * one: that is the *commit reference*, owned by the server until COMMIT (or
 * by whoever aborts the request when the server is gone). Anybody else who
 * touches the request pages while the server owns the request takes an
 * extra reference first, under the queue lock and only while the slot is
 * UBLK_IO_OWNED: the user copy read/write_iter calls, and every io_uring
 * registration of the request pages (zero copy), on any ring. The request
 * is ended (completed, partially completed and requeued, or requeued for a
 * new server) only by whoever drops the last reference, so it is never
 * ended while its pages are still in use, and the result stored by COMMIT
 * (or by the abort) is the one that is reported.
 *
 * Zero copy
 * ---------
 * With UBLK_F_SUPPORT_ZERO_COPY the server puts the request pages into the
 * fixed buffer table of any of its rings with UBLK_U_IO_REGISTER_IO_BUF and
 * removes them with UBLK_U_IO_UNREGISTER_IO_BUF; with UBLK_F_AUTO_BUF_REG the
 * driver does both itself: it registers the pages on the ring of the parked
 * FETCH/COMMIT command, in that command's task work right before delivering
 * the request, and unregisters them at COMMIT. The driver never copies.
 *
 * A registration is one request reference plus one device reference (see
 * ublk_buf_reg_get_locked()). Both are dropped by ublk_io_release(), which
 * io_uring calls exactly once per registration when neither the buffer
 * table nor any in-flight fixed-buffer request uses the pages any more:
 * from the unregister call itself, from freeing the last io_uring request
 * that used the buffer, or at ring teardown, always in process context
 * with that ring's uring_lock held. So:
 *
 *  - the request ends after its COMMIT (or abort) *and* the release of its
 *    last registration, whichever comes last, exactly once;
 *  - the request, its tag and the tag set outlive every registration: an
 *    unended request keeps del_gendisk() (STOP_DEV, DEL_DEV, server exit)
 *    waiting, and the device reference keeps the tag set and the queues
 *    allocated until the release callback has returned;
 *  - a request aborted because its server died is requeued (REISSUE) or
 *    failed only when the dying rings have released it.
 *
 * Registering and unregistering may run the release callback inline, and
 * io_uring holds uring_lock around it, which is why ubq->lock is never
 * held across io_buffer_register_bvec()/io_buffer_unregister_bvec().
 * Nothing waits for a release while holding an io_uring lock, and no io
 * command's completion waits for a release: ring teardown releases the
 * table only after every command on the ring completed.
 *
 * Locking
 * -------
 * ublk_ctl_mutex   serialises ADD_DEV and DEL_DEV and protects ublks_added.
 * ublk_idr_lock    protects ublk_index_idr (lookups take a device reference
 *                  with kobject_get_unless_zero() under it).
 * ub->mutex        device state: ub_disk, dev_info.state, params, START,
 *                  STOP, recovery. Control commands run in io-wq context (we
 *                  return -EAGAIN for non-blocking issue) so they never hold
 *                  an io_uring ctx lock while sleeping on ub->mutex. It is
 *                  never taken from the I/O path or under an io_uring lock.
 * ubq->lock        (spinlock, taken irqsave) the slot state machine and
 *                  the per-queue flags. Innermost lock: nothing else is
 *                  taken and nothing sleeps or ends a request under it.
 *
 * Lock order: ublk_ctl_mutex -> ub->mutex -> disk->open_mutex / io_uring ctx
 * uring_lock (io_uring_cmd_done() with IO_URING_F_UNLOCKED, buffer
 * (un)registration, the release callback) -> ubq->lock.
 * io_uring_cmd_done() and the buffer (un)registration functions are never
 * called with ubq->lock held.
 *
 * Why not BLK_MQ_F_BLOCKING: ->queue_rq() only binds the request to its slot
 * under a spinlock and queues task work, it never sleeps; all blocking work
 * (page faults while copying) happens in the server task.
 */

/*
 * Shared by the files of the ublk driver (module ublk_drv):
 *
 *   main.c   module, device lifetime (ADD_DEV, DEL_DEV, references, ids),
 *            /dev/ublkcN and the disk
 *   io.c     blk-mq, the io commands (FETCH, COMMIT, NEED_GET_DATA),
 *            ending and aborting requests, copying data
 *   zc.c     zero copy: REGISTER/UNREGISTER_IO_BUF, automatic buffer
 *            registration, the release callback
 *   ctrl.c   the other control commands of /dev/ublk-control, parameters,
 *            stop, recovery, quiesce, update size
 *   zoned.c  zoned devices (CONFIG_BLK_DEV_ZONED)
 */

#ifndef _UBLK_H
#define _UBLK_H

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/blkzoned.h>
#include <linux/bio.h>
#include <linux/cdev.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/errno.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/io_uring/cmd.h>
#include <linux/log2.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <uapi/linux/ublk_cmd.h>

#define UBLK_MINORS		BIT(MINORBITS)
#define UBLK_MAX_UBLKS		UBLK_MINORS

/* largest request buffer, bounded by the user copy offset encoding */
#define UBLK_MAX_IO_BUF_BYTES	BIT(UBLK_IO_BUF_BITS)

/* mmap stride between the descriptor arrays of two queues */
#define UBLK_MAX_CMD_BUF_SIZE	\
	round_up(UBLK_MAX_QUEUE_DEPTH * sizeof(struct ublksrv_io_desc), PAGE_SIZE)

/* control command numbers that only exist in the ioctl encoding */
#define UBLK_NR_GET_FEATURES	_IOC_NR(UBLK_U_CMD_GET_FEATURES)
#define UBLK_NR_DEL_DEV_ASYNC	_IOC_NR(UBLK_U_CMD_DEL_DEV_ASYNC)
#define UBLK_NR_UPDATE_SIZE	_IOC_NR(UBLK_U_CMD_UPDATE_SIZE)
#define UBLK_NR_QUIESCE_DEV	_IOC_NR(UBLK_U_CMD_QUIESCE_DEV)
#define UBLK_NR_TRY_STOP_DEV	_IOC_NR(UBLK_U_CMD_TRY_STOP_DEV)

/* flags a server may be granted at ADD_DEV */
#define UBLK_F_RECOVERY_MASK	(UBLK_F_USER_RECOVERY | \
				 UBLK_F_USER_RECOVERY_REISSUE | \
				 UBLK_F_USER_RECOVERY_FAIL_IO)

#ifdef CONFIG_BLK_DEV_ZONED
#define UBLK_F_ZONED_IF_ENABLED	UBLK_F_ZONED
#else
#define UBLK_F_ZONED_IF_ENABLED	0
#endif

/*
 * Zero copy needs io_buffer_register_bvec(); BLK_DEV_UBLK selects IO_URING,
 * so it is always there.
 */
#define UBLK_F_BUF_REG_MASK	(UBLK_F_SUPPORT_ZERO_COPY | \
				 UBLK_F_AUTO_BUF_REG | \
				 UBLK_F_BUF_REG_OFF_DAEMON)

/* the server moves the data itself: no buffer address, no driver copy */
#define UBLK_F_NO_COPY_MASK	(UBLK_F_USER_COPY | \
				 UBLK_F_SUPPORT_ZERO_COPY | \
				 UBLK_F_AUTO_BUF_REG)

#define UBLK_F_SUPPORTED	(UBLK_F_URING_CMD_COMP_IN_TASK | \
				 UBLK_F_NEED_GET_DATA | \
				 UBLK_F_USER_RECOVERY | \
				 UBLK_F_USER_RECOVERY_REISSUE | \
				 UBLK_F_UNPRIVILEGED_DEV | \
				 UBLK_F_CMD_IOCTL_ENCODE | \
				 UBLK_F_USER_COPY | \
				 UBLK_F_ZONED_IF_ENABLED | \
				 UBLK_F_USER_RECOVERY_FAIL_IO | \
				 UBLK_F_UPDATE_SIZE | \
				 UBLK_F_QUIESCE | \
				 UBLK_F_PER_IO_DAEMON | \
				 UBLK_F_SAFE_STOP_DEV | \
				 UBLK_F_NO_AUTO_PART_SCAN | \
				 UBLK_F_BUF_REG_MASK)

#define UBLK_PARAM_TYPE_KNOWN	(UBLK_PARAM_TYPE_BASIC | \
				 UBLK_PARAM_TYPE_DISCARD | \
				 UBLK_PARAM_TYPE_DEVT | \
				 UBLK_PARAM_TYPE_ZONED | \
				 UBLK_PARAM_TYPE_DMA_ALIGN | \
				 UBLK_PARAM_TYPE_SEGMENT | \
				 UBLK_PARAM_TYPE_INTEGRITY)

/* ub->state_bits */
enum {
	UB_STATE_OPEN,		/* /dev/ublkcN is open (exclusive) */
	UB_STATE_DELETED,	/* DEL_DEV has removed the device */
};

/* how an aborted request ends, see ublk_end_rq() */
enum ublk_abort {
	UBLK_ABORT_NONE,
	UBLK_ABORT_FAIL,
	UBLK_ABORT_REQUEUE,
};

/**
 * struct ublk_rq_data - per request driver data (blk-mq pdu)
 * @ref: request references, see "Request references" above. Set to one
 *	when the request is bound to a slot; the request is ended by whoever
 *	drops the last one.
 * @res: result to end the request with, written by the commit reference
 *	holder (COMMIT or abort) before it drops its reference.
 * @deliv_bytes: data bytes offered to the server for this round (copy mode
 *	may offer less than the request when the server buffer faults).
 * @nr_zones: REPORT_ZONES only, number of zones asked for.
 * @zone_lba: ZONE_APPEND only, sector returned by the server.
 * @abort: enum ublk_abort, set instead of @res when no server completes it.
 * @nr_regs: io_uring registrations of the request pages not yet released,
 *	on any ring (each also holds one of @ref), under ubq->lock. Zero when
 *	the request is bound to a slot; only used to tell whether COMMIT's
 *	automatic unregister can still find the request's own buffer.
 */
struct ublk_rq_data {
	refcount_t ref;
	int res;
	unsigned int deliv_bytes;
	unsigned int nr_zones;
	u64 zone_lba;
	u8 abort;
	unsigned int nr_regs;
};

/* stored in io_uring_cmd::pdu of every parked io command */
struct ublk_uring_cmd_pdu {
	struct ublk_queue *ubq;
	u16 tag;
};

/**
 * enum ublk_io_state - life cycle of a slot
 * @UBLK_IO_IDLE: no command parked, no request.
 * @UBLK_IO_FETCHED: a FETCH/COMMIT_AND_FETCH command is parked in @cmd,
 *	waiting for a request.
 * @UBLK_IO_DISPATCH: a request is bound to the slot and task work is queued
 *	on @cmd; only that task work may move the slot on.
 * @UBLK_IO_OWNED: the request was delivered to the server (command
 *	completed); it owns the commit reference until COMMIT.
 */
enum ublk_io_state {
	UBLK_IO_IDLE,
	UBLK_IO_FETCHED,
	UBLK_IO_DISPATCH,
	UBLK_IO_OWNED,
};

/**
 * struct ublk_io - per (queue, tag) slot, all fields under ubq->lock
 * @state: enum ublk_io_state.
 * @need_get_data: OWNED WRITE delivered with UBLK_IO_RES_NEED_GET_DATA and
 *	still waiting for its UBLK_IO_NEED_GET_DATA command.
 * @cmd: parked command in FETCHED and DISPATCH state, else NULL.
 * @req: bound request in DISPATCH and OWNED state, else NULL.
 * @addr: server buffer of copy mode, from the last FETCH/COMMIT/GET_DATA.
 * @task: task that issued the last FETCH (reference held), the only one
 *	allowed to send COMMIT/NEED_GET_DATA (and, without
 *	UBLK_F_BUF_REG_OFF_DAEMON, REGISTER/UNREGISTER_IO_BUF) for the slot.
 *	Dropped when the queue is reset for recovery or freed.
 * @auto_index: UBLK_F_AUTO_BUF_REG, buffer index that the parked command
 *	(FETCHED, DISPATCH) asked for in its sqe->addr.
 * @auto_flags: UBLK_AUTO_BUF_REG_* flags of the parked command.
 * @auto_reg: OWNED only: the request pages were registered automatically at
 *	@reg_index in the fixed buffer table of @reg_ring; COMMIT unregisters
 *	them there. Cleared by COMMIT and when the request is detached.
 * @reg_index: see @auto_reg.
 * @reg_ring: see @auto_reg; only compared, never dereferenced.
 */
struct ublk_io {
	u8 state;
	bool need_get_data;
	struct io_uring_cmd *cmd;
	struct request *req;
	u64 addr;
	struct task_struct *task;
	u16 auto_index;
	u8 auto_flags;
	bool auto_reg;
	u16 reg_index;
	const void *reg_ring;
};

/**
 * struct ublk_queue - one hardware queue
 * @dev: owning device.
 * @flags: the device's UBLK_F_* flags (constant).
 * @q_id: queue index.
 * @depth: number of tags.
 * @io_cmd_buf: descriptor array shared read-only with the server. Written
 *	by the driver for a tag only while the tag's request is bound to the
 *	slot and not yet delivered. Freed with the device.
 * @lock: protects everything below and the slots.
 * @canceling: do not bind new requests to slots; they are requeued
 *	(@nosrv_requeue) or failed. Set when the server is going away (ring
 *	cancel, release, STOP) or by QUIESCE_DEV; cleared by
 *	END_USER_RECOVERY.
 * @fetch_closed: refuse new FETCH commands and do not re-park commands at
 *	COMMIT. Set with @canceling except by QUIESCE_DEV (until it is done);
 *	cleared by START_USER_RECOVERY.
 * @nosrv_requeue: while @canceling, keep new requests (park them on the
 *	requeue list without kicking it, see ublk_park_rq()) instead of
 *	failing them; with UBLK_F_USER_RECOVERY_REISSUE requests owned by a
 *	vanished server are requeued as well. Changed by the control path
 *	(under ub->mutex too); whoever clears @canceling or @nosrv_requeue
 *	kicks the requeue list afterwards.
 * @kill_sent: UNPRIVILEGED_DEV timeout already sent SIGKILL to the server.
 * @nr_fetched: slots that received their first FETCH since start/recovery.
 * @daemon: task serving the queue (reference held) unless PER_IO_DAEMON.
 * @exit_scanned: task whose exit already aborted its requests (no
 *	reference, only compared).
 * @ios: the slots.
 */
struct ublk_queue {
	struct ublk_device *dev;
	u64 flags;
	u16 q_id;
	u16 depth;
	struct ublksrv_io_desc *io_cmd_buf;

	spinlock_t lock;	/* see above: slots and the fields below */
	bool canceling;
	bool fetch_closed;
	bool nosrv_requeue;
	bool kill_sent;
	unsigned int nr_fetched;
	struct task_struct *daemon;
	struct task_struct *exit_scanned;

	struct ublk_io ios[] __counted_by(depth);
};

/**
 * struct ublk_device - one ublk device
 * @dev_info: what GET_DEV_INFO reports. Constant after ADD_DEV except
 *	@dev_info.state and @dev_info.ublksrv_pid, written under @mutex.
 * @params: last accepted SET_PARAMS, under @mutex.
 * @ub_disk: the gendisk between START_DEV and STOP, under @mutex. The disk
 *	holds a device reference, dropped by ->free_disk().
 * @tag_set: blk-mq tag set, freed with the device.
 * @cdev_dev: the char device's struct device; its reference count is the
 *	device lifetime (idr/creation reference until DEL_DEV, open char
 *	device, gendisk, control commands in progress).
 * @cdev: /dev/ublkcN.
 * @state_bits: UB_STATE_* bits.
 * @mutex: see "Locking".
 * @completion: completed when every queue got all its FETCH commands, and
 *	also when the server or the device goes away, to wake START_DEV and
 *	END_USER_RECOVERY, which then check why they were woken.
 * @nr_queues_ready: queues whose slots are all fetched.
 * @block_open: TRY_STOP_DEV is removing the disk, refuse new openers.
 * @started: START_DEV succeeded once, under @mutex. A device that was
 *	stopped cannot be started again.
 * @tag_set_ready: @tag_set was allocated.
 * @stop_work: stops a device whose server went away, for devices whose
 *	requests may be pinned by io_uring buffer registrations (see
 *	ublk_ch_release()). Holds a device reference while queued.
 * @nr_queues: number of entries in @queues.
 * @queues: the queues.
 */
struct ublk_device {
	struct ublksrv_ctrl_dev_info dev_info;
	struct ublk_params params;
	struct gendisk *ub_disk;
	struct blk_mq_tag_set tag_set;

	struct device cdev_dev;
	struct cdev cdev;
	unsigned long state_bits;
	struct mutex mutex;	/* see "Locking" above */
	struct completion completion;
	atomic_t nr_queues_ready;
	bool block_open;
	bool started;
	bool tag_set_ready;
	struct work_struct stop_work;

	unsigned int nr_queues;
	struct ublk_queue *queues[] __counted_by(nr_queues);
};

/* ------------------------------------------------------------------ */
/* small helpers                                                       */
/* ------------------------------------------------------------------ */

/* no buffer address with FETCH/COMMIT, the driver never copies */
static inline bool ublk_q_no_copy(const struct ublk_queue *ubq)
{
	return ubq->flags & UBLK_F_NO_COPY_MASK;
}

static inline bool ublk_q_auto_buf_reg(const struct ublk_queue *ubq)
{
	return ubq->flags & UBLK_F_AUTO_BUF_REG;
}

static inline bool ublk_q_buf_reg_off_daemon(const struct ublk_queue *ubq)
{
	return ubq->flags & UBLK_F_BUF_REG_OFF_DAEMON;
}

/*
 * REGISTER/UNREGISTER_IO_BUF are available (AUTO_BUF_REG needs them for
 * UBLK_IO_F_NEED_REG_BUF), and requests may stay pinned by io_uring
 * registrations after COMMIT or abort.
 */
static inline bool ublk_dev_buf_reg(const struct ublk_device *ub)
{
	return ub->dev_info.flags &
		(UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_AUTO_BUF_REG);
}

/* identity of the ring @cmd was submitted on, only ever compared */
static inline const void *ublk_cmd_ring(struct io_uring_cmd *cmd)
{
	return io_uring_cmd_ctx_handle(cmd);
}

static inline bool ublk_per_io_daemon(const struct ublk_queue *ubq)
{
	return ubq->flags & UBLK_F_PER_IO_DAEMON;
}

static inline bool ublk_dev_recoverable(const struct ublk_device *ub)
{
	return ub->dev_info.flags & UBLK_F_USER_RECOVERY;
}

static inline bool ublk_dev_unprivileged(const struct ublk_device *ub)
{
	return ub->dev_info.flags & UBLK_F_UNPRIVILEGED_DEV;
}

static inline bool ublk_dev_zoned(const struct ublk_device *ub)
{
	return ub->dev_info.flags & UBLK_F_ZONED;
}

static inline struct ublk_uring_cmd_pdu *ublk_cmd_pdu(struct io_uring_cmd *cmd)
{
	return io_uring_cmd_to_pdu(cmd, struct ublk_uring_cmd_pdu);
}

static inline unsigned int ublk_cmd_buf_size(const struct ublk_device *ub)
{
	return round_up(ub->dev_info.queue_depth * sizeof(struct ublksrv_io_desc),
			PAGE_SIZE);
}

/* requests carrying data pages that the server reads or writes */
static inline bool ublk_rq_has_data(const struct request *rq)
{
	return rq->bio && bio_has_data(rq->bio);
}

static inline unsigned int ublk_lbs(const struct ublk_device *ub)
{
	if (ub->params.types & UBLK_PARAM_TYPE_BASIC)
		return 1U << ub->params.basic.logical_bs_shift;
	return SECTOR_SIZE;
}

/*
 * Requests whose data must be copied between the request pages and the
 * server buffer by the driver (copy mode): everything with data unless the
 * server moves it itself (user copy, zero copy, automatic registration).
 */
static inline bool ublk_need_copy(const struct ublk_queue *ubq,
				  const struct request *rq)
{
	return !ublk_q_no_copy(ubq) && ublk_rq_has_data(rq);
}

/* main.c */
extern struct wait_queue_head ublk_idr_wq;
void ublk_put_device(struct ublk_device *ub);
struct ublk_device *ublk_get_device_from_id(int id);
bool ublk_idr_freed(int id);
int ublk_add_disk(struct ublk_device *ub, int pid);
int ublk_ctrl_add_dev(const struct ublksrv_ctrl_cmd *hdr);
int ublk_ctrl_del_dev(struct ublk_device *ub);

/* io.c */
extern const struct blk_mq_ops ublk_mq_ops;
size_t ublk_copy_rq_data(struct request *rq, size_t offset, size_t max,
			 struct iov_iter *iter, bool to_user);
void ublk_end_rq(struct request *rq);
void ublk_abort_queue(struct ublk_queue *ubq, struct task_struct *task,
		      bool abort_cmds);
void ublk_abort_fetches(struct ublk_queue *ubq);
void ublk_set_queue_flags(struct ublk_queue *ubq, bool canceling,
			  bool fetch_closed);
void ublk_close_queues(struct ublk_device *ub);
void ublk_set_nosrv_requeue(struct ublk_device *ub, bool requeue);
bool ublk_live_nosrv_requeue(const struct ublk_device *ub);
void ublk_cancel_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags);
int ublk_fetch(struct io_uring_cmd *cmd, struct ublk_queue *ubq,
	       u16 tag, u64 addr, unsigned int issue_flags);
int ublk_commit_and_fetch(struct io_uring_cmd *cmd, struct ublk_queue *ubq,
			  u16 tag, int result, u64 addr,
			  unsigned int issue_flags);
int ublk_need_get_data(struct io_uring_cmd *cmd, struct ublk_queue *ubq,
		       u16 tag, u64 addr);

/* drop one request reference, ending the request on the last one */
static inline void ublk_put_rq_ref(struct request *rq)
{
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);

	if (refcount_dec_and_test(&data->ref))
		ublk_end_rq(rq);
}

/* zc.c */
int ublk_auto_buf_reg(struct ublk_queue *ubq, u16 tag,
		      struct io_uring_cmd *cmd, u16 index,
		      unsigned int issue_flags);
int ublk_register_io_buf(struct io_uring_cmd *cmd, struct ublk_queue *ubq,
			 u16 tag, u64 index, unsigned int issue_flags);
int ublk_unregister_io_buf(struct io_uring_cmd *cmd, struct ublk_device *ub,
			   u16 q_id, u16 tag, u64 index,
			   unsigned int issue_flags);

/* ctrl.c */
void ublk_fill_limits(const struct ublk_device *ub, struct queue_limits *lim);
void ublk_stop_dev_locked(struct ublk_device *ub);
void ublk_reset_queue(struct ublk_queue *ubq, bool recovery);
int ublk_ctrl_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags);

/* zoned.c */
#ifdef CONFIG_BLK_DEV_ZONED
bool ublk_zone_lba_valid(struct ublk_queue *ubq, struct request *rq, u64 lba);
int ublk_report_zones(struct gendisk *disk, sector_t sector,
		      unsigned int nr_zones, report_zones_cb cb, void *cb_data);
#else
static inline bool ublk_zone_lba_valid(struct ublk_queue *ubq,
				       struct request *rq, u64 lba)
{
	return false;
}

#define ublk_report_zones	NULL
#endif

#endif /* _UBLK_H */
