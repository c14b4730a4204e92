// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ublk: the module, device lifetime and the char device.
 *
 * Module parameters, init and exit; the life of a device: ADD_DEV and
 * DEL_DEV, its id, its references and its release; /dev/ublkcN (open,
 * release, mmap of the descriptors, user copy with pread/pwrite and the
 * dispatch of the io commands to io.c and zc.c); the disk (block device
 * operations, add). The design of the driver is described in ublk.h.
 */

#include "ublk.h"

static DEFINE_MUTEX(ublk_ctl_mutex);
static DEFINE_SPINLOCK(ublk_idr_lock);
static DEFINE_IDR(ublk_index_idr);
DECLARE_WAIT_QUEUE_HEAD(ublk_idr_wq);
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

static struct ublk_device *ublk_get_device(struct ublk_device *ub)
{
	if (kobject_get_unless_zero(&ub->cdev_dev.kobj))
		return ub;
	return NULL;
}

void ublk_put_device(struct ublk_device *ub)
{
	put_device(&ub->cdev_dev);
}

struct ublk_device *ublk_get_device_from_id(int id)
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

bool ublk_idr_freed(int id)
{
	void *ptr;

	spin_lock(&ublk_idr_lock);
	ptr = idr_find(&ublk_index_idr, id);
	spin_unlock(&ublk_idr_lock);
	return !ptr;
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

int ublk_add_disk(struct ublk_device *ub, int pid)
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

int ublk_ctrl_add_dev(const struct ublksrv_ctrl_cmd *hdr)
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
int ublk_ctrl_del_dev(struct ublk_device *ub)
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
