// SPDX-License-Identifier: GPL-2.0
/*
 * kublk "zoned" target: a RAM-backed zoned block device (UBLK_F_ZONED).
 *
 * The data lives in a memfd (fixed file 1 of every queue ring), the zone
 * state in this process: for each zone its type (conventional or
 * sequential write required), condition and write pointer.  The first
 * --conv_zones zones are conventional, the others sequential; the last zone
 * is smaller when the size is not a multiple of the zone size.
 *
 *   READ           anywhere; never-written sectors read back as zeroes
 *   WRITE          conventional zones: anywhere; sequential zones: only at
 *                  the write pointer of a zone that is not full, else -EIO;
 *                  implicitly opens an empty or closed zone
 *   ZONE_APPEND    writes at the write pointer and commits with the first
 *                  sector written (zone_append_lba, in the COMMIT's addr)
 *   ZONE_OPEN/CLOSE/FINISH/RESET, RESET_ALL   the usual state machine;
 *                  reset punches the zone's range out of the memfd
 *   REPORT_ZONES   struct blk_zone entries written into the request with
 *                  pwrite() on /dev/ublkcN (user copy offsets)
 *
 * Open/active limits (--max_open, --max_active): an implicit open (write)
 * or an explicit open beyond the open limit closes an implicitly open zone
 * if there is one, else fails with -ETOOMANYREFS (BLK_STS_ZONE_OPEN_RESOURCE);
 * a zone that would exceed the active limit fails with -EOVERFLOW
 * (BLK_STS_ZONE_ACTIVE_RESOURCE).
 *
 * Data moves with user copy (-u, the default: pread/pwrite between the tag
 * buffer and the memfd) or zero copy (-z: REGISTER_IO_BUF -> READ_FIXED /
 * WRITE_FIXED on the memfd -> UNREGISTER_IO_BUF, one linked submission).
 * The zone state is updated when a request is accepted, under one lock
 * shared by the queue threads.
 */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/blkzoned.h>
#include <linux/falloc.h>
#include "kublk.h"

#define ZONED_FILE_IDX	1	/* fixed file index of the memfd */

/* target data in user_data */
#define ZONED_MAIN	0
#define ZONED_REG	1
#define ZONED_UNREG	2

struct zoned_zone {
	__u64 start;		/* sectors */
	__u64 len;
	__u64 wp;
	__u8 type;		/* BLK_ZONE_TYPE_* */
	__u8 cond;		/* BLK_ZONE_COND_* */
};

struct zoned_data {
	pthread_mutex_t lock;
	int fd;
	unsigned int nr_zones;
	__u64 zone_sectors;
	__u64 dev_sectors;
	unsigned int max_open, max_active;	/* 0: no limit */
	unsigned int nr_open;		/* implicitly + explicitly open */
	unsigned int nr_active;		/* open + closed */
	struct zoned_zone *zones;
};

static struct zoned_data *zd_of(const struct ublk_queue *q)
{
	return q->dev->tgt_data;
}

