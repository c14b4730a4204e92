// SPDX-License-Identifier: GPL-2.0-or-later
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

static DEFINE_MUTEX(ublk_ctl_mutex);
static DEFINE_SPINLOCK(ublk_idr_lock);
static DEFINE_IDR(ublk_index_idr);
static DECLARE_WAIT_QUEUE_HEAD(ublk_idr_wq);
static dev_t ublk_chr_devt;

/* number of UNPRIVILEGED_DEV devices, under ublk_ctl_mutex */
static unsigned int ublks_added;

static unsigned int ublks_max = 64;

static int ublk_set_max_ublks(const char *buf, const struct kernel_param *kp)
{
	return param_set_uint_minmax(buf, kp, 0, UBLK_MAX_UBLKS);
}

static const struct kernel_param_ops ublk_max_ublks_ops = {
	.set = ublk_set_max_ublks,
	.get = param_get_uint,
};

module_param_cb(ublks_max, &ublk_max_ublks_ops, &ublks_max, 0644);
MODULE_PARM_DESC(ublks_max, "max number of unprivileged ublk devices (default 64)");

static const struct class ublk_chr_class = {
	.name = "ublk-char",
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

static struct ublk_device *ublk_get_device(struct ublk_device *ub)
{
	if (kobject_get_unless_zero(&ub->cdev_dev.kobj))
		return ub;
	return NULL;
}

static void ublk_put_device(struct ublk_device *ub)
{
	put_device(&ub->cdev_dev);
}

static struct ublk_device *ublk_get_device_from_id(int id)
{
	struct ublk_device *ub = NULL;

	if (id < 0 || id >= UBLK_MAX_UBLKS)
		return NULL;

	spin_lock(&ublk_idr_lock);
	ub = idr_find(&ublk_index_idr, id);
	if (ub)
		ub = ublk_get_device(ub);
	spin_unlock(&ublk_idr_lock);
	return ub;
}

static bool ublk_idr_freed(int id)
{
	void *ptr;

	spin_lock(&ublk_idr_lock);
	ptr = idr_find(&ublk_index_idr, id);
	spin_unlock(&ublk_idr_lock);
	return !ptr;
}

/* ------------------------------------------------------------------ */
/* copying between request pages and an iov_iter                       */
/* ------------------------------------------------------------------ */

/**
 * ublk_copy_rq_data - copy between a request's pages and an iov_iter
 * @rq: request with data
 * @offset: byte offset into the request data to start at
 * @max: bytes to copy at most
 * @iter: user memory (the server's buffer or a pread/pwrite iterator)
 * @to_user: true copies request -> @iter, false copies @iter -> request
 *
 * Must run in the context of the task owning the memory behind @iter; may
 * fault and sleep.
 *
 * Return: number of bytes copied, stops early on a fault.
 */
static size_t ublk_copy_rq_data(struct request *rq, size_t offset, size_t max,
				struct iov_iter *iter, bool to_user)
{
	struct req_iterator rq_iter;
	struct bio_vec bv;
	size_t done = 0;

	rq_for_each_segment(bv, rq, rq_iter) {
		size_t len, copied;

		if (offset >= bv.bv_len) {
			offset -= bv.bv_len;
			continue;
		}
		len = min_t(size_t, bv.bv_len - offset, max - done);
		if (to_user)
			copied = copy_page_to_iter(bv.bv_page,
						   bv.bv_offset + offset, len,
						   iter);
		else
			copied = copy_page_from_iter(bv.bv_page,
						     bv.bv_offset + offset, len,
						     iter);
		done += copied;
		offset = 0;
		if (copied < len || done == max || !iov_iter_count(iter))
			break;
	}
	return done;
}

/**
 * ublk_copy_with_server_buf - copy mode transfer with the server buffer
 * @rq: request with data
 * @addr: server virtual address
 * @len: bytes to transfer at most
 * @to_server: true for WRITE data going to the server
 *
 * Runs in the server task (task work or its own io command), so @addr is
 * resolved in the server's mm.
 *
 * Return: bytes copied.
 */
static size_t ublk_copy_with_server_buf(struct request *rq, u64 addr,
					size_t len, bool to_server)
{
	struct iov_iter iter;

	if (!current->mm || !len)
		return 0;
	if (import_ubuf(to_server ? ITER_DEST : ITER_SOURCE,
			u64_to_user_ptr(addr), len, &iter))
		return 0;
	return ublk_copy_rq_data(rq, 0, len, &iter, to_server);
}

/* ------------------------------------------------------------------ */
/* ending requests                                                     */
/* ------------------------------------------------------------------ */

/*
 * ublk_end_rq - end a request after its last reference was dropped
 *
 * Success results shorter than the request complete what was done and
 * requeue the rest (it will be dispatched again, possibly on another tag).
 * A result of zero bytes for a data request is an error, so that a server
 * that always returns 0 cannot livelock the request.
 */
static void ublk_end_rq(struct request *rq)
{
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	struct ublk_queue *ubq = rq->mq_hctx->driver_data;
	unsigned int lbs = ublk_lbs(ubq->dev);
	unsigned int done;
	int res = data->res;

	if (data->abort == UBLK_ABORT_REQUEUE) {
		blk_mq_requeue_request(rq, true);
		return;
	}
	if (data->abort == UBLK_ABORT_FAIL) {
		blk_mq_end_request(rq, BLK_STS_IOERR);
		return;
	}
	if (res < 0) {
		blk_mq_end_request(rq, errno_to_blk_status(res));
		return;
	}

	switch (req_op(rq)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		done = min_t(unsigned int, res, data->deliv_bytes);
		if (done >= blk_rq_bytes(rq)) {
			blk_mq_end_request(rq, BLK_STS_OK);
			return;
		}
		done = round_down(done, lbs);
		if (!done) {
			blk_mq_end_request(rq, BLK_STS_IOERR);
			return;
		}
		if (blk_update_request(rq, BLK_STS_OK, done))
			blk_mq_requeue_request(rq, true);
		else
			__blk_mq_end_request(rq, BLK_STS_OK);
		return;
	case REQ_OP_ZONE_APPEND:
		rq->__sector = data->zone_lba;
		blk_mq_end_request(rq, BLK_STS_OK);
		return;
	default:
		blk_mq_end_request(rq, BLK_STS_OK);
		return;
	}
}

/* drop one request reference, ending the request on the last one */
static inline void ublk_put_rq_ref(struct request *rq)
{
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);

	if (refcount_dec_and_test(&data->ref))
		ublk_end_rq(rq);
}

/* ------------------------------------------------------------------ */
/* zero copy: io_uring registrations of request pages                  */
/* ------------------------------------------------------------------ */

/*
 * Take the references of one io_uring registration of @rq's pages: a
 * request reference and a device reference, see "Zero copy" above. @rq is
 * bound to its slot (DISPATCH or OWNED), so the commit reference is still
 * there and the device is alive.
 */
static void ublk_buf_reg_get_locked(struct ublk_queue *ubq,
				    struct request *rq)
{
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);

	lockdep_assert_held(&ubq->lock);
	refcount_inc(&data->ref);
	data->nr_regs++;
	get_device(&ubq->dev->cdev_dev);
}

/**
 * ublk_io_release - io_uring is done with one registration of a request
 * @priv: the struct request whose pages were registered
 *
 * The release callback passed to io_buffer_register_bvec(), called exactly
 * once per successful registration; also undoes the references of a
 * registration that failed. Drops what ublk_buf_reg_get_locked() took. The
 * last request reference ends the request with the result stored by COMMIT
 * or by the abort, so a request is ended once, after its COMMIT and after
 * every registration is gone.
 *
 * Context: process context. From io_uring always with the ring's
 * uring_lock held: inside io_buffer_unregister_bvec(), when the last
 * fixed-buffer request using the pages is freed, or from the ring's exit
 * work, possibly after the char device was released and the device
 * stopped (the device reference keeps the queues and the tag set alive).
 * Takes ubq->lock, may end the request, never calls into io_uring.
 */
static void ublk_io_release(void *priv)
{
	struct request *rq = priv;
	struct ublk_queue *ubq = rq->mq_hctx->driver_data;
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	struct ublk_device *ub = ubq->dev;
	unsigned long flags;

	spin_lock_irqsave(&ubq->lock, flags);
	if (!WARN_ON_ONCE(!data->nr_regs))
		data->nr_regs--;
	spin_unlock_irqrestore(&ubq->lock, flags);

	/* may end @rq; the device reference is dropped last */
	ublk_put_rq_ref(rq);
	ublk_put_device(ub);
}

/*
 * Detach the request of a DISPATCH or OWNED slot that no server will
 * complete, and tell ublk_end_rq() what to do with it. Called with
 * ubq->lock held; the caller drops the commit reference after unlocking.
 */
static struct request *ublk_detach_rq_locked(struct ublk_queue *ubq,
					     struct ublk_io *io)
{
	struct request *rq = io->req;
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	bool delivered = io->state == UBLK_IO_OWNED;

	lockdep_assert_held(&ubq->lock);

	/*
	 * Requests the server never saw are queued for the next server when
	 * recovery keeps I/O; delivered ones only with REISSUE.
	 */
	if (ubq->nosrv_requeue &&
	    (!delivered || (ubq->flags & UBLK_F_USER_RECOVERY_REISSUE)))
		data->abort = UBLK_ABORT_REQUEUE;
	else
		data->abort = UBLK_ABORT_FAIL;

	io->req = NULL;
	io->need_get_data = false;
	/* the registration, if any, stays until its ring lets go of it */
	io->auto_reg = false;
	return rq;
}

/*
 * Abort every request a vanished server still owns on @ubq. With @task set
 * only those owned by that task. Parked commands are aborted too when
 * @abort_cmds (used when no io command can be pending any more).
 */
static void ublk_abort_queue(struct ublk_queue *ubq, struct task_struct *task,
			     bool abort_cmds)
{
	unsigned int tag;

	for (tag = 0; tag < ubq->depth; tag++) {
		struct ublk_io *io = &ubq->ios[tag];
		struct io_uring_cmd *cmd = NULL;
		struct request *rq = NULL;
		unsigned long flags;

		spin_lock_irqsave(&ubq->lock, flags);
		if (io->state == UBLK_IO_OWNED && (!task || io->task == task)) {
			rq = ublk_detach_rq_locked(ubq, io);
			io->state = UBLK_IO_IDLE;
		} else if (abort_cmds && io->state == UBLK_IO_FETCHED) {
			cmd = io->cmd;
			io->cmd = NULL;
			io->state = UBLK_IO_IDLE;
		}
		spin_unlock_irqrestore(&ubq->lock, flags);

		if (rq)
			ublk_put_rq_ref(rq);
		if (cmd)
			io_uring_cmd_done(cmd, UBLK_IO_RES_ABORT, 0,
					  IO_URING_F_UNLOCKED);
	}
}

/* complete every parked FETCH command of @ubq with UBLK_IO_RES_ABORT */
static void ublk_abort_fetches(struct ublk_queue *ubq)
{
	unsigned int tag;

	for (tag = 0; tag < ubq->depth; tag++) {
		struct ublk_io *io = &ubq->ios[tag];
		struct io_uring_cmd *cmd = NULL;
		unsigned long flags;

		spin_lock_irqsave(&ubq->lock, flags);
		if (io->state == UBLK_IO_FETCHED) {
			cmd = io->cmd;
			io->cmd = NULL;
			io->state = UBLK_IO_IDLE;
		}
		spin_unlock_irqrestore(&ubq->lock, flags);

		if (cmd)
			io_uring_cmd_done(cmd, UBLK_IO_RES_ABORT, 0,
					  IO_URING_F_UNLOCKED);
	}
}

static void ublk_set_queue_flags(struct ublk_queue *ubq, bool canceling,
				 bool fetch_closed)
{
	unsigned long flags;

	spin_lock_irqsave(&ubq->lock, flags);
	ubq->canceling = canceling;
	ubq->fetch_closed = fetch_closed;
	spin_unlock_irqrestore(&ubq->lock, flags);
}

/* no server: mark every queue so that nothing is bound to a slot any more */
static void ublk_close_queues(struct ublk_device *ub)
{
	unsigned int i;

	for (i = 0; i < ub->nr_queues; i++)
		ublk_set_queue_flags(ub->queues[i], true, true);
}

static void ublk_set_nosrv_requeue(struct ublk_device *ub, bool requeue)
{
	unsigned int i;

	for (i = 0; i < ub->nr_queues; i++) {
		struct ublk_queue *ubq = ub->queues[i];
		unsigned long flags;

		spin_lock_irqsave(&ubq->lock, flags);
		ubq->nosrv_requeue = requeue;
		spin_unlock_irqrestore(&ubq->lock, flags);
	}
}

/* what a LIVE device does with I/O when its server disappears */
static bool ublk_live_nosrv_requeue(const struct ublk_device *ub)
{
	return ublk_dev_recoverable(ub) &&
		!(ub->dev_info.flags & UBLK_F_USER_RECOVERY_FAIL_IO);
}

/* ------------------------------------------------------------------ */
/* blk-mq                                                              */
/* ------------------------------------------------------------------ */

static u32 ublk_rq_op_flags(struct request *rq)
{
	u32 flags = 0;

	if (rq->cmd_flags & REQ_FAILFAST_DEV)
		flags |= UBLK_IO_F_FAILFAST_DEV;
	if (rq->cmd_flags & REQ_FAILFAST_TRANSPORT)
		flags |= UBLK_IO_F_FAILFAST_TRANSPORT;
	if (rq->cmd_flags & REQ_FAILFAST_DRIVER)
		flags |= UBLK_IO_F_FAILFAST_DRIVER;
	if (rq->cmd_flags & REQ_META)
		flags |= UBLK_IO_F_META;
	if (rq->cmd_flags & REQ_FUA)
		flags |= UBLK_IO_F_FUA;
	if (rq->cmd_flags & REQ_NOUNMAP)
		flags |= UBLK_IO_F_NOUNMAP;
	if (rq->cmd_flags & REQ_SWAP)
		flags |= UBLK_IO_F_SWAP;
	return flags;
}

/*
 * Fill the descriptor of @rq's tag. The server only reads it after the
 * tag's command completes, and the tag belongs to @rq until it ends.
 */