static int zoned_init(struct ublk_dev *dev)
{
	struct dev_ctx *ctx = dev->ctx;
	struct ublk_params *p = &dev->params;
	unsigned long long size = ctx->size;
	struct zoned_data *zd;
	__u64 zs = ctx->zone_size >> 9, sec;
	unsigned int i, n;
	int fd;

	if (ctx->recovering) {
		ublk_err("zoned: recovery is not supported\n");
		return -EOPNOTSUPP;
	}
	/*
	 * The parameters are checked by the driver (SET_PARAMS), not here:
	 * only what this server needs to exist at all.
	 */
	if (!size || size % 512 || size % ctx->logical_bs) {
		ublk_err("zoned: bad size %llu\n", size);
		return -EINVAL;
	}
	sec = size >> 9;
	n = zs ? (sec + zs - 1) / zs : 1;
	if (!zs || n > (1U << 20))
		n = 1;		/* bogus zone size, SET_PARAMS refuses it */

	zd = calloc(1, sizeof(*zd));
	if (!zd)
		return -ENOMEM;
	zd->zones = calloc(n, sizeof(*zd->zones));
	if (!zd->zones) {
		free(zd);
		return -ENOMEM;
	}
	fd = syscall(SYS_memfd_create, "kublk-zoned", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, size)) {
		int err = -errno;

		ublk_err("zoned: memfd of %llu bytes: %s\n", size,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		free(zd->zones);
		free(zd);
		return err;
	}
	pthread_mutex_init(&zd->lock, NULL);
	zd->fd = fd;
	zd->nr_zones = n;
	zd->zone_sectors = zs ? zs : sec;
	zd->dev_sectors = sec;
	zd->max_open = ctx->max_open;
	zd->max_active = ctx->max_active;
	for (i = 0; i < n; i++) {
		struct zoned_zone *z = &zd->zones[i];

		z->start = (__u64)i * zd->zone_sectors;
		z->len = zd->zone_sectors;
		if (z->start + z->len > sec)
			z->len = sec - z->start;
		z->wp = z->start;
		if (i < ctx->conv_zones) {
			z->type = BLK_ZONE_TYPE_CONVENTIONAL;
			z->cond = BLK_ZONE_COND_NOT_WP;
		} else {
			z->type = BLK_ZONE_TYPE_SEQWRITE_REQ;
			z->cond = BLK_ZONE_COND_EMPTY;
		}
	}
	dev->tgt_data = zd;
	dev->fds[dev->nr_fds++] = fd;	/* == ZONED_FILE_IDX */

	ublk_set_basic_params(dev, size);
	p->basic.chunk_sectors = ctx->zone_size >> 9;
	if (!ctx->zoned_no_params) {
		p->types |= UBLK_PARAM_TYPE_ZONED;
		p->zoned.max_open_zones = ctx->max_open;
		p->zoned.max_active_zones = ctx->max_active;
		p->zoned.max_zone_append_sectors = ctx->max_append_given ?
			ctx->max_append >> 9 : p->basic.max_sectors;
	}
	ublk_dbg("zoned: %u zones of %llu sectors, %u conventional, max open %u active %u\n",
		 n,
		 (unsigned long long)zd->zone_sectors, ctx->conv_zones,
		 ctx->max_open, ctx->max_active);
	return 0;
}

static void zoned_deinit(struct ublk_dev *dev)
{
	struct zoned_data *zd = dev->tgt_data;

	if (!zd)
		return;
	close(zd->fd);
	pthread_mutex_destroy(&zd->lock);
	free(zd->zones);
	free(zd);
	dev->tgt_data = NULL;
}

/* ---------------- zone state machine, zd->lock held ---------------- */

static bool zone_is_open(const struct zoned_zone *z)
{
	return z->cond == BLK_ZONE_COND_IMP_OPEN ||
		z->cond == BLK_ZONE_COND_EXP_OPEN;
}

/* an open zone stops being open: closed, or empty again */
static void zone_do_close(struct zoned_data *zd, struct zoned_zone *z)
{
	zd->nr_open--;
	if (z->wp == z->start) {
		z->cond = BLK_ZONE_COND_EMPTY;
		zd->nr_active--;
	} else {
		z->cond = BLK_ZONE_COND_CLOSED;
	}
}

/* make room for one more open zone by closing an implicitly open one */
static int zone_open_room(struct zoned_data *zd)
{
	unsigned int i;

	if (!zd->max_open || zd->nr_open < zd->max_open)
		return 0;
	for (i = 0; i < zd->nr_zones; i++) {
		if (zd->zones[i].cond == BLK_ZONE_COND_IMP_OPEN) {
			zone_do_close(zd, &zd->zones[i]);
			return 0;
		}
	}
	return -ETOOMANYREFS;
}

static int zone_open(struct zoned_data *zd, struct zoned_zone *z, bool explicit)
{
	__u8 cond = explicit ? BLK_ZONE_COND_EXP_OPEN : BLK_ZONE_COND_IMP_OPEN;
	int ret;

	switch (z->cond) {
	case BLK_ZONE_COND_EXP_OPEN:
		return 0;
	case BLK_ZONE_COND_IMP_OPEN:
		z->cond = cond;
		return 0;
	case BLK_ZONE_COND_EMPTY:
		if (zd->max_active && zd->nr_active >= zd->max_active)
			return -EOVERFLOW;
		ret = zone_open_room(zd);
		if (ret)
			return ret;
		zd->nr_active++;
		break;
	case BLK_ZONE_COND_CLOSED:
		ret = zone_open_room(zd);
		if (ret)
			return ret;
		break;
	case BLK_ZONE_COND_FULL:
		return explicit ? 0 : -EIO;
	default:
		return -EIO;
	}
	zd->nr_open++;
	z->cond = cond;
	return 0;
}

static int zone_close(struct zoned_data *zd, struct zoned_zone *z)
{
	if (zone_is_open(z))
		zone_do_close(zd, z);
	return 0;
}

static void zone_leave_active(struct zoned_data *zd, struct zoned_zone *z)
{
	if (zone_is_open(z)) {
		zd->nr_open--;
		zd->nr_active--;
	} else if (z->cond == BLK_ZONE_COND_CLOSED) {
		zd->nr_active--;
	}
}

static int zone_finish(struct zoned_data *zd, struct zoned_zone *z)
{
	zone_leave_active(zd, z);
	z->cond = BLK_ZONE_COND_FULL;
	z->wp = z->start + z->len;
	return 0;
}

static int zone_reset(struct zoned_data *zd, struct zoned_zone *z)
{
	zone_leave_active(zd, z);
	z->cond = BLK_ZONE_COND_EMPTY;
	z->wp = z->start;
	/* read back zeroes, and give the memory back */
	if (fallocate(zd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      z->start << 9, z->len << 9))
		return -errno;
	return 0;
}

/*
 * Accept a write (or append) of @nr sectors at @sector: check it against
 * the zone and move the write pointer.  Returns the sector the data goes
 * to, or a negative errno.
 */
static long long zone_write(struct zoned_data *zd, __u64 sector, __u32 nr,
			    bool append)
{
	struct zoned_zone *z;
	__u64 at;
	int ret;

	if (!nr || sector >= zd->dev_sectors)
		return -EIO;
	z = &zd->zones[sector / zd->zone_sectors];
	if (z->type == BLK_ZONE_TYPE_CONVENTIONAL) {
		if (append || sector + nr > z->start + z->len)
			return -EIO;
		return sector;
	}
	if (z->cond == BLK_ZONE_COND_FULL)
		return -EIO;
	if (append) {
		if (sector != z->start)
			return -EIO;
		at = z->wp;
	} else {
		if (sector != z->wp)
			return -EIO;	/* not at the write pointer */
		at = sector;
	}
	if (at + nr > z->start + z->len)
		return -EIO;
	if (!zone_is_open(z)) {
		ret = zone_open(zd, z, false);
		if (ret)
			return ret;
	}
	z->wp = at + nr;
	if (z->wp == z->start + z->len) {
		zd->nr_open--;
		zd->nr_active--;
		z->cond = BLK_ZONE_COND_FULL;
	}
	return at;
}

static int zone_mgmt(struct zoned_data *zd, unsigned int op, __u64 sector)
{
	struct zoned_zone *z;
	unsigned int i;
	int ret = 0;

	if (op == UBLK_IO_OP_ZONE_RESET_ALL) {
		for (i = 0; i < zd->nr_zones && !ret; i++)
			if (zd->zones[i].type != BLK_ZONE_TYPE_CONVENTIONAL)
				ret = zone_reset(zd, &zd->zones[i]);
		return ret;
	}
	if (sector >= zd->dev_sectors || sector % zd->zone_sectors)
		return -EIO;
	z = &zd->zones[sector / zd->zone_sectors];
	if (z->type == BLK_ZONE_TYPE_CONVENTIONAL)
		return -EIO;
	switch (op) {
	case UBLK_IO_OP_ZONE_OPEN:
		return zone_open(zd, z, true);
	case UBLK_IO_OP_ZONE_CLOSE:
		return zone_close(zd, z);
	case UBLK_IO_OP_ZONE_FINISH:
		return zone_finish(zd, z);
	case UBLK_IO_OP_ZONE_RESET:
		return zone_reset(zd, z);
	}
	return -EOPNOTSUPP;
}