static blk_status_t ublk_setup_iod(struct ublk_queue *ubq, struct request *rq)
{
	struct ublksrv_io_desc *iod = &ubq->io_cmd_buf[rq->tag];
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	u32 op;

	switch (req_op(rq)) {
	case REQ_OP_READ:
		op = UBLK_IO_OP_READ;
		break;
	case REQ_OP_WRITE:
		op = UBLK_IO_OP_WRITE;
		break;
	case REQ_OP_FLUSH:
		op = UBLK_IO_OP_FLUSH;
		break;
	case REQ_OP_DISCARD:
		op = UBLK_IO_OP_DISCARD;
		break;
	case REQ_OP_WRITE_ZEROES:
		op = UBLK_IO_OP_WRITE_ZEROES;
		break;
#ifdef CONFIG_BLK_DEV_ZONED
	case REQ_OP_ZONE_OPEN:
		op = UBLK_IO_OP_ZONE_OPEN;
		break;
	case REQ_OP_ZONE_CLOSE:
		op = UBLK_IO_OP_ZONE_CLOSE;
		break;
	case REQ_OP_ZONE_FINISH:
		op = UBLK_IO_OP_ZONE_FINISH;
		break;
	case REQ_OP_ZONE_RESET:
		op = UBLK_IO_OP_ZONE_RESET;
		break;
	case REQ_OP_ZONE_RESET_ALL:
		op = UBLK_IO_OP_ZONE_RESET_ALL;
		break;
	case REQ_OP_ZONE_APPEND:
		op = UBLK_IO_OP_ZONE_APPEND;
		break;
	case REQ_OP_DRV_IN:
		/* only issued by ublk_report_zones() */
		if (!ublk_dev_zoned(ubq->dev))
			return BLK_STS_NOTSUPP;
		iod->op_flags = UBLK_IO_OP_REPORT_ZONES;
		iod->nr_zones = data->nr_zones;
		iod->start_sector = blk_rq_pos(rq);
		iod->addr = 0;
		data->deliv_bytes = blk_rq_bytes(rq);
		return BLK_STS_OK;
#endif
	default:
		return BLK_STS_NOTSUPP;
	}

	iod->op_flags = op | ublk_rq_op_flags(rq);
	iod->nr_sectors = blk_rq_sectors(rq);
	iod->start_sector = blk_rq_pos(rq);
	iod->addr = 0;
	data->deliv_bytes = ublk_rq_has_data(rq) ? blk_rq_bytes(rq) : 0;
	return BLK_STS_OK;
}

/* outcome of trying to bind a request to its slot */
enum ublk_bind {
	UBLK_BIND_OK,		/* bound, task work must be queued */
	UBLK_BIND_REQUEUE,	/* no server, park it on the requeue list */
	UBLK_BIND_FAIL,		/* fail the request */
};

/* Bind @rq (started) to its slot, unless the queue has no server. */
static enum ublk_bind ublk_bind_rq(struct ublk_queue *ubq, struct request *rq,
				   struct io_uring_cmd **cmdp)
{
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	struct ublk_io *io = &ubq->ios[rq->tag];
	enum ublk_bind ret = UBLK_BIND_OK;
	unsigned long flags;

	spin_lock_irqsave(&ubq->lock, flags);
	if (unlikely(ubq->canceling)) {
		ret = ubq->nosrv_requeue ? UBLK_BIND_REQUEUE : UBLK_BIND_FAIL;
	} else if (unlikely(io->state != UBLK_IO_FETCHED)) {
		/* cannot happen while the queue is not canceling */
		ret = UBLK_BIND_FAIL;
	} else {
		refcount_set(&data->ref, 1);
		data->res = 0;
		data->abort = UBLK_ABORT_NONE;
		data->nr_regs = 0;
		io->state = UBLK_IO_DISPATCH;
		io->req = rq;
		*cmdp = io->cmd;
	}
	spin_unlock_irqrestore(&ubq->lock, flags);
	return ret;
}

static void ublk_dispatch_tw(struct io_uring_cmd *cmd, unsigned int issue_flags);

/*
 * Park a request for the next server without kicking the requeue list.
 * END_USER_RECOVERY and STOP change the queue flags under ubq->lock and
 * then kick the list; a request added after their kick is caught by
 * looking at the flags again here, so none is left behind.
 */
static void ublk_park_rq(struct ublk_queue *ubq, struct request *rq)
{
	struct request_queue *q = rq->q;
	unsigned long flags;
	bool kick;

	blk_mq_requeue_request(rq, false);

	spin_lock_irqsave(&ubq->lock, flags);
	kick = !ubq->canceling || !ubq->nosrv_requeue;
	spin_unlock_irqrestore(&ubq->lock, flags);
	if (kick)
		blk_mq_kick_requeue_list(q);
}

static blk_status_t ublk_prep_and_bind(struct ublk_queue *ubq,
				       struct request *rq,
				       struct io_uring_cmd **cmdp)
{
	blk_status_t sts;

	sts = ublk_setup_iod(ubq, rq);
	if (unlikely(sts != BLK_STS_OK))
		return sts;

	blk_mq_start_request(rq);
	switch (ublk_bind_rq(ubq, rq, cmdp)) {
	case UBLK_BIND_OK:
		return BLK_STS_OK;
	case UBLK_BIND_REQUEUE:
		*cmdp = NULL;
		ublk_park_rq(ubq, rq);
		return BLK_STS_OK;
	default:
		*cmdp = NULL;
		blk_mq_end_request(rq, BLK_STS_IOERR);
		return BLK_STS_OK;
	}
}

static blk_status_t ublk_queue_rq(struct blk_mq_hw_ctx *hctx,
				  const struct blk_mq_queue_data *bd)
{
	struct ublk_queue *ubq = hctx->driver_data;
	struct io_uring_cmd *cmd = NULL;
	blk_status_t sts;

	sts = ublk_prep_and_bind(ubq, bd->rq, &cmd);
	if (cmd)
		io_uring_cmd_complete_in_task(cmd, ublk_dispatch_tw);
	return sts;
}

/*
 * Batch submission: bind all requests first, then queue the task work,
 * lazily except for the last request of each queue in the batch, which
 * wakes the server up.
 */
static void ublk_queue_rqs(struct rq_list *rqlist)
{
	struct rq_list bound = { };
	struct rq_list rest = { };
	struct request *rq;

	while ((rq = rq_list_pop(rqlist))) {
		struct ublk_queue *ubq = rq->mq_hctx->driver_data;
		struct io_uring_cmd *cmd = NULL;

		if (ublk_prep_and_bind(ubq, rq, &cmd) != BLK_STS_OK)
			rq_list_add_tail(&rest, rq);
		else if (cmd)
			rq_list_add_tail(&bound, rq);
	}

	while ((rq = rq_list_pop(&bound))) {
		struct ublk_queue *ubq = rq->mq_hctx->driver_data;
		struct request *next = rq_list_peek(&bound);
		/* stable: the slot stays DISPATCH until its task work runs */
		struct io_uring_cmd *cmd = ubq->ios[rq->tag].cmd;

		if (next && next->mq_hctx == rq->mq_hctx)
			io_uring_cmd_do_in_task_lazy(cmd, ublk_dispatch_tw);
		else
			io_uring_cmd_complete_in_task(cmd, ublk_dispatch_tw);
	}
	*rqlist = rest;
}

/*
 * Requests owned by a live server are its business: the timer is reset.
 * If the server is gone (queue canceling and the owning task exiting) the
 * request is aborted here, in case the char device is never released
 * (e.g. its fd was inherited by another process). An unprivileged server
 * that sits on a request is killed, its exit then cleans up.
 *
 * A request that was committed (or aborted) but is still pinned by io_uring
 * registrations of its pages cannot be ended by us: only the ring holding
 * them can let go, when the server unregisters them or the ring goes away.
 * While the device lives that is the server's business too. But once the
 * disk is being deleted (STOP_DEV, DEL_DEV) del_gendisk() waits for this
 * request, with ub->mutex held, and a server that never unregisters (a
 * bug, or an UNREGISTER_IO_BUF that failed) typically waits for its parked
 * commands to be aborted before it exits and closes its rings, which
 * STOP_DEV does only after del_gendisk(): nothing would move again. So a
 * pinned request that times out on a dying disk closes all queues and
 * aborts their parked commands; the server exits, its rings release the
 * pages and the request ends.
 */
static enum blk_eh_timer_return ublk_timeout(struct request *rq)
{
	struct ublk_queue *ubq = rq->mq_hctx->driver_data;
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	struct ublk_io *io = &ubq->ios[rq->tag];
	struct ublk_device *ub = ubq->dev;
	struct request *abort_rq = NULL;
	bool pinned = false;
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&ubq->lock, flags);
	if (io->state == UBLK_IO_OWNED && io->req == rq) {
		/*
		 * A request whose server is exiting, or one not committed
		 * within its timeout while the disk is being deleted (the
		 * server may have closed its ring but kept /dev/ublkcN open,
		 * and del_gendisk() waits for every request), is failed.
		 */
		if ((ubq->canceling && (io->task->flags & PF_EXITING)) ||
		    test_bit(GD_DEAD, &rq->q->disk->state)) {
			abort_rq = ublk_detach_rq_locked(ubq, io);
			io->state = UBLK_IO_IDLE;
		} else if ((ubq->flags & UBLK_F_UNPRIVILEGED_DEV) &&
			   !ubq->kill_sent) {
			send_sig(SIGKILL, io->task, 0);
			ubq->kill_sent = true;
		}
	} else if (io->req != rq && data->nr_regs) {
		/* no longer the slot's: committed or aborted, pinned */
		pinned = true;
	}
	spin_unlock_irqrestore(&ubq->lock, flags);

	if (abort_rq) {
		ublk_put_rq_ref(abort_rq);
		return BLK_EH_DONE;
	}
	if (pinned && test_bit(GD_DEAD, &rq->q->disk->state)) {
		/* the queues and their parked commands outlive the request */
		for (i = 0; i < ub->nr_queues; i++) {
			ublk_set_queue_flags(ub->queues[i], true, true);
			ublk_abort_fetches(ub->queues[i]);
		}
	}
	return BLK_EH_RESET_TIMER;
}

static int ublk_init_hctx(struct blk_mq_hw_ctx *hctx, void *driver_data,
			  unsigned int hctx_idx)
{
	struct ublk_device *ub = driver_data;

	hctx->driver_data = ub->queues[hctx_idx];
	return 0;
}

static const struct blk_mq_ops ublk_mq_ops = {
	.queue_rq	= ublk_queue_rq,
	.queue_rqs	= ublk_queue_rqs,
	.init_hctx	= ublk_init_hctx,
	.timeout	= ublk_timeout,
};

/* ------------------------------------------------------------------ */
/* io commands                                                         */
/* ------------------------------------------------------------------ */

/**
 * ublk_auto_buf_reg - register a request's pages for UBLK_F_AUTO_BUF_REG
 * @ubq: queue
 * @rq: request bound to the slot, with data
 * @cmd: the slot's parked command, whose ring gets the buffer
 * @index: buffer index the parked command asked for
 * @issue_flags: issue_flags of @cmd's task work (uring_lock held)
 *
 * Called from the task work delivering @rq, while the slot is DISPATCH.
 *
 * Return: 0 when registered (the registration holds its own references),
 * else the error of io_buffer_register_bvec(); nothing is left registered.
 */
static int ublk_auto_buf_reg(struct ublk_queue *ubq, struct request *rq,
			     struct io_uring_cmd *cmd, u16 index,
			     unsigned int issue_flags)
{
	unsigned long flags;
	int ret;

	spin_lock_irqsave(&ubq->lock, flags);
	ublk_buf_reg_get_locked(ubq, rq);
	spin_unlock_irqrestore(&ubq->lock, flags);

	ret = io_buffer_register_bvec(cmd, rq, ublk_io_release, index,
				      issue_flags);
	/* not the last reference: the commit one is ours */
	if (ret)
		ublk_io_release(rq);
	return ret;
}

/*
 * ublk_dispatch_tw - deliver a bound request to the server
 *
 * Task work queued by ->queue_rq(), runs in the task that issued the
 * parked command (or in io_uring's fallback context with
 * IO_URING_F_TASK_DEAD when that task is gone), with the ring's uring_lock
 * held in 6.12. Copy mode WRITE data is copied into the server buffer
 * here, in the server's mm. With UBLK_F_AUTO_BUF_REG the request pages are
 * registered on the command's ring before the command completes; if that
 * fails the request is failed with -EIO and the command stays parked, or,
 * with UBLK_AUTO_BUF_REG_FALLBACK, delivered with UBLK_IO_F_NEED_REG_BUF.
 */
static void ublk_dispatch_tw(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct ublk_uring_cmd_pdu *pdu = ublk_cmd_pdu(cmd);
	struct ublk_queue *ubq = pdu->ubq;
	struct ublk_io *io = &ubq->ios[pdu->tag];
	struct request *rq = io->req;	/* stable while DISPATCH */
	struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);
	struct ublksrv_io_desc *iod = &ubq->io_cmd_buf[pdu->tag];
	bool dead = issue_flags & IO_URING_F_TASK_DEAD;
	/* set by the parked command, stable while DISPATCH */
	u16 auto_index = io->auto_index;
	struct io_uring_cmd *abort_cmd = NULL;
	struct request *put_rq = NULL;
	int res = UBLK_IO_RES_OK;
	bool copy_failed = false;
	bool reg_failed = false;
	bool registered = false;
	unsigned long flags;

	if (!dead && ublk_q_auto_buf_reg(ubq) && ublk_rq_has_data(rq)) {
		if (!ublk_auto_buf_reg(ubq, rq, cmd, auto_index, issue_flags))
			registered = true;
		else if (io->auto_flags & UBLK_AUTO_BUF_REG_FALLBACK)
			iod->op_flags |= UBLK_IO_F_NEED_REG_BUF;
		else
			reg_failed = true;
	}

	if (!dead && !ublk_q_no_copy(ubq)) {
		iod->addr = io->addr;
		if (req_op(rq) == REQ_OP_WRITE && ublk_rq_has_data(rq)) {
			if (ubq->flags & UBLK_F_NEED_GET_DATA) {
				res = UBLK_IO_RES_NEED_GET_DATA;
			} else {
				size_t done;

				done = ublk_copy_with_server_buf(rq, io->addr,
								 blk_rq_bytes(rq),
								 true);
				if (done < blk_rq_bytes(rq)) {
					done = round_down(done,
							  ublk_lbs(ubq->dev));
					iod->nr_sectors = done >> SECTOR_SHIFT;
					data->deliv_bytes = done;
					copy_failed = !done;
				}
			}
		}
	}

	spin_lock_irqsave(&ubq->lock, flags);
	if (dead) {
		/* the issuing task or its ring is gone: no server any more */
		ubq->canceling = true;
		ubq->fetch_closed = true;
	}
	if (ubq->canceling || copy_failed || reg_failed) {
		put_rq = ublk_detach_rq_locked(ubq, io);
		if (!ubq->canceling) {
			/*
			 * Bad server buffer or failed registration: fail the
			 * request, keep the cmd.
			 */
			data->abort = UBLK_ABORT_NONE;
			data->res = copy_failed ? -EFAULT : -EIO;
		}
		if (ubq->fetch_closed) {
			io->state = UBLK_IO_IDLE;
			io->cmd = NULL;
			abort_cmd = cmd;
		} else {
			/* keep the command parked for the next request */
			io->state = UBLK_IO_FETCHED;
		}
	} else {
		io->state = UBLK_IO_OWNED;
		io->cmd = NULL;
		io->need_get_data = res == UBLK_IO_RES_NEED_GET_DATA;
		io->auto_reg = registered;
		io->reg_index = auto_index;
		io->reg_ring = ublk_cmd_ring(cmd);
	}
	spin_unlock_irqrestore(&ubq->lock, flags);

	if (put_rq) {
		/* never delivered: take the registration back, then end it */
		if (registered)
			io_buffer_unregister_bvec(cmd, auto_index, issue_flags);
		ublk_put_rq_ref(put_rq);
		if (abort_cmd)
			io_uring_cmd_done(abort_cmd, UBLK_IO_RES_ABORT, 0,
					  issue_flags);
		return;
	}
	io_uring_cmd_done(cmd, res, 0, issue_flags);
}

/*
 * ublk_cancel_cmd - io_uring cancels a parked command (ring exit or the
 * issuing task exits). The queue loses its server: nothing is bound to its
 * slots any more and the command is completed with UBLK_IO_RES_ABORT,
 * unless a request is bound to it already (DISPATCH), in which case the
 * queued task work completes it. If the issuing task is exiting, the
 * requests it owns can never be committed and are aborted now.
 */
static void ublk_cancel_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct ublk_uring_cmd_pdu *pdu = ublk_cmd_pdu(cmd);
	struct ublk_queue *ubq = pdu->ubq;
	struct ublk_io *io = &ubq->ios[pdu->tag];
	struct task_struct *task = io_uring_cmd_get_task(cmd);
	bool scan = false, done = false;
	unsigned long flags;

	spin_lock_irqsave(&ubq->lock, flags);
	ubq->canceling = true;
	ubq->fetch_closed = true;
	if (io->state == UBLK_IO_FETCHED && io->cmd == cmd) {
		io->state = UBLK_IO_IDLE;
		io->cmd = NULL;
		done = true;
	}
	if ((task->flags & PF_EXITING) && ubq->exit_scanned != task) {
		ubq->exit_scanned = task;
		scan = true;
	}
	spin_unlock_irqrestore(&ubq->lock, flags);

	if (done)
		io_uring_cmd_done(cmd, UBLK_IO_RES_ABORT, 0, issue_flags);
	if (scan)
		ublk_abort_queue(ubq, task, false);
}

static void ublk_queue_fetched_one(struct ublk_queue *ubq)
{
	struct ublk_device *ub = ubq->dev;

	if (++ubq->nr_fetched == ubq->depth &&
	    atomic_inc_return(&ub->nr_queues_ready) == ub->nr_queues)
		complete_all(&ub->completion);
}

/*
 * Remember @task as the slot's task, returning the reference to drop
 * (after unlocking) for the previous one.
 */
static struct task_struct *ublk_io_set_task(struct ublk_io *io,
					    struct task_struct *task)
{
	struct task_struct *old = io->task;

	if (old == task)
		return NULL;
	io->task = get_task_struct(task);
	return old;
}

/*
 * UBLK_F_AUTO_BUF_REG: the registration a FETCH/COMMIT_AND_FETCH asks for,
 * in the SQE's addr field (not in the 16-byte io command). Reserved bits
 * and unknown flags must be zero.
 */
static int ublk_get_auto_buf_reg(struct io_uring_cmd *cmd, u16 *index,
				 u8 *flags)
{
	struct ublk_auto_buf_reg reg;

	reg = ublk_sqe_addr_to_auto_buf_reg(READ_ONCE(cmd->sqe->addr));
	if (reg.reserved0 || reg.reserved1 ||
	    (reg.flags & ~UBLK_AUTO_BUF_REG_F_MASK))
		return -EINVAL;
	*index = reg.index;
	*flags = reg.flags;
	return 0;
}

static int ublk_fetch(struct io_uring_cmd *cmd, struct ublk_queue *ubq,
		      u16 tag, u64 addr, unsigned int issue_flags)
{
	struct task_struct *task = io_uring_cmd_get_task(cmd);
	struct ublk_io *io = &ubq->ios[tag];
	struct task_struct *old = NULL;
	unsigned long flags;
	u16 auto_index = 0;
	u8 auto_flags = 0;
	int ret = 0;

	/* the server moves the data itself: no buffer to name */
	if (ublk_q_no_copy(ubq) ? addr :
	    !addr && !(ubq->flags & UBLK_F_NEED_GET_DATA))
		return -EINVAL;
	if (ublk_q_auto_buf_reg(ubq)) {
		ret = ublk_get_auto_buf_reg(cmd, &auto_index, &auto_flags);
		if (ret)
			return ret;
	}

	/* publish nothing before the command can be canceled */
	ublk_cmd_pdu(cmd)->ubq = ubq;
	ublk_cmd_pdu(cmd)->tag = tag;
	io_uring_cmd_mark_cancelable(cmd, issue_flags);

	spin_lock_irqsave(&ubq->lock, flags);
	if (ubq->fetch_closed) {
		ret = UBLK_IO_RES_ABORT;
	} else if (io->state != UBLK_IO_IDLE) {
		ret = -EBUSY;
	} else if (!ublk_per_io_daemon(ubq) && ubq->daemon &&
		   ubq->daemon != task) {
		ret = -EINVAL;
	} else {
		if (!ublk_per_io_daemon(ubq) && !ubq->daemon)
			ubq->daemon = get_task_struct(task);
		old = ublk_io_set_task(io, task);
		io->cmd = cmd;
		io->addr = addr;
		io->auto_index = auto_index;
		io->auto_flags = auto_flags;
		io->state = UBLK_IO_FETCHED;
		ublk_queue_fetched_one(ubq);
	}
	spin_unlock_irqrestore(&ubq->lock, flags);

	if (old)
		put_task_struct(old);
	if (ret)
		io_uring_cmd_done(cmd, ret, 0, issue_flags);
	return -EIOCBQUEUED;
}

#ifdef CONFIG_BLK_DEV_ZONED
/* a zone append result must lie inside the zone the request targeted */
static bool ublk_zone_lba_valid(struct ublk_queue *ubq, struct request *rq,
				u64 lba)
{
	u64 zone_sectors = ubq->dev->params.basic.chunk_sectors;
	u64 zone_start = blk_rq_pos(rq) & ~(zone_sectors - 1);

	return lba >= zone_start &&
		lba + blk_rq_sectors(rq) <= zone_start + zone_sectors;
}
#else
static bool ublk_zone_lba_valid(struct ublk_queue *ubq, struct request *rq,
				u64 lba)
{
	return false;
}
#endif

static int ublk_commit_and_fetch(struct io_uring_cmd *cmd,
				 struct ublk_queue *ubq, u16 tag, int result,
				 u64 addr, unsigned int issue_flags)
{
	struct task_struct *task = io_uring_cmd_get_task(cmd);
	struct ublk_io *io = &ubq->ios[tag];
	struct ublk_rq_data *data = NULL;
	struct request *rq = NULL;
	bool abort_cmd = false;
	bool unreg = false;
	u16 unreg_index = 0;
	u16 auto_index = 0;
	u8 auto_flags = 0;
	unsigned long flags;
	int ret = 0;

	/* for the next request of the tag; nothing is committed on error */
	if (ublk_q_auto_buf_reg(ubq)) {
		ret = ublk_get_auto_buf_reg(cmd, &auto_index, &auto_flags);
		if (ret)
			return ret;
	}

	ublk_cmd_pdu(cmd)->ubq = ubq;
	ublk_cmd_pdu(cmd)->tag = tag;
	io_uring_cmd_mark_cancelable(cmd, issue_flags);

	spin_lock_irqsave(&ubq->lock, flags);
	if (io->state != UBLK_IO_OWNED || io->task != task) {
		ret = -EINVAL;
		goto unlock;
	}
	rq = io->req;
	data = blk_mq_rq_to_pdu(rq);

	if (req_op(rq) == REQ_OP_ZONE_APPEND) {
		/* the addr field carries the LBA the data was written at */
		if (result >= 0 && !ublk_zone_lba_valid(ubq, rq, addr))
			result = -EIO;
		data->zone_lba = addr;
		addr = 0;
	} else if (ublk_q_no_copy(ubq)) {
		if (addr) {
			ret = -EINVAL;
			rq = NULL;
			goto unlock;
		}
	} else if (!addr && (!(ubq->flags & UBLK_F_NEED_GET_DATA) ||
			     req_op(rq) == REQ_OP_READ)) {
		/* copy mode needs the buffer holding READ data */
		ret = -EINVAL;
		rq = NULL;
		goto unlock;
	}

	data->res = result;
	if (io->auto_reg) {
		/*
		 * Only the ring that got the automatic registration can take
		 * it back (a COMMIT from another ring leaves that to the
		 * server). If no registration of the request is left, the
		 * server removed it already and the index may hold another
		 * buffer by now: leave it alone.
		 */
		unreg = io->reg_ring == ublk_cmd_ring(cmd) && data->nr_regs;
		unreg_index = io->reg_index;
		io->auto_reg = false;
	}
	io->req = NULL;
	io->need_get_data = false;
	if (ubq->fetch_closed) {
		io->state = UBLK_IO_IDLE;
		abort_cmd = true;
	} else {
		io->state = UBLK_IO_FETCHED;
		io->cmd = cmd;
		io->addr = addr;
		io->auto_index = auto_index;
		io->auto_flags = auto_flags;
	}
unlock:
	spin_unlock_irqrestore(&ubq->lock, flags);

	if (ret) {
		io_uring_cmd_done(cmd, ret, 0, issue_flags);
		return -EIOCBQUEUED;
	}

	/*
	 * -EINVAL: the server unregistered it itself. The release callback
	 * may run right here and drop a reference, never the last one: the
	 * commit reference is still ours.
	 */
	if (unreg)
		io_buffer_unregister_bvec(cmd, unreg_index, issue_flags);

	/*
	 * Copy mode READ: the data is in the buffer passed with this command.
	 * The slot may already hold the re-parked command, but no new request
	 * can be bound to it before this one ends and frees the tag, which
	 * cannot happen before we drop the commit reference below.
	 */
	if (req_op(rq) == REQ_OP_READ && ublk_need_copy(ubq, rq) &&
	    data->res > 0) {
		size_t len = min_t(size_t, data->res, data->deliv_bytes);
		size_t done = ublk_copy_with_server_buf(rq, addr, len, false);

		if (done < len)
			data->res = done;
	}
	ublk_put_rq_ref(rq);

	if (abort_cmd)
		io_uring_cmd_done(cmd, UBLK_IO_RES_ABORT, 0, issue_flags);
	return -EIOCBQUEUED;
}

/*
 * UBLK_F_NEED_GET_DATA: the server supplies the buffer for a WRITE that was
 * delivered with UBLK_IO_RES_NEED_GET_DATA; copy the data into it. Completes
 * synchronously with UBLK_IO_RES_OK.
 */
static int ublk_need_get_data(struct io_uring_cmd *cmd, struct ublk_queue *ubq,
			      u16 tag, u64 addr)
{
	struct task_struct *task = io_uring_cmd_get_task(cmd);
	struct ublk_io *io = &ubq->ios[tag];
	struct ublksrv_io_desc *iod = &ubq->io_cmd_buf[tag];
	struct ublk_rq_data *data;
	struct request *rq = NULL;
	unsigned long flags;
	size_t done;
	int ret = 0;

	if (!addr)
		return -EINVAL;

	spin_lock_irqsave(&ubq->lock, flags);
	if (io->state != UBLK_IO_OWNED || !io->need_get_data ||
	    io->task != task) {
		ret = -EINVAL;
	} else {
		rq = io->req;
		data = blk_mq_rq_to_pdu(rq);
		refcount_inc(&data->ref);
		io->need_get_data = false;
		io->addr = addr;
		iod->addr = addr;
	}
	spin_unlock_irqrestore(&ubq->lock, flags);
	if (ret)
		return ret;

	done = ublk_copy_with_server_buf(rq, addr, blk_rq_bytes(rq), true);
	if (done < blk_rq_bytes(rq)) {
		done = round_down(done, ublk_lbs(ubq->dev));
		iod->nr_sectors = done >> SECTOR_SHIFT;
		data->deliv_bytes = done;
		if (!done)
			ret = -EFAULT;
	}
	ublk_put_rq_ref(rq);
	return ret ? ret : UBLK_IO_RES_OK;
}

/**
 * ublk_register_io_buf - UBLK_U_IO_REGISTER_IO_BUF
 * @cmd: the command, on the ring whose fixed buffer table gets the buffer
 * @ubq: queue
 * @tag: tag of the request
 * @index: slot in the ring's fixed buffer table
 * @issue_flags: issue_flags of @cmd, passed on to io_uring
 *
 * Put the pages of the request the server owns on @tag (delivered, not yet
 * committed) into the fixed buffer table of @cmd's ring. Any number of
 * registrations, on any rings, are allowed; each holds the request until
 * io_uring releases it (ublk_io_release()). Without
 * UBLK_F_BUF_REG_OFF_DAEMON only the slot's task may register.
 *
 * Return: 0; -EINVAL if @index does not fit a fixed buffer index, the
 * caller is not the slot's task, the slot holds no request owned by the
 * server (never delivered, committed or aborted) or the request has no
 * data; else the error of io_buffer_register_bvec() (-EBUSY slot in use,
 * -EINVAL no table or @index out of range, -ENOMEM).
 */