/* ---------------- requests ---------------- */

static int zoned_report(struct ublk_queue *q, int tag,
			const struct ublksrv_io_desc *iod)
{
	struct zoned_data *zd = zd_of(q);
	unsigned int nr = iod->nr_zones, first, i, n = 0;
	struct blk_zone *rep;
	ssize_t len, ret;

	if (iod->start_sector >= zd->dev_sectors)
		return 0;
	first = iod->start_sector / zd->zone_sectors;
	if (nr > zd->nr_zones - first)
		nr = zd->nr_zones - first;
	rep = calloc(nr ? nr : 1, sizeof(*rep));
	if (!rep)
		return -ENOMEM;
	pthread_mutex_lock(&zd->lock);
	for (i = first; n < nr; i++, n++) {
		const struct zoned_zone *z = &zd->zones[i];

		rep[n].start = z->start;
		rep[n].len = z->len;
		rep[n].capacity = z->len;
		rep[n].type = z->type;
		rep[n].cond = z->cond;
		rep[n].wp = z->type == BLK_ZONE_TYPE_CONVENTIONAL ?
			z->start + z->len : z->wp;
	}
	pthread_mutex_unlock(&zd->lock);

	len = (ssize_t)n * sizeof(*rep);
	ret = pwrite(q->dev->cdev_fd, rep, len, ublk_user_copy_off(q->q_id, tag));
	free(rep);
	if (ret != len) {
		ublk_err("q%d tag %d: report zones pwrite: %s\n", q->q_id, tag,
			 ret < 0 ? strerror(errno) : "short");
		return ret < 0 ? -errno : -EIO;
	}
	return len;
}

/* zero copy: register -> fixed read/write at @off -> unregister */
static int zoned_queue_zc(struct ublk_queue *q, int tag, bool is_read,
			  __u64 off, unsigned int len)
{
	struct ublk_io *io = &q->ios[tag];
	struct io_uring_sqe *reg, *sqe, *unreg;
	unsigned int idx = ublk_io_buf_index(q, tag);

	if (!ublk_queue_reserve_sqes(q, 3))
		return -ENOMEM;
	reg = ublk_prep_buf_reg(q, tag, true, ZONED_REG);
	sqe = ublk_alloc_tgt_sqe(q);
	if (!reg || !sqe)
		return -ENOMEM;
	reg->flags |= IOSQE_IO_LINK;
	if (is_read)
		io_uring_prep_read_fixed(sqe, ZONED_FILE_IDX, NULL, len, off, idx);
	else
		io_uring_prep_write_fixed(sqe, ZONED_FILE_IDX, NULL, len, off,
					  idx);
	/* unregister even when the read/write fails */
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
	sqe->user_data = build_user_data(tag, 0, ZONED_MAIN, true);
	unreg = ublk_prep_buf_reg(q, tag, false, ZONED_UNREG);
	if (!unreg)	/* cannot happen: reserved above */
		return -ENOMEM;
	io->tgt_inflight = 3;
	io->tgt_res = len;
	io->tgt_flags = 0;
	return 0;
}

static int zoned_rw(struct ublk_queue *q, int tag, bool is_read, __u64 sector,
		    unsigned int len)
{
	struct zoned_data *zd = zd_of(q);
	void *buf = ublk_io_buf(q, tag);
	__u64 off = sector << 9;
	ssize_t n;

	if (!buf)
		return zoned_queue_zc(q, tag, is_read, off, len);
	n = is_read ? pread(zd->fd, buf, len, off) :
		pwrite(zd->fd, buf, len, off);
	if (n != (ssize_t)len)
		return n < 0 ? -errno : -EIO;
	ublk_complete_io(q, tag, len);
	return 0;
}