static int ublk_register_io_buf(struct io_uring_cmd *cmd,
				struct ublk_queue *ubq, u16 tag, u64 index,
				unsigned int issue_flags)
{
	struct task_struct *task = io_uring_cmd_get_task(cmd);
	struct ublk_io *io = &ubq->ios[tag];
	struct request *rq = NULL;
	unsigned long flags;
	int ret;

	if (index > U16_MAX)
		return -EINVAL;

	spin_lock_irqsave(&ubq->lock, flags);
	if (io->state == UBLK_IO_OWNED &&
	    (ublk_q_buf_reg_off_daemon(ubq) || io->task == task) &&
	    ublk_rq_has_data(io->req)) {
		rq = io->req;
		ublk_buf_reg_get_locked(ubq, rq);
	}
	spin_unlock_irqrestore(&ubq->lock, flags);
	if (!rq)
		return -EINVAL;

	ret = io_buffer_register_bvec(cmd, rq, ublk_io_release, index,
				      issue_flags);
	/* may be the last reference if the request was committed meanwhile */
	if (ret)
		ublk_io_release(rq);
	return ret;
}

/**
 * ublk_unregister_io_buf - UBLK_U_IO_UNREGISTER_IO_BUF
 * @cmd: the command, on the ring holding the buffer
 * @ub: device
 * @q_id: queue of the request, ignored with UBLK_F_BUF_REG_OFF_DAEMON
 * @tag: tag of the request, ignored with UBLK_F_BUF_REG_OFF_DAEMON
 * @index: slot in the ring's fixed buffer table
 * @issue_flags: issue_flags of @cmd, passed on to io_uring
 *
 * Remove a kernel buffer from @cmd's ring. The slot state does not matter
 * (unregistering after COMMIT is how the server lets the request end), and
 * the buffer table does not say whose buffer it is: the server owns its
 * indexes. The release callback may run inline.
 *
 * Return: -EINVAL if @index does not fit a fixed buffer index, or, without
 * UBLK_F_BUF_REG_OFF_DAEMON, @q_id/@tag are out of range or the caller is
 * not the slot's task; else the result of io_buffer_unregister_bvec() (0,
 * or -EINVAL for an empty slot, a user buffer, no table, out of range).
 */
static int ublk_unregister_io_buf(struct io_uring_cmd *cmd,
				  struct ublk_device *ub, u16 q_id, u16 tag,
				  u64 index, unsigned int issue_flags)
{
	if (index > U16_MAX)
		return -EINVAL;

	if (!(ub->dev_info.flags & UBLK_F_BUF_REG_OFF_DAEMON)) {
		struct task_struct *task = io_uring_cmd_get_task(cmd);
		struct ublk_queue *ubq;
		unsigned long flags;
		bool ok;

		if (q_id >= ub->dev_info.nr_hw_queues)
			return -EINVAL;
		ubq = ub->queues[q_id];
		if (tag >= ubq->depth)
			return -EINVAL;
		spin_lock_irqsave(&ubq->lock, flags);
		ok = ubq->ios[tag].task == task;
		spin_unlock_irqrestore(&ubq->lock, flags);
		if (!ok)
			return -EINVAL;
	}
	return io_buffer_unregister_bvec(cmd, index, issue_flags);
}

static int ublk_io_cmd_nr(u32 cmd_op)
{
	switch (cmd_op) {
	case UBLK_U_IO_FETCH_REQ:
		return UBLK_IO_FETCH_REQ;
	case UBLK_U_IO_COMMIT_AND_FETCH_REQ:
		return UBLK_IO_COMMIT_AND_FETCH_REQ;
	case UBLK_U_IO_NEED_GET_DATA:
		return UBLK_IO_NEED_GET_DATA;
	/* only in the ioctl encoding */
	case UBLK_U_IO_REGISTER_IO_BUF:
		return UBLK_IO_REGISTER_IO_BUF;
	case UBLK_U_IO_UNREGISTER_IO_BUF:
		return UBLK_IO_UNREGISTER_IO_BUF;
#ifdef CONFIG_BLKDEV_UBLK_LEGACY_OPCODES
	case UBLK_IO_FETCH_REQ:
	case UBLK_IO_COMMIT_AND_FETCH_REQ:
	case UBLK_IO_NEED_GET_DATA:
		return cmd_op;
#endif
	default:
		return -EOPNOTSUPP;
	}
}

static int ublk_ch_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	const struct ublksrv_io_cmd *ub_src = io_uring_sqe_cmd(cmd->sqe);
	struct ublk_device *ub = cmd->file->private_data;
	struct ublk_queue *ubq;
	u16 q_id, tag;
	int result, nr;
	u64 addr;

	if (unlikely(issue_flags & IO_URING_F_CANCEL)) {
		ublk_cancel_cmd(cmd, issue_flags);
		return 0;
	}

	/* the SQE may live in memory shared with userspace: read it once */
	q_id = READ_ONCE(ub_src->q_id);
	tag = READ_ONCE(ub_src->tag);
	result = READ_ONCE(ub_src->result);
	addr = READ_ONCE(ub_src->addr);

	nr = ublk_io_cmd_nr(cmd->cmd_op);
	if (nr < 0)
		return nr;
	if ((nr == UBLK_IO_REGISTER_IO_BUF ||
	     nr == UBLK_IO_UNREGISTER_IO_BUF) && !ublk_dev_buf_reg(ub))
		return -EINVAL;
	/* q_id and tag may be meaningless: checked there if needed */
	if (nr == UBLK_IO_UNREGISTER_IO_BUF)
		return ublk_unregister_io_buf(cmd, ub, q_id, tag, addr,
					      issue_flags);
	if (q_id >= ub->dev_info.nr_hw_queues)
		return -EINVAL;
	ubq = ub->queues[q_id];
	if (tag >= ubq->depth)
		return -EINVAL;

	switch (nr) {
	case UBLK_IO_FETCH_REQ:
		return ublk_fetch(cmd, ubq, tag, addr, issue_flags);
	case UBLK_IO_COMMIT_AND_FETCH_REQ:
		return ublk_commit_and_fetch(cmd, ubq, tag, result, addr,
					     issue_flags);
	case UBLK_IO_NEED_GET_DATA:
		if (!(ubq->flags & UBLK_F_NEED_GET_DATA))
			return -EINVAL;
		return ublk_need_get_data(cmd, ubq, tag, addr);
	case UBLK_IO_REGISTER_IO_BUF:
		return ublk_register_io_buf(cmd, ubq, tag, addr, issue_flags);
	default:
		return -EOPNOTSUPP;
	}
}

/* ------------------------------------------------------------------ */
/* /dev/ublkcN                                                         */
/* ------------------------------------------------------------------ */

static int ublk_ch_open(struct inode *inode, struct file *filp)
{
	struct ublk_device *ub = container_of(inode->i_cdev,
					      struct ublk_device, cdev);

	if (test_and_set_bit(UB_STATE_OPEN, &ub->state_bits))
		return -EBUSY;
	filp->private_data = ub;
	return 0;
}

static void ublk_stop_dev_locked(struct ublk_device *ub);
static void ublk_reset_queue(struct ublk_queue *ubq, bool recovery);

/*
 * Stop a device whose server went away (ublk_ch_release()) from a work
 * item: del_gendisk() waits for requests that io_uring buffer
 * registrations may still pin, and the rings holding them can need the
 * exiting server task (its task work) to finish their teardown, while that
 * task may be the one running ublk_ch_release().
 */
static void ublk_stop_work_fn(struct work_struct *work)
{
	struct ublk_device *ub = container_of(work, struct ublk_device,
					      stop_work);

	mutex_lock(&ub->mutex);
	ublk_stop_dev_locked(ub);
	mutex_unlock(&ub->mutex);
	ublk_put_device(ub);
}

/*
 * ublk_ch_release - the server closed /dev/ublkcN for good
 *
 * Every io command holds a reference on the file, so none is pending here:
 * the requests the server still owned are aborted (failed or requeued),
 * then the device moves to its no-server state under ub->mutex: stopped
 * without recovery, FAIL_IO or QUIESCED with it. The abort comes first and
 * without ub->mutex so that a STOP_DEV waiting in del_gendisk() with the
 * mutex held can make progress. Aborted requests whose pages are still
 * registered in an io_uring buffer table end when the last registration is
 * released; for such devices the stop is done by ublk_stop_work_fn(), so
 * that closing the char device never waits for an io_uring ring.
 */
static int ublk_ch_release(struct inode *inode, struct file *filp)
{
	struct ublk_device *ub = filp->private_data;
	unsigned int i;

	ublk_close_queues(ub);
	for (i = 0; i < ub->nr_queues; i++)
		ublk_abort_queue(ub->queues[i], NULL, true);

	/* wake START_DEV/END_USER_RECOVERY waiting for FETCHes */
	complete_all(&ub->completion);

	mutex_lock(&ub->mutex);
	if (!ub->started && !test_bit(UB_STATE_DELETED, &ub->state_bits)) {
		/* never started: let another server open it and fetch again */
		for (i = 0; i < ub->nr_queues; i++)
			ublk_reset_queue(ub->queues[i], false);
		atomic_set(&ub->nr_queues_ready, 0);
		reinit_completion(&ub->completion);
	} else if (ub->ub_disk && ub->dev_info.state == UBLK_S_DEV_LIVE) {
		if (!ublk_dev_recoverable(ub) && ublk_dev_buf_reg(ub)) {
			/* the queues are closed: new I/O fails meanwhile */
			get_device(&ub->cdev_dev);
			if (!queue_work(system_long_wq, &ub->stop_work))
				ublk_put_device(ub);
		} else if (!ublk_dev_recoverable(ub)) {
			ublk_stop_dev_locked(ub);
		} else if (ub->dev_info.flags & UBLK_F_USER_RECOVERY_FAIL_IO) {
			ub->dev_info.state = UBLK_S_DEV_FAIL_IO;
			ublk_set_nosrv_requeue(ub, false);
			blk_mq_kick_requeue_list(ub->ub_disk->queue);
		} else {
			ub->dev_info.state = UBLK_S_DEV_QUIESCED;
		}
	}
	clear_bit(UB_STATE_OPEN, &ub->state_bits);
	mutex_unlock(&ub->mutex);
	return 0;
}

/*
 * The descriptor array of queue q is at q * UBLK_MAX_CMD_BUF_SIZE and must
 * be mapped whole and read-only.
 */
static int ublk_ch_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct ublk_device *ub = filp->private_data;
	unsigned long stride = UBLK_MAX_CMD_BUF_SIZE >> PAGE_SHIFT;
	unsigned long sz = vma->vm_end - vma->vm_start;
	unsigned long q_id;

	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
	if (vma->vm_pgoff % stride)
		return -EINVAL;
	q_id = vma->vm_pgoff / stride;
	if (q_id >= ub->dev_info.nr_hw_queues)
		return -EINVAL;
	if (sz != ublk_cmd_buf_size(ub))
		return -EINVAL;

	vm_flags_clear(vma, VM_MAYWRITE);
	return remap_vmalloc_range(vma, ub->queues[q_id]->io_cmd_buf, 0);
}

/**
 * ublk_user_copy_get_rq - find the request addressed by a user copy offset
 * @ub: device
 * @pos: file offset of pread/pwrite
 * @dir: ITER_DEST for pread (request -> server), ITER_SOURCE for pwrite
 * @offp: returns the byte offset inside the request data
 *
 * Takes a request reference, which the caller drops with
 * ublk_put_rq_ref(). Only requests currently owned by the server are found,
 * and only in the direction their data flows: a WRITE may only be read,
 * a READ (or zone report) only written.
 *
 * Return: the request or an ERR_PTR().
 */
static struct request *ublk_user_copy_get_rq(struct ublk_device *ub, loff_t pos,
					     int dir, size_t *offp)
{
	struct ublk_queue *ubq;
	struct ublk_io *io;
	struct request *rq;
	unsigned long flags;
	bool to_server;
	u16 q_id, tag;
	u64 off;

	/* zero copy implies the user copy offsets, as in mainline */
	if (!(ub->dev_info.flags &
	      (UBLK_F_USER_COPY | UBLK_F_SUPPORT_ZERO_COPY)))
		return ERR_PTR(-EACCES);
	if (pos < UBLKSRV_IO_BUF_OFFSET)
		return ERR_PTR(-EINVAL);
	off = pos - UBLKSRV_IO_BUF_OFFSET;
	if (off >= UBLKSRV_IO_BUF_TOTAL_SIZE)
		return ERR_PTR(-EINVAL);	/* includes the integrity flag */

	q_id = (off >> UBLK_QID_OFF) & UBLK_QID_BITS_MASK;
	tag = (off >> UBLK_TAG_OFF) & UBLK_TAG_BITS_MASK;
	*offp = off & UBLK_IO_BUF_BITS_MASK;

	if (q_id >= ub->dev_info.nr_hw_queues)
		return ERR_PTR(-EINVAL);
	ubq = ub->queues[q_id];
	if (tag >= ubq->depth)
		return ERR_PTR(-EINVAL);
	io = &ubq->ios[tag];

	spin_lock_irqsave(&ubq->lock, flags);
	rq = io->state == UBLK_IO_OWNED ? io->req : NULL;
	if (rq) {
		struct ublk_rq_data *data = blk_mq_rq_to_pdu(rq);

		refcount_inc(&data->ref);
	}
	spin_unlock_irqrestore(&ubq->lock, flags);
	if (!rq)
		return ERR_PTR(-EINVAL);

	/* pread is for data going out of the request, pwrite into it */
	to_server = dir == ITER_DEST;
	if (!ublk_rq_has_data(rq) || op_is_write(req_op(rq)) != to_server) {
		ublk_put_rq_ref(rq);
		return ERR_PTR(-EACCES);
	}
	if (*offp >= blk_rq_bytes(rq)) {
		ublk_put_rq_ref(rq);
		return ERR_PTR(-EINVAL);
	}
	return rq;
}

static ssize_t ublk_ch_user_copy(struct kiocb *iocb, struct iov_iter *iter,
				 int dir)
{
	struct ublk_device *ub = iocb->ki_filp->private_data;
	struct request *rq;
	size_t off, len, done;

	if (!iov_iter_count(iter))
		return 0;

	rq = ublk_user_copy_get_rq(ub, iocb->ki_pos, dir, &off);
	if (IS_ERR(rq))
		return PTR_ERR(rq);

	len = min_t(size_t, iov_iter_count(iter), blk_rq_bytes(rq) - off);
	done = ublk_copy_rq_data(rq, off, len, iter, dir == ITER_DEST);
	ublk_put_rq_ref(rq);

	if (!done)
		return -EFAULT;
	iocb->ki_pos += done;
	return done;
}

/* pread: the server reads WRITE data */
static ssize_t ublk_ch_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	return ublk_ch_user_copy(iocb, to, ITER_DEST);
}

/* pwrite: the server fills READ data (or a zone report) */
static ssize_t ublk_ch_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	return ublk_ch_user_copy(iocb, from, ITER_SOURCE);
}

static const struct file_operations ublk_ch_fops = {
	.owner		= THIS_MODULE,
	.open		= ublk_ch_open,
	.release	= ublk_ch_release,
	.read_iter	= ublk_ch_read_iter,
	.write_iter	= ublk_ch_write_iter,
	.uring_cmd	= ublk_ch_uring_cmd,
	.mmap		= ublk_ch_mmap,
};

/* ------------------------------------------------------------------ */
/* zoned                                                               */
/* ------------------------------------------------------------------ */

#ifdef CONFIG_BLK_DEV_ZONED
/* zone report buffer: as many zones as one request can carry, at most */
static void *ublk_alloc_report_buf(struct gendisk *disk, unsigned int nr_zones,
				   size_t *lenp)
{
	struct request_queue *q = disk->queue;
	size_t len = (size_t)nr_zones * sizeof(struct blk_zone);
	void *buf;

	len = min_t(size_t, len, queue_max_hw_sectors(q) << SECTOR_SHIFT);
	len = min_t(size_t, len, (size_t)queue_max_segments(q) << PAGE_SHIFT);
	len = min_t(size_t, len, (size_t)BIO_MAX_VECS << PAGE_SHIFT);
	len = round_down(len, sizeof(struct blk_zone));

	while (len >= sizeof(struct blk_zone)) {
		buf = __vmalloc(len, GFP_KERNEL | __GFP_ZERO | __GFP_NORETRY);
		if (buf) {
			*lenp = len;
			return buf;
		}
		len = round_down(len / 2, sizeof(struct blk_zone));
	}
	return NULL;
}

/*
 * ->report_zones(): ask the server with UBLK_IO_OP_REPORT_ZONES requests;
 * it writes struct blk_zone entries into the request with pwrite(), a
 * zeroed entry (or the end of the data) ends the report.
 */
static int ublk_report_zones(struct gendisk *disk, sector_t sector,
			     unsigned int nr_zones, report_zones_cb cb,
			     void *cb_data)
{
	struct ublk_device *ub = disk->private_data;
	unsigned int zone_sectors = ub->params.basic.chunk_sectors;
	unsigned int shift = ilog2(zone_sectors);
	unsigned int total = (get_capacity(disk) + zone_sectors - 1) >> shift;
	unsigned int first = sector >> shift;
	unsigned int done = 0;
	size_t buf_len;
	void *buf;
	int ret = 0;

	if (first >= total)
		return 0;
	nr_zones = min(nr_zones, total - first);
	buf = ublk_alloc_report_buf(disk, nr_zones, &buf_len);
	if (!buf)
		return -ENOMEM;

	while (done < nr_zones) {
		unsigned int want = min_t(unsigned int, nr_zones - done,
					  buf_len / sizeof(struct blk_zone));
		struct ublk_rq_data *data;
		struct blk_zone *zones = buf;
		struct request *rq;
		blk_status_t sts;
		unsigned int i;

		memset(buf, 0, buf_len);
		rq = blk_mq_alloc_request(disk->queue, REQ_OP_DRV_IN, 0);
		if (IS_ERR(rq)) {
			ret = PTR_ERR(rq);
			break;
		}
		data = blk_mq_rq_to_pdu(rq);
		data->nr_zones = want;
		ret = blk_rq_map_kern(disk->queue, rq, buf,
				      want * sizeof(struct blk_zone),
				      GFP_KERNEL);
		if (ret) {
			blk_mq_free_request(rq);
			break;
		}
		rq->__sector = sector;
		sts = blk_execute_rq(rq, false);
		blk_mq_free_request(rq);
		if (sts != BLK_STS_OK) {
			ret = blk_status_to_errno(sts);
			break;
		}

		for (i = 0; i < want; i++) {
			struct blk_zone zone = zones[i];

			if (!zone.len)
				break;
			ret = cb(&zone, done, cb_data);
			if (ret)
				goto out;
			done++;
			sector = zone.start + zone.len;
		}
		if (i < want || sector >= get_capacity(disk))
			break;
	}
out:
	kvfree(buf);
	return ret ? ret : done;
}
#else
#define ublk_report_zones	NULL
#endif

/* ------------------------------------------------------------------ */
/* the disk                                                            */
/* ------------------------------------------------------------------ */

static int ublk_bd_open(struct gendisk *disk, blk_mode_t mode)
{
	struct ublk_device *ub = disk->private_data;

	if (READ_ONCE(ub->block_open))
		return -ENXIO;

	/*
	 * An unprivileged device may only be opened by its owner: it could
	 * otherwise be a trap handed to other users.
	 */
	if (ublk_dev_unprivileged(ub)) {
		u32 uid = from_kuid(&init_user_ns, current_uid());
		u32 gid = from_kgid(&init_user_ns, current_gid());

		if (uid != ub->dev_info.owner_uid ||
		    gid != ub->dev_info.owner_gid)
			return -EPERM;
	}
	return 0;
}

/* the disk's reference on the device, taken in ublk_add_disk() */
static void ublk_free_disk(struct gendisk *disk)
{
	struct ublk_device *ub = disk->private_data;

	ublk_put_device(ub);
}

static const struct block_device_operations ublk_bd_ops = {
	.owner		= THIS_MODULE,
	.open		= ublk_bd_open,
	.free_disk	= ublk_free_disk,
	.report_zones	= ublk_report_zones,
};

/* ------------------------------------------------------------------ */
/* parameters                                                          */
/* ------------------------------------------------------------------ */

/* end offset of each parameter block inside struct ublk_params */
static const struct {
	u32 type;
	size_t end;
} ublk_param_ends[] = {
	{ UBLK_PARAM_TYPE_BASIC, offsetofend(struct ublk_params, basic) },
	{ UBLK_PARAM_TYPE_DISCARD, offsetofend(struct ublk_params, discard) },
	{ UBLK_PARAM_TYPE_DEVT, offsetofend(struct ublk_params, devt) },
	{ UBLK_PARAM_TYPE_ZONED, offsetofend(struct ublk_params, zoned) },
	{ UBLK_PARAM_TYPE_DMA_ALIGN, offsetofend(struct ublk_params, dma) },
	{ UBLK_PARAM_TYPE_SEGMENT, offsetofend(struct ublk_params, seg) },
	{ UBLK_PARAM_TYPE_INTEGRITY,
	  offsetofend(struct ublk_params, integrity) },
};

static int ublk_validate_basic(const struct ublk_device *ub,
			       const struct ublk_params *p)
{
	const struct ublk_param_basic *b = &p->basic;
	u32 max_sectors = ub->dev_info.max_io_buf_bytes >> SECTOR_SHIFT;

	if (b->logical_bs_shift < SECTOR_SHIFT ||
	    b->logical_bs_shift > PAGE_SHIFT)
		return -EINVAL;
	if (b->physical_bs_shift < b->logical_bs_shift ||
	    b->physical_bs_shift > 31)
		return -EINVAL;
	if (b->io_min_shift > 31 || b->io_opt_shift > 31)
		return -EINVAL;
	if (b->max_sectors > max_sectors)
		return -EINVAL;
	/* the block layer needs a page and a logical block per request */
	if (b->max_sectors &&
	    (b->max_sectors < (PAGE_SIZE >> SECTOR_SHIFT) ||
	     b->max_sectors < (1U << (b->logical_bs_shift - SECTOR_SHIFT))))
		return -EINVAL;
	if (b->virt_boundary_mask &&
	    (b->virt_boundary_mask > ULONG_MAX ||
	     b->virt_boundary_mask < SECTOR_SIZE - 1 ||
	     !is_power_of_2(b->virt_boundary_mask + 1)))
		return -EINVAL;
	return 0;
}

static int ublk_validate_discard(const struct ublk_params *p)
{
	const struct ublk_param_discard *d = &p->discard;

	/* one range per request: start_sector/nr_sectors of the descriptor */
	if (d->max_discard_sectors && d->max_discard_segments != 1)
		return -EINVAL;
	if (d->max_discard_sectors && !d->discard_granularity)
		return -EINVAL;
	return 0;
}

static int ublk_validate_zoned(const struct ublk_device *ub,
			       const struct ublk_params *p)
{
	const struct ublk_param_zoned *z = &p->zoned;
	u32 zone_sectors = p->basic.chunk_sectors;
	u64 nr_zones;

	if (!ublk_dev_zoned(ub) || !(p->types & UBLK_PARAM_TYPE_BASIC))
		return -EINVAL;
	if (!zone_sectors || !is_power_of_2(zone_sectors) ||
	    zone_sectors > p->basic.dev_sectors)
		return -EINVAL;
	if (!z->max_zone_append_sectors)
		return -EINVAL;
	nr_zones = DIV_ROUND_UP_ULL(p->basic.dev_sectors, zone_sectors);
	if (!nr_zones || nr_zones > UINT_MAX)
		return -EINVAL;
	if (z->max_open_zones > nr_zones || z->max_active_zones > nr_zones)
		return -EINVAL;
	if (z->max_active_zones && z->max_open_zones > z->max_active_zones)
		return -EINVAL;
	return 0;
}

static int ublk_validate_segment(const struct ublk_params *p)
{
	const struct ublk_param_segment *s = &p->seg;
	u64 min_seg = max_t(u64, UBLK_MIN_SEGMENT_SIZE, PAGE_SIZE);

	if (s->seg_boundary_mask != U64_MAX &&
	    (!is_power_of_2(s->seg_boundary_mask + 1) ||
	     s->seg_boundary_mask + 1 < min_seg))
		return -EINVAL;
	if (s->seg_boundary_mask > ULONG_MAX)
		return -EINVAL;
	if (s->max_segment_size < min_seg)
		return -EINVAL;
	/* a virt boundary implies unlimited segment size */
	if ((p->types & UBLK_PARAM_TYPE_BASIC) && p->basic.virt_boundary_mask &&
	    s->max_segment_size != UINT_MAX)
		return -EINVAL;
	return 0;
}

static int ublk_validate_params(const struct ublk_device *ub,
				const struct ublk_params *p)
{
	int ret;

	if (!(p->types & UBLK_PARAM_TYPE_BASIC))
		return -EINVAL;
	/* devt is read-only, integrity is not supported */
	if (p->types & (UBLK_PARAM_TYPE_DEVT | UBLK_PARAM_TYPE_INTEGRITY))
		return -EINVAL;

	ret = ublk_validate_basic(ub, p);
	if (ret)
		return ret;
	if (p->types & UBLK_PARAM_TYPE_DISCARD) {
		ret = ublk_validate_discard(p);
		if (ret)
			return ret;
	}
	if (p->types & UBLK_PARAM_TYPE_ZONED) {
		ret = ublk_validate_zoned(ub, p);
		if (ret)
			return ret;
	} else if (ublk_dev_zoned(ub)) {
		return -EINVAL;
	}
	if (p->types & UBLK_PARAM_TYPE_DMA_ALIGN) {
		if (p->dma.alignment >= PAGE_SIZE ||
		    !is_power_of_2(p->dma.alignment + 1))
			return -EINVAL;
	}
	if (p->types & UBLK_PARAM_TYPE_SEGMENT) {
		ret = ublk_validate_segment(p);
		if (ret)
			return ret;
	}
	return 0;
}

/* queue limits from the (validated) parameters */
static void ublk_fill_limits(const struct ublk_device *ub,
			     struct queue_limits *lim)
{
	const struct ublk_params *p = &ub->params;
	const struct ublk_param_basic *b = &p->basic;

	memset(lim, 0, sizeof(*lim));
	lim->max_hw_sectors = ub->dev_info.max_io_buf_bytes >> SECTOR_SHIFT;
	lim->max_segments = USHRT_MAX;
	lim->max_segment_size = UINT_MAX;

	if (p->types & UBLK_PARAM_TYPE_BASIC) {
		lim->logical_block_size = 1U << b->logical_bs_shift;
		lim->physical_block_size = 1U << b->physical_bs_shift;
		lim->io_min = 1U << b->io_min_shift;
		lim->io_opt = 1U << b->io_opt_shift;
		if (b->max_sectors)
			lim->max_hw_sectors = b->max_sectors;
		lim->chunk_sectors = b->chunk_sectors;
		lim->virt_boundary_mask = b->virt_boundary_mask;
		if (b->attrs & UBLK_ATTR_ROTATIONAL)
			lim->features |= BLK_FEAT_ROTATIONAL;
		if (b->attrs & UBLK_ATTR_VOLATILE_CACHE) {
			lim->features |= BLK_FEAT_WRITE_CACHE;
			if (b->attrs & UBLK_ATTR_FUA)
				lim->features |= BLK_FEAT_FUA;
		}
	}
	if (p->types & UBLK_PARAM_TYPE_DISCARD) {
		const struct ublk_param_discard *d = &p->discard;

		lim->discard_alignment = d->discard_alignment;
		lim->discard_granularity = d->discard_granularity;
		lim->max_hw_discard_sectors = d->max_discard_sectors;
		lim->max_write_zeroes_sectors = d->max_write_zeroes_sectors;
		lim->max_discard_segments = d->max_discard_segments;
	}
#ifdef CONFIG_BLK_DEV_ZONED
	if (p->types & UBLK_PARAM_TYPE_ZONED) {
		lim->features |= BLK_FEAT_ZONED;
		lim->max_open_zones = p->zoned.max_open_zones;
		lim->max_active_zones = p->zoned.max_active_zones;
		lim->max_zone_append_sectors = p->zoned.max_zone_append_sectors;
	}
#endif
	if (p->types & UBLK_PARAM_TYPE_DMA_ALIGN)
		lim->dma_alignment = p->dma.alignment;
	if (p->types & UBLK_PARAM_TYPE_SEGMENT) {
		lim->seg_boundary_mask = p->seg.seg_boundary_mask;
		lim->max_segment_size = p->seg.max_segment_size;
		if (p->seg.max_segments)
			lim->max_segments = p->seg.max_segments;
	}
}