static int zoned_queue_io(struct ublk_queue *q, int tag)
{
	const struct ublksrv_io_desc *iod = ublk_get_iod(q, tag);
	struct zoned_data *zd = zd_of(q);
	unsigned int op = ublksrv_get_op(iod);
	unsigned int len = iod->nr_sectors << 9;
	long long at;
	int ret;

	switch (op) {
	case UBLK_IO_OP_READ:
		if (iod->start_sector + iod->nr_sectors > zd->dev_sectors)
			return -EIO;
		return zoned_rw(q, tag, true, iod->start_sector, len);
	case UBLK_IO_OP_WRITE:
	case UBLK_IO_OP_ZONE_APPEND:
		pthread_mutex_lock(&zd->lock);
		at = zone_write(zd, iod->start_sector, iod->nr_sectors,
				op == UBLK_IO_OP_ZONE_APPEND);
		pthread_mutex_unlock(&zd->lock);
		if (at < 0) {
			ublk_dbg("q%d tag %d: %s %llu+%u refused: %lld\n",
				 q->q_id, tag, op == UBLK_IO_OP_WRITE ?
				 "write" : "append",
				 (unsigned long long)iod->start_sector,
				 iod->nr_sectors, at);
			return at;
		}
		if (op == UBLK_IO_OP_ZONE_APPEND) {
			if (q->dev->ctx->zoned_bad_append)
				at += zd->zone_sectors;	/* test hook */
			q->ios[tag].commit_addr = at;
		}
		return zoned_rw(q, tag, false, at, len);
	case UBLK_IO_OP_FLUSH:
		ublk_complete_io(q, tag, 0);
		return 0;
	case UBLK_IO_OP_ZONE_OPEN:
	case UBLK_IO_OP_ZONE_CLOSE:
	case UBLK_IO_OP_ZONE_FINISH:
	case UBLK_IO_OP_ZONE_RESET:
	case UBLK_IO_OP_ZONE_RESET_ALL:
		pthread_mutex_lock(&zd->lock);
		ret = zone_mgmt(zd, op, iod->start_sector);
		pthread_mutex_unlock(&zd->lock);
		if (ret)
			return ret;
		ublk_complete_io(q, tag, 0);
		return 0;
	case UBLK_IO_OP_REPORT_ZONES:
		ret = zoned_report(q, tag, iod);
		if (ret < 0)
			return ret;
		ublk_complete_io(q, tag, ret);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static void zoned_io_done(struct ublk_queue *q, int tag,
			  const struct io_uring_cqe *cqe)
{
	struct ublk_io *io = &q->ios[tag];
	unsigned int kind = user_data_to_tgt_data(cqe->user_data);
	int res = cqe->res;

	switch (kind) {
	case ZONED_REG:
		if (res < 0) {
			ublk_err("q%d tag %d: register buffer: %s\n", q->q_id,
				 tag, strerror(-res));
			io->tgt_flags = 1;
			io->tgt_res = res;
		}
		break;
	case ZONED_UNREG:
		if (res < 0 && res != -ECANCELED)
			ublk_err("q%d tag %d: unregister buffer: %s\n", q->q_id,
				 tag, strerror(-res));
		break;
	default:
		if (!io->tgt_flags && res != io->tgt_res)
			io->tgt_res = res < 0 ? res : -EIO;
		break;
	}
	if (--io->tgt_inflight == 0)
		ublk_complete_io(q, tag, io->tgt_res);
}

const struct target_ops zoned_tgt_ops = {
	.name = "zoned",
	.id = 4,
	.init = zoned_init,
	.deinit = zoned_deinit,
	.queue_io = zoned_queue_io,
	.tgt_io_done = zoned_io_done,
	.sqes_per_io = 3,
};