/* ------------------------------------------------------------------ */
/* control commands                                                    */
/* ------------------------------------------------------------------ */

/*
 * A queue whose server closed its ring (or released the char device) no
 * longer takes commands: requests it had been given can never be
 * committed. The char device may still be open, so nothing else ends them.
 */
static void ublk_abort_orphans(struct ublk_queue *ubq)
{
	unsigned long flags;
	bool orphaned;

	spin_lock_irqsave(&ubq->lock, flags);
	orphaned = ubq->fetch_closed;
	spin_unlock_irqrestore(&ubq->lock, flags);
	if (orphaned)
		ublk_abort_queue(ubq, NULL, false);
}

/* removes the disk, then completes parked FETCH commands with ABORT */
static void ublk_stop_dev_locked(struct ublk_device *ub)
{
	struct gendisk *disk = ub->ub_disk;
	unsigned int i;

	lockdep_assert_held(&ub->mutex);

	if (disk) {
		/*
		 * Requests parked for a server that will not come back, and
		 * requests owned by a server that closed its ring, must fail
		 * now: del_gendisk() waits for all of them.
		 */
		ublk_set_nosrv_requeue(ub, false);
		for (i = 0; i < ub->nr_queues; i++)
			ublk_abort_orphans(ub->queues[i]);
		blk_mq_kick_requeue_list(disk->queue);
		del_gendisk(disk);
		ub->ub_disk = NULL;
		ub->dev_info.state = UBLK_S_DEV_DEAD;
		put_disk(disk);
	}

	ublk_close_queues(ub);
	for (i = 0; i < ub->nr_queues; i++)
		ublk_abort_fetches(ub->queues[i]);
}

static bool ublk_queues_ready(struct ublk_device *ub)
{
	unsigned int i;

	if (atomic_read(&ub->nr_queues_ready) != ub->nr_queues)
		return false;
	for (i = 0; i < ub->nr_queues; i++) {
		struct ublk_queue *ubq = ub->queues[i];
		unsigned long flags;
		bool ok;

		spin_lock_irqsave(&ubq->lock, flags);
		ok = !ubq->fetch_closed && ubq->nr_fetched == ubq->depth;
		spin_unlock_irqrestore(&ubq->lock, flags);
		if (!ok)
			return false;
	}
	return true;
}

static int ublk_add_disk(struct ublk_device *ub, int pid)
{
	bool no_scan = ub->dev_info.flags & UBLK_F_NO_AUTO_PART_SCAN;
	struct queue_limits lim;
	struct gendisk *disk;
	int ret;

	ublk_fill_limits(ub, &lim);
	disk = blk_mq_alloc_disk(&ub->tag_set, &lim, ub);
	if (IS_ERR(disk))
		return PTR_ERR(disk);

	disk->fops = &ublk_bd_ops;
	disk->private_data = ub;
	snprintf(disk->disk_name, sizeof(disk->disk_name), "ublkb%u",
		 ub->dev_info.dev_id);
	set_capacity(disk, ub->params.basic.dev_sectors);
	if (ub->params.basic.attrs & UBLK_ATTR_READ_ONLY)
		set_disk_ro(disk, true);
	/* user controlled data should not be parsed for partitions */
	if (ublk_dev_unprivileged(ub) || no_scan)
		set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);

	ub->dev_info.ublksrv_pid = pid;
	WRITE_ONCE(ub->block_open, false);

	if (ublk_dev_zoned(ub)) {
		ret = blk_revalidate_disk_zones(disk);
		if (ret)
			goto out_put_disk;
	}

	/* the disk's device reference, dropped by ublk_free_disk() */
	get_device(&ub->cdev_dev);
	ret = add_disk(disk);
	if (ret) {
		ublk_put_device(ub);
		goto out_put_disk;
	}
	if (no_scan && !ublk_dev_unprivileged(ub))
		clear_bit(GD_SUPPRESS_PART_SCAN, &disk->state);

	ub->ub_disk = disk;
	ub->started = true;
	ub->dev_info.state = UBLK_S_DEV_LIVE;
	ublk_set_nosrv_requeue(ub, ublk_live_nosrv_requeue(ub));
	return 0;

out_put_disk:
	ub->dev_info.ublksrv_pid = -1;
	put_disk(disk);
	return ret;
}

static int ublk_ctrl_start_dev(struct ublk_device *ub,
			       const struct ublksrv_ctrl_cmd *hdr)
{
	int pid = (int)hdr->data[0];
	int ret;

	if (pid <= 0 || hdr->data[0] > INT_MAX)
		return -EINVAL;

	if (wait_for_completion_interruptible(&ub->completion))
		return -EINTR;

	mutex_lock(&ub->mutex);
	if (test_bit(UB_STATE_DELETED, &ub->state_bits)) {
		ret = -ENODEV;
	} else if (ub->ub_disk || ub->dev_info.state != UBLK_S_DEV_DEAD) {
		ret = -EEXIST;
	} else if (ub->started) {
		/* stopped devices are not restarted */
		ret = -EINVAL;
	} else if (!test_bit(UB_STATE_OPEN, &ub->state_bits) ||
		   !ublk_queues_ready(ub)) {
		/* the server went away, or the device was stopped before */
		ret = -ENODEV;
	} else if (ublk_dev_zoned(ub) &&
		   !(ub->params.types & UBLK_PARAM_TYPE_ZONED)) {
		/* a zoned device needs its zoned parameters (SET_PARAMS) */
		ret = -EINVAL;
	} else {
		ret = ublk_add_disk(ub, pid);
	}
	mutex_unlock(&ub->mutex);
	return ret;
}

static int ublk_ctrl_stop_dev(struct ublk_device *ub)
{
	mutex_lock(&ub->mutex);
	ublk_stop_dev_locked(ub);
	mutex_unlock(&ub->mutex);
	return 0;
}

static int ublk_ctrl_try_stop_dev(struct ublk_device *ub)
{
	struct gendisk *disk;
	int ret = 0;

	mutex_lock(&ub->mutex);
	disk = ub->ub_disk;
	if (disk) {
		mutex_lock(&disk->open_mutex);
		if (disk_openers(disk))
			ret = -EBUSY;
		else
			WRITE_ONCE(ub->block_open, true);
		mutex_unlock(&disk->open_mutex);
	}
	if (!ret)
		ublk_stop_dev_locked(ub);
	mutex_unlock(&ub->mutex);
	return ret;
}

static int ublk_ctrl_get_dev_info(struct ublk_device *ub,
				  const struct ublksrv_ctrl_cmd *hdr)
{
	struct ublksrv_ctrl_dev_info info;

	if (hdr->len < sizeof(info) || !hdr->addr)
		return -EINVAL;

	/* no ub->mutex: it may be held for long by START_DEV */
	info = ub->dev_info;

	if (copy_to_user(u64_to_user_ptr(hdr->addr), &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static int ublk_ctrl_get_queue_affinity(struct ublk_device *ub,
					const struct ublksrv_ctrl_cmd *hdr)
{
	const struct blk_mq_queue_map *map = &ub->tag_set.map[HCTX_TYPE_DEFAULT];
	cpumask_var_t mask;
	unsigned int cpu;
	size_t len;
	int ret = 0;

	if (!hdr->addr || hdr->len * BITS_PER_BYTE < nr_cpu_ids ||
	    hdr->len % sizeof(unsigned long))
		return -EINVAL;
	if (hdr->data[0] >= ub->dev_info.nr_hw_queues)
		return -EINVAL;

	if (!zalloc_cpumask_var(&mask, GFP_KERNEL))
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		if (map->mq_map[cpu] == hdr->data[0])
			cpumask_set_cpu(cpu, mask);
	}
	len = min_t(size_t, hdr->len, cpumask_size());
	if (copy_to_user(u64_to_user_ptr(hdr->addr), cpumask_bits(mask), len))
		ret = -EFAULT;
	free_cpumask_var(mask);
	return ret;
}

static int ublk_ctrl_get_params(struct ublk_device *ub,
				const struct ublksrv_ctrl_cmd *hdr)
{
	void __user *argp = u64_to_user_ptr(hdr->addr);
	struct ublk_params p;
	u32 len;

	if (!hdr->addr || hdr->len < sizeof(u32))
		return -EINVAL;
	if (get_user(len, (u32 __user *)argp))
		return -EFAULT;
	if (!len || len > hdr->len)
		return -EINVAL;
	len = min_t(u32, len, sizeof(p));

	mutex_lock(&ub->mutex);
	p = ub->params;
	p.devt.char_major = MAJOR(ub->cdev_dev.devt);
	p.devt.char_minor = MINOR(ub->cdev_dev.devt);
	if (ub->ub_disk) {
		p.devt.disk_major = ub->ub_disk->major;
		p.devt.disk_minor = ub->ub_disk->first_minor;
	} else {
		p.devt.disk_major = 0;
		p.devt.disk_minor = 0;
	}
	mutex_unlock(&ub->mutex);

	p.len = sizeof(p);
	p.types |= UBLK_PARAM_TYPE_DEVT;
	if (copy_to_user(argp, &p, len))
		return -EFAULT;
	return 0;
}

static int ublk_ctrl_set_params(struct ublk_device *ub,
				const struct ublksrv_ctrl_cmd *hdr)
{
	void __user *argp = u64_to_user_ptr(hdr->addr);
	struct ublk_params p = { };
	unsigned int i;
	u32 len;
	int ret;

	if (!hdr->addr || hdr->len < 2 * sizeof(u32))
		return -EINVAL;
	if (get_user(len, (u32 __user *)argp))
		return -EFAULT;
	if (len < 2 * sizeof(u32) || len > hdr->len)
		return -EINVAL;
	len = min_t(u32, len, sizeof(p));
	if (copy_from_user(&p, argp, len))
		return -EFAULT;

	/* unknown types are ignored, known ones must fit in what was sent */
	p.types &= UBLK_PARAM_TYPE_KNOWN;
	for (i = 0; i < ARRAY_SIZE(ublk_param_ends); i++) {
		if ((p.types & ublk_param_ends[i].type) &&
		    ublk_param_ends[i].end > len)
			return -EINVAL;
	}
	p.len = len;

	ret = ublk_validate_params(ub, &p);
	if (ret)
		return ret;

	mutex_lock(&ub->mutex);
	if (ub->ub_disk)
		ret = ub->dev_info.state == UBLK_S_DEV_LIVE ? -EACCES : -EBUSY;
	else
		ub->params = p;
	mutex_unlock(&ub->mutex);
	return ret;
}

static int ublk_ctrl_update_size(struct ublk_device *ub,
				 const struct ublksrv_ctrl_cmd *hdr)
{
	u64 sectors = hdr->data[0];
	int ret = 0;

	if (!(ub->dev_info.flags & UBLK_F_UPDATE_SIZE) || ublk_dev_zoned(ub))
		return -EOPNOTSUPP;

	mutex_lock(&ub->mutex);
	if (sectors & ((ublk_lbs(ub) >> SECTOR_SHIFT) - 1)) {
		ret = -EINVAL;
	} else {
		ub->params.basic.dev_sectors = sectors;
		if (ub->ub_disk)
			set_capacity_and_notify(ub->ub_disk, sectors);
	}
	mutex_unlock(&ub->mutex);
	return ret;
}

/* true when no request is bound to a slot or owned by the server */
static bool ublk_dev_idle(struct ublk_device *ub)
{
	unsigned int i, tag;

	for (i = 0; i < ub->nr_queues; i++) {
		struct ublk_queue *ubq = ub->queues[i];
		unsigned long flags;
		bool busy = false;

		spin_lock_irqsave(&ubq->lock, flags);
		for (tag = 0; tag < ubq->depth && !busy; tag++)
			busy = ubq->ios[tag].state == UBLK_IO_DISPATCH ||
				ubq->ios[tag].state == UBLK_IO_OWNED;
		spin_unlock_irqrestore(&ubq->lock, flags);
		if (busy)
			return false;
	}
	return true;
}

/*
 * QUIESCE_DEV: stop handing requests to the live server (they wait on the
 * requeue list), let it finish what it owns, then abort its parked
 * commands so that it exits; a new server takes over with
 * START/END_USER_RECOVERY. On timeout or signal everything is undone.
 */
static int ublk_ctrl_quiesce_dev(struct ublk_device *ub,
				 const struct ublksrv_ctrl_cmd *hdr)
{
	unsigned int timeout_ms = min_t(u64, hdr->data[0], UINT_MAX);
	unsigned long deadline;
	unsigned int i;
	int ret = 0;

	if (!(ub->dev_info.flags & UBLK_F_QUIESCE))
		return -EOPNOTSUPP;

	mutex_lock(&ub->mutex);
	if (!ub->ub_disk) {
		ret = -ENODEV;
		goto unlock;
	}
	if (ub->dev_info.state != UBLK_S_DEV_LIVE) {
		ret = ub->dev_info.state == UBLK_S_DEV_QUIESCED ? 0 : -EBUSY;
		goto unlock;
	}

	ublk_set_nosrv_requeue(ub, true);
	for (i = 0; i < ub->nr_queues; i++) {
		struct ublk_queue *ubq = ub->queues[i];
		unsigned long flags;

		spin_lock_irqsave(&ubq->lock, flags);
		ubq->canceling = true;
		spin_unlock_irqrestore(&ubq->lock, flags);
	}

	deadline = jiffies + msecs_to_jiffies(timeout_ms);
	while (!ublk_dev_idle(ub)) {
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (timeout_ms && time_after(jiffies, deadline)) {
			ret = -ETIMEDOUT;
			break;
		}
		msleep(20);
	}

	if (ret) {
		/* back to normal service, unless the server went away */
		for (i = 0; i < ub->nr_queues; i++) {
			struct ublk_queue *ubq = ub->queues[i];
			unsigned long flags;

			spin_lock_irqsave(&ubq->lock, flags);
			if (!ubq->fetch_closed)
				ubq->canceling = false;
			spin_unlock_irqrestore(&ubq->lock, flags);
		}
		ublk_set_nosrv_requeue(ub, ublk_live_nosrv_requeue(ub));
		blk_mq_kick_requeue_list(ub->ub_disk->queue);
		goto unlock;
	}

	ub->dev_info.state = UBLK_S_DEV_QUIESCED;
	ublk_close_queues(ub);
	for (i = 0; i < ub->nr_queues; i++)
		ublk_abort_fetches(ub->queues[i]);
unlock:
	mutex_unlock(&ub->mutex);
	return ret;
}

/*
 * Forget the old server of @ubq; the queue is idle and nobody has the char
 * device open. For recovery, requests keep waiting (@canceling stays set
 * until END_USER_RECOVERY); before the first START the queue is simply
 * made ready for a new server.
 */
static void ublk_reset_queue(struct ublk_queue *ubq, bool recovery)
{
	struct task_struct *daemon;
	unsigned long flags;
	unsigned int tag;

	for (tag = 0; tag < ubq->depth; tag++) {
		struct ublk_io *io = &ubq->ios[tag];
		struct task_struct *task;

		spin_lock_irqsave(&ubq->lock, flags);
		task = io->task;
		io->task = NULL;
		io->addr = 0;
		spin_unlock_irqrestore(&ubq->lock, flags);
		if (task)
			put_task_struct(task);
	}

	spin_lock_irqsave(&ubq->lock, flags);
	daemon = ubq->daemon;
	ubq->daemon = NULL;
	ubq->exit_scanned = NULL;
	ubq->kill_sent = false;
	ubq->nr_fetched = 0;
	ubq->fetch_closed = false;
	ubq->nosrv_requeue = recovery;
	if (!recovery)
		ubq->canceling = false;
	spin_unlock_irqrestore(&ubq->lock, flags);
	if (daemon)
		put_task_struct(daemon);
}

static bool ublk_queue_all_idle(struct ublk_queue *ubq)
{
	unsigned long flags;
	unsigned int tag;
	bool idle = true;

	spin_lock_irqsave(&ubq->lock, flags);
	for (tag = 0; tag < ubq->depth && idle; tag++)
		idle = ubq->ios[tag].state == UBLK_IO_IDLE;
	spin_unlock_irqrestore(&ubq->lock, flags);
	return idle;
}

static int ublk_ctrl_start_recovery(struct ublk_device *ub)
{
	unsigned int i;
	int ret = 0;

	if (!ublk_dev_recoverable(ub))
		return -EINVAL;

	mutex_lock(&ub->mutex);
	if (!ub->ub_disk || test_bit(UB_STATE_OPEN, &ub->state_bits) ||
	    (ub->dev_info.state != UBLK_S_DEV_QUIESCED &&
	     ub->dev_info.state != UBLK_S_DEV_FAIL_IO)) {
		ret = -EBUSY;
		goto unlock;
	}
	for (i = 0; i < ub->nr_queues; i++) {
		if (!ublk_queue_all_idle(ub->queues[i])) {
			ret = -EBUSY;
			goto unlock;
		}
	}

	for (i = 0; i < ub->nr_queues; i++)
		ublk_reset_queue(ub->queues[i], true);
	atomic_set(&ub->nr_queues_ready, 0);
	reinit_completion(&ub->completion);
	ub->dev_info.ublksrv_pid = -1;
	/* I/O waits for the new server from now on */
	ub->dev_info.state = UBLK_S_DEV_QUIESCED;
unlock:
	mutex_unlock(&ub->mutex);
	return ret;
}

static int ublk_ctrl_end_recovery(struct ublk_device *ub,
				  const struct ublksrv_ctrl_cmd *hdr)
{
	int pid = (int)hdr->data[0];
	unsigned int i;
	int ret = 0;

	if (!ublk_dev_recoverable(ub))
		return -EINVAL;
	if (pid <= 0 || hdr->data[0] > INT_MAX)
		return -EINVAL;

	if (wait_for_completion_interruptible(&ub->completion))
		return -EINTR;

	mutex_lock(&ub->mutex);
	if (!ub->ub_disk || ub->dev_info.state != UBLK_S_DEV_QUIESCED) {
		ret = -EBUSY;
		goto unlock;
	}
	if (!test_bit(UB_STATE_OPEN, &ub->state_bits) ||
	    !ublk_queues_ready(ub)) {
		ret = -ENODEV;
		goto unlock;
	}

	ub->dev_info.ublksrv_pid = pid;
	/* every slot is parked again: serve first, then restore the mode */
	for (i = 0; i < ub->nr_queues; i++)
		ublk_set_queue_flags(ub->queues[i], false, false);
	ublk_set_nosrv_requeue(ub, ublk_live_nosrv_requeue(ub));
	ub->dev_info.state = UBLK_S_DEV_LIVE;
	blk_mq_kick_requeue_list(ub->ub_disk->queue);
unlock:
	mutex_unlock(&ub->mutex);
	return ret;
}

/* devtmpfs: the char device of an unprivileged device belongs to its owner */
static char *ublk_cdev_devnode(const struct device *dev, umode_t *mode,
			       kuid_t *uid, kgid_t *gid)
{
	const struct ublk_device *ub = container_of_const(dev,
							  struct ublk_device,
							  cdev_dev);

	/* devtmpfs asks without uid/gid when it deletes the node */
	if (ublk_dev_unprivileged(ub) && uid && gid) {
		*uid = make_kuid(&init_user_ns, ub->dev_info.owner_uid);
		*gid = make_kgid(&init_user_ns, ub->dev_info.owner_gid);
	}
	return NULL;
}

static void ublk_free_queues(struct ublk_device *ub)
{
	unsigned int i;

	for (i = 0; i < ub->nr_queues; i++) {
		struct ublk_queue *ubq = ub->queues[i];
		unsigned int tag;

		if (!ubq)
			continue;
		for (tag = 0; tag < ubq->depth; tag++) {
			if (ubq->ios[tag].task)
				put_task_struct(ubq->ios[tag].task);
		}
		if (ubq->daemon)
			put_task_struct(ubq->daemon);
		vfree(ubq->io_cmd_buf);
		kvfree(ubq);
	}
}

/*
 * Last reference gone: nothing can reach the device any more. Frees it
 * and releases its id (waking DEL_DEV) and the module reference.
 */
static void ublk_cdev_release(struct device *dev)
{
	struct ublk_device *ub = container_of(dev, struct ublk_device,
					      cdev_dev);
	int id = ub->dev_info.dev_id;

	if (ub->tag_set_ready)
		blk_mq_free_tag_set(&ub->tag_set);
	ublk_free_queues(ub);
	mutex_destroy(&ub->mutex);
	kfree(ub);

	spin_lock(&ublk_idr_lock);
	idr_remove(&ublk_index_idr, id);
	spin_unlock(&ublk_idr_lock);
	wake_up_all(&ublk_idr_wq);

	module_put(THIS_MODULE);
}

static const struct device_type ublk_cdev_type = {
	.name		= "ublk-char",
	.devnode	= ublk_cdev_devnode,
	.release	= ublk_cdev_release,
};

static int ublk_alloc_queues(struct ublk_device *ub)
{
	unsigned int depth = ub->dev_info.queue_depth;
	unsigned int i;

	for (i = 0; i < ub->nr_queues; i++) {
		struct ublk_queue *ubq;

		ubq = kvzalloc(struct_size(ubq, ios, depth), GFP_KERNEL);
		if (!ubq)
			return -ENOMEM;
		ubq->depth = depth;
		ub->queues[i] = ubq;
		ubq->dev = ub;
		ubq->flags = ub->dev_info.flags;
		ubq->q_id = i;
		spin_lock_init(&ubq->lock);
		ubq->io_cmd_buf = vmalloc_user(ublk_cmd_buf_size(ub));
		if (!ubq->io_cmd_buf)
			return -ENOMEM;
	}
	return 0;
}

static int ublk_alloc_tag_set(struct ublk_device *ub)
{
	struct blk_mq_tag_set *set = &ub->tag_set;
	int ret;

	set->ops = &ublk_mq_ops;
	set->nr_hw_queues = ub->dev_info.nr_hw_queues;
	set->queue_depth = ub->dev_info.queue_depth;
	set->numa_node = NUMA_NO_NODE;
	set->cmd_size = sizeof(struct ublk_rq_data);
	set->flags = BLK_MQ_F_SHOULD_MERGE;
	set->driver_data = ub;

	ret = blk_mq_alloc_tag_set(set);
	if (!ret)
		ub->tag_set_ready = true;
	return ret;
}

/* negotiate the flags of a new device; returns the granted set or -errno */
static s64 ublk_negotiate_flags(u64 flags)
{
	if (!(flags & UBLK_F_UNPRIVILEGED_DEV) && !capable(CAP_SYS_ADMIN))
		return -EPERM;

	/* only meaningful combinations of recovery flags */
	switch (flags & UBLK_F_RECOVERY_MASK) {
	case 0:
	case UBLK_F_USER_RECOVERY:
	case UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE:
	case UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_FAIL_IO:
		break;
	default:
		return -EINVAL;
	}
	if ((flags & UBLK_F_QUIESCE) && !(flags & UBLK_F_USER_RECOVERY))
		return -EINVAL;

	if (flags & UBLK_F_UNPRIVILEGED_DEV) {
		/*
		 * A server that never fills a READ buffer would expose
		 * kernel memory: no user copy, zero copy or automatic buffer
		 * registration (-EINVAL as in mainline; BUF_REG_OFF_DAEMON,
		 * meaningless without them, is dropped). Recovery could let
		 * an untrusted server hold I/O forever.
		 */
		if (flags & (UBLK_F_USER_COPY | UBLK_F_SUPPORT_ZERO_COPY |
			     UBLK_F_AUTO_BUF_REG | UBLK_F_ZONED))
			return -EINVAL;
		flags &= ~(UBLK_F_RECOVERY_MASK | UBLK_F_QUIESCE |
			   UBLK_F_BUF_REG_OFF_DAEMON);
	}

	/* the zone append LBA travels in addr: no copy mode buffer there */
	if ((flags & UBLK_F_ZONED) &&
	    !(flags & (UBLK_F_USER_COPY | UBLK_F_SUPPORT_ZERO_COPY)))
		return -EINVAL;

	flags &= UBLK_F_SUPPORTED;
	/* the server moves the data itself, there is no buffer to get */
	if (flags & UBLK_F_NO_COPY_MASK)
		flags &= ~UBLK_F_NEED_GET_DATA;
	return flags | UBLK_F_CMD_IOCTL_ENCODE | UBLK_F_URING_CMD_COMP_IN_TASK;
}

static int ublk_alloc_dev_id(u32 id)
{
	int ret;

	idr_preload(GFP_KERNEL);
	spin_lock(&ublk_idr_lock);
	/* reserve with NULL, published with idr_replace() once set up */
	if (id == U32_MAX) {
		ret = idr_alloc(&ublk_index_idr, NULL, 0, UBLK_MAX_UBLKS,
				GFP_NOWAIT);
	} else {
		ret = idr_alloc(&ublk_index_idr, NULL, id, id + 1, GFP_NOWAIT);
		if (ret == -ENOSPC)
			ret = -EEXIST;
	}
	spin_unlock(&ublk_idr_lock);
	idr_preload_end();
	return ret;
}

static void ublk_free_dev_id(int id)
{
	spin_lock(&ublk_idr_lock);
	idr_remove(&ublk_index_idr, id);
	spin_unlock(&ublk_idr_lock);
	wake_up_all(&ublk_idr_wq);
}

static int ublk_ctrl_add_dev(const struct ublksrv_ctrl_cmd *hdr)
{
	void __user *argp = u64_to_user_ptr(hdr->addr);
	struct ublksrv_ctrl_dev_info info;
	struct ublk_device *ub;
	bool unprivileged;
	s64 flags;
	int id, ret;

	if (hdr->len < sizeof(info) || !hdr->addr)
		return -EINVAL;
	if (hdr->queue_id != (u16)-1)
		return -EINVAL;
	if (copy_from_user(&info, argp, sizeof(info)))
		return -EFAULT;
	if (info.dev_id != hdr->dev_id)
		return -EINVAL;
	if (info.dev_id != U32_MAX && info.dev_id >= UBLK_MAX_UBLKS)
		return -EINVAL;
	if (!info.nr_hw_queues || info.nr_hw_queues > nr_cpu_ids ||
	    info.nr_hw_queues > UBLK_MAX_NR_QUEUES)
		return -EINVAL;
	if (!info.queue_depth || info.queue_depth > UBLK_MAX_QUEUE_DEPTH)
		return -EINVAL;

	flags = ublk_negotiate_flags(info.flags);
	if (flags < 0)
		return flags;
	unprivileged = flags & UBLK_F_UNPRIVILEGED_DEV;

	ret = mutex_lock_interruptible(&ublk_ctl_mutex);
	if (ret)
		return ret;
	if (unprivileged && ublks_added >= ublks_max) {
		ret = -EACCES;
		goto out_unlock;
	}

	ub = kzalloc(struct_size(ub, queues, info.nr_hw_queues), GFP_KERNEL);
	if (!ub) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	ub->nr_queues = info.nr_hw_queues;
	mutex_init(&ub->mutex);
	init_completion(&ub->completion);
	INIT_WORK(&ub->stop_work, ublk_stop_work_fn);

	id = ublk_alloc_dev_id(info.dev_id);
	if (id < 0) {
		ret = id;
		goto out_free_ub;
	}

	ub->dev_info.nr_hw_queues = info.nr_hw_queues;
	ub->dev_info.queue_depth = info.queue_depth;
	ub->dev_info.state = UBLK_S_DEV_DEAD;
	ub->dev_info.max_io_buf_bytes =
		clamp_t(u32, round_down(info.max_io_buf_bytes, PAGE_SIZE),
			PAGE_SIZE, UBLK_MAX_IO_BUF_BYTES);
	ub->dev_info.dev_id = id;
	ub->dev_info.ublksrv_pid = -1;
	ub->dev_info.flags = flags;
	ub->dev_info.ublksrv_flags = info.ublksrv_flags;
	ub->dev_info.owner_uid = from_kuid(&init_user_ns, current_uid());
	ub->dev_info.owner_gid = from_kgid(&init_user_ns, current_gid());

	ret = ublk_alloc_queues(ub);
	if (ret)
		goto out_free_queues;
	ret = ublk_alloc_tag_set(ub);
	if (ret)
		goto out_free_queues;

	/* from here on the device release callback frees everything */
	__module_get(THIS_MODULE);
	device_initialize(&ub->cdev_dev);
	ub->cdev_dev.class = &ublk_chr_class;
	ub->cdev_dev.type = &ublk_cdev_type;
	ub->cdev_dev.devt = MKDEV(MAJOR(ublk_chr_devt), id);
	ret = dev_set_name(&ub->cdev_dev, "ublkc%d", id);
	if (ret)
		goto out_put_dev;
	cdev_init(&ub->cdev, &ublk_ch_fops);
	ub->cdev.owner = THIS_MODULE;
	ret = cdev_device_add(&ub->cdev, &ub->cdev_dev);
	if (ret)
		goto out_put_dev;

	if (copy_to_user(argp, &ub->dev_info, sizeof(ub->dev_info))) {
		ret = -EFAULT;
		cdev_device_del(&ub->cdev, &ub->cdev_dev);
		goto out_put_dev;
	}

	spin_lock(&ublk_idr_lock);
	idr_replace(&ublk_index_idr, ub, id);
	spin_unlock(&ublk_idr_lock);
	if (unprivileged)
		ublks_added++;
	mutex_unlock(&ublk_ctl_mutex);
	return 0;

out_put_dev:
	/* also frees the id, the tag set and the queues */
	ublk_put_device(ub);
	goto out_unlock;
out_free_queues:
	if (ub->tag_set_ready)
		blk_mq_free_tag_set(&ub->tag_set);
	ublk_free_queues(ub);
	ublk_free_dev_id(id);
out_free_ub:
	mutex_destroy(&ub->mutex);
	kfree(ub);
out_unlock:
	mutex_unlock(&ublk_ctl_mutex);
	return ret;
}

/*
 * DEL_DEV: stop the device and remove its char device; the caller drops
 * its own reference and (unless async) waits for the id to be freed, i.e.
 * for the last user (open char device, open disk) to go away.
 */
static int ublk_ctrl_del_dev(struct ublk_device *ub)
{
	int ret;

	ret = mutex_lock_interruptible(&ublk_ctl_mutex);
	if (ret)
		return ret;

	mutex_lock(&ub->mutex);
	if (test_and_set_bit(UB_STATE_DELETED, &ub->state_bits)) {
		mutex_unlock(&ub->mutex);
		mutex_unlock(&ublk_ctl_mutex);
		return 0;
	}
	ublk_stop_dev_locked(ub);
	mutex_unlock(&ub->mutex);

	/* START_DEV may be waiting for FETCHes that never come */
	complete_all(&ub->completion);
	cdev_device_del(&ub->cdev, &ub->cdev_dev);
	if (ublk_dev_unprivileged(ub))
		ublks_added--;
	/* the creation reference */
	ublk_put_device(ub);
	mutex_unlock(&ublk_ctl_mutex);
	return 0;
}

static int ublk_ctrl_get_features(const struct ublksrv_ctrl_cmd *hdr)
{
	u64 features = UBLK_F_SUPPORTED;

	if (hdr->len < UBLK_FEATURES_LEN || !hdr->addr)
		return -EINVAL;
	if (copy_to_user(u64_to_user_ptr(hdr->addr), &features,
			 UBLK_FEATURES_LEN))
		return -EFAULT;
	return 0;
}

/* does @path name @ub's char device, with @mask access for the caller */
static int ublk_check_cdev_path(struct ublk_device *ub, const char *name,
				int mask)
{
	struct inode *inode;
	struct path path;
	int ret;

	ret = kern_path(name, LOOKUP_FOLLOW, &path);
	if (ret)
		return ret;

	inode = d_backing_inode(path.dentry);
	if (!S_ISCHR(inode->i_mode) || inode->i_rdev != ub->cdev_dev.devt)
		ret = -EINVAL;
	else
		ret = inode_permission(mnt_idmap(path.mnt), inode, mask);
	path_put(&path);
	return ret;
}

/*
 * Permission check for commands on an existing device. Privileged devices
 * need CAP_SYS_ADMIN. Unprivileged devices (and GET_DEV_INFO2 always)
 * carry the char device path in the first dev_path_len bytes of the buffer
 * at addr; the caller must have access to that node. The command's own
 * payload follows the path, @hdr is adjusted to point at it.
 */
static int ublk_ctrl_check_perm(struct ublk_device *ub, unsigned int nr,
				struct ublksrv_ctrl_cmd *hdr)
{
	char *name;
	int mask, ret;

	if (!ublk_dev_unprivileged(ub)) {
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		if (nr != UBLK_CMD_GET_DEV_INFO2)
			return 0;
	}

	switch (nr) {
	case UBLK_CMD_GET_DEV_INFO:
	case UBLK_CMD_GET_DEV_INFO2:
	case UBLK_CMD_GET_QUEUE_AFFINITY:
	case UBLK_CMD_GET_PARAMS:
		mask = MAY_READ;
		break;
	default:
		mask = MAY_READ | MAY_WRITE;
		break;
	}

	if (!hdr->dev_path_len || hdr->dev_path_len > PATH_MAX ||
	    hdr->len < hdr->dev_path_len || !hdr->addr)
		return -EINVAL;

	name = memdup_user_nul(u64_to_user_ptr(hdr->addr), hdr->dev_path_len);
	if (IS_ERR(name))
		return PTR_ERR(name);
	ret = ublk_check_cdev_path(ub, name, mask);
	kfree(name);
	if (ret)
		return ret;

	hdr->addr += hdr->dev_path_len;
	hdr->len -= hdr->dev_path_len;
	return 0;
}

/* command number from an opcode, -EOPNOTSUPP for unknown encodings */
static int ublk_ctrl_cmd_nr(u32 cmd_op)
{
	unsigned int nr = _IOC_NR(cmd_op);

	if (_IOC_TYPE(cmd_op) == 'u') {
		if (_IOC_SIZE(cmd_op) != sizeof(struct ublksrv_ctrl_cmd))
			return -EOPNOTSUPP;
		return nr;
	}
#ifdef CONFIG_BLKDEV_UBLK_LEGACY_OPCODES
	/* raw legacy numbers only exist up to GET_DEV_INFO2 */
	if (cmd_op == nr && nr <= UBLK_CMD_GET_DEV_INFO2)
		return nr;
#endif
	return -EOPNOTSUPP;
}

static int ublk_ctrl_uring_cmd(struct io_uring_cmd *cmd,
			       unsigned int issue_flags)
{
	struct ublk_device *ub;
	struct ublksrv_ctrl_cmd hdr;
	bool del_wait = false;
	int nr, ret;

	if (issue_flags & IO_URING_F_CANCEL)
		return 0;	/* never marked cancelable */
	if (!(issue_flags & IO_URING_F_SQE128))
		return -EINVAL;
	/* control commands may sleep: run them from io-wq */
	if (issue_flags & IO_URING_F_NONBLOCK)
		return -EAGAIN;

	memcpy(&hdr, io_uring_sqe_cmd(cmd->sqe), sizeof(hdr));

	nr = ublk_ctrl_cmd_nr(cmd->cmd_op);
	if (nr < 0)
		return nr;

	switch (nr) {
	case UBLK_NR_GET_FEATURES:
		return ublk_ctrl_get_features(&hdr);
	case UBLK_CMD_ADD_DEV:
		return ublk_ctrl_add_dev(&hdr);
	case UBLK_CMD_GET_QUEUE_AFFINITY:
	case UBLK_CMD_GET_DEV_INFO:
	case UBLK_CMD_DEL_DEV:
	case UBLK_CMD_START_DEV:
	case UBLK_CMD_STOP_DEV:
	case UBLK_CMD_SET_PARAMS:
	case UBLK_CMD_GET_PARAMS:
	case UBLK_CMD_START_USER_RECOVERY:
	case UBLK_CMD_END_USER_RECOVERY:
	case UBLK_CMD_GET_DEV_INFO2:
	case UBLK_NR_DEL_DEV_ASYNC:
	case UBLK_NR_UPDATE_SIZE:
	case UBLK_NR_QUIESCE_DEV:
	case UBLK_NR_TRY_STOP_DEV:
		break;
	default:
		return -EOPNOTSUPP;
	}

	ub = ublk_get_device_from_id(hdr.dev_id);
	if (!ub)
		return -ENODEV;

	ret = ublk_ctrl_check_perm(ub, nr, &hdr);
	if (ret)
		goto out;

	if (test_bit(UB_STATE_DELETED, &ub->state_bits) &&
	    nr != UBLK_CMD_DEL_DEV && nr != UBLK_NR_DEL_DEV_ASYNC) {
		ret = -ENODEV;
		goto out;
	}

	switch (nr) {
	case UBLK_CMD_GET_QUEUE_AFFINITY:
		ret = ublk_ctrl_get_queue_affinity(ub, &hdr);
		break;
	case UBLK_CMD_GET_DEV_INFO:
	case UBLK_CMD_GET_DEV_INFO2:
		ret = ublk_ctrl_get_dev_info(ub, &hdr);
		break;
	case UBLK_CMD_DEL_DEV:
		del_wait = true;
		fallthrough;
	case UBLK_NR_DEL_DEV_ASYNC:
		ret = ublk_ctrl_del_dev(ub);
		break;
	case UBLK_CMD_START_DEV:
		ret = ublk_ctrl_start_dev(ub, &hdr);
		break;
	case UBLK_CMD_STOP_DEV:
		ret = ublk_ctrl_stop_dev(ub);
		break;
	case UBLK_NR_TRY_STOP_DEV:
		ret = ublk_ctrl_try_stop_dev(ub);
		break;
	case UBLK_CMD_SET_PARAMS:
		ret = ublk_ctrl_set_params(ub, &hdr);
		break;
	case UBLK_CMD_GET_PARAMS:
		ret = ublk_ctrl_get_params(ub, &hdr);
		break;
	case UBLK_CMD_START_USER_RECOVERY:
		ret = ublk_ctrl_start_recovery(ub);
		break;
	case UBLK_CMD_END_USER_RECOVERY:
		ret = ublk_ctrl_end_recovery(ub, &hdr);
		break;
	case UBLK_NR_UPDATE_SIZE:
		ret = ublk_ctrl_update_size(ub, &hdr);
		break;
	case UBLK_NR_QUIESCE_DEV:
		ret = ublk_ctrl_quiesce_dev(ub, &hdr);
		break;
	}
out:
	ublk_put_device(ub);
	/* our reference is gone: wait for the others to let go of the id */
	if (!ret && del_wait &&
	    wait_event_interruptible(ublk_idr_wq, ublk_idr_freed(hdr.dev_id)))
		ret = -EINTR;
	return ret;
}

static const struct file_operations ublk_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.uring_cmd	= ublk_ctrl_uring_cmd,
	.llseek		= noop_llseek,
};

static struct miscdevice ublk_misc = {
	.minor		= MISC_DYNAMIC_MINOR,
	.name		= "ublk-control",
	.fops		= &ublk_ctl_fops,
};

/* ------------------------------------------------------------------ */
/* module                                                              */
/* ------------------------------------------------------------------ */

static int __init ublk_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct ublksrv_ctrl_cmd) != 32);
	BUILD_BUG_ON(sizeof(struct ublksrv_ctrl_dev_info) != 64);
	BUILD_BUG_ON(sizeof(struct ublksrv_io_desc) != 24);
	BUILD_BUG_ON(sizeof(struct ublksrv_io_cmd) != 16);
	BUILD_BUG_ON(sizeof(struct ublk_batch_io) != 16);
	BUILD_BUG_ON(sizeof(struct ublk_auto_buf_reg) != 8);
	BUILD_BUG_ON(sizeof(struct ublk_shmem_buf_reg) != 16);
	BUILD_BUG_ON(sizeof(struct ublk_param_basic) != 32);
	BUILD_BUG_ON(sizeof(struct ublk_param_discard) != 20);
	BUILD_BUG_ON(sizeof(struct ublk_param_devt) != 16);
	BUILD_BUG_ON(sizeof(struct ublk_param_zoned) != 32);
	BUILD_BUG_ON(sizeof(struct ublk_param_dma_align) != 8);
	BUILD_BUG_ON(sizeof(struct ublk_param_segment) != 16);
	BUILD_BUG_ON(sizeof(struct ublk_param_integrity) != 16);
	BUILD_BUG_ON((u64)UBLKSRV_IO_BUF_OFFSET + UBLKSRV_IO_BUF_TOTAL_SIZE >=
		     UBLKSRV_IO_INTEGRITY_FLAG);
	BUILD_BUG_ON(UBLK_IO_BUF_BITS_MASK + 1 != UBLK_MAX_IO_BUF_BYTES);

	ret = alloc_chrdev_region(&ublk_chr_devt, 0, UBLK_MINORS, "ublk-char");
	if (ret)
		return ret;
	ret = class_register(&ublk_chr_class);
	if (ret)
		goto out_chrdev;
	ret = misc_register(&ublk_misc);
	if (ret)
		goto out_class;
	return 0;

out_class:
	class_unregister(&ublk_chr_class);
out_chrdev:
	unregister_chrdev_region(ublk_chr_devt, UBLK_MINORS);
	return ret;
}

/* every device holds a module reference, so none is left here */
static void __exit ublk_exit(void)
{
	misc_deregister(&ublk_misc);
	idr_destroy(&ublk_index_idr);
	class_unregister(&ublk_chr_class);
	unregister_chrdev_region(ublk_chr_devt, UBLK_MINORS);
}

module_init(ublk_init);
module_exit(ublk_exit);

MODULE_DESCRIPTION("Userspace block device");
MODULE_LICENSE("GPL");
