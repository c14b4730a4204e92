/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ublk: userspace block device, kernel <-> server interface.
 *
 * A ublk server talks to the driver through two kinds of io_uring
 * IORING_OP_URING_CMD commands:
 *
 *  - control commands on /dev/ublk-control, payload struct ublksrv_ctrl_cmd
 *    in the SQE command area (the ring must use IORING_SETUP_SQE128);
 *  - I/O commands on /dev/ublkcN, payload struct ublksrv_io_cmd (or
 *    struct ublk_batch_io for the batch commands).
 *
 * Every structure below has a fixed size and explicit padding, so that
 * 32-bit and 64-bit servers see the same layout.
 */
#ifndef USER_BLK_DRV_CMD_INC_H
#define USER_BLK_DRV_CMD_INC_H

#include <linux/types.h>

/*
 * Control command numbers.
 *
 * The raw numbers (UBLK_CMD_*) are the legacy encoding and are accepted by
 * kernels built with CONFIG_BLKDEV_UBLK_LEGACY_OPCODES only. New servers use
 * the ioctl-style encoding (UBLK_U_CMD_*, type 'u'), which always works.
 */
#define	UBLK_CMD_GET_QUEUE_AFFINITY	0x01
#define	UBLK_CMD_GET_DEV_INFO		0x02
#define	UBLK_CMD_ADD_DEV		0x04
#define	UBLK_CMD_DEL_DEV		0x05
#define	UBLK_CMD_START_DEV		0x06
#define	UBLK_CMD_STOP_DEV		0x07
#define	UBLK_CMD_SET_PARAMS		0x08
#define	UBLK_CMD_GET_PARAMS		0x09
#define	UBLK_CMD_START_USER_RECOVERY	0x10
#define	UBLK_CMD_END_USER_RECOVERY	0x11
#define	UBLK_CMD_GET_DEV_INFO2		0x12
/*
 * Commands 0x13 and later exist only in the ioctl encoding below; as in
 * mainline, no raw UBLK_CMD_* name is defined for them (drivers and servers
 * derive one with _IOC_NR() where they need it, and must not clash).
 */

#define UBLK_U_CMD_GET_QUEUE_AFFINITY	\
	_IOR('u', UBLK_CMD_GET_QUEUE_AFFINITY, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_DEV_INFO		\
	_IOR('u', UBLK_CMD_GET_DEV_INFO, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_ADD_DEV		\
	_IOWR('u', UBLK_CMD_ADD_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_DEL_DEV		\
	_IOWR('u', UBLK_CMD_DEL_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_DEV		\
	_IOWR('u', UBLK_CMD_START_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_STOP_DEV		\
	_IOWR('u', UBLK_CMD_STOP_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_SET_PARAMS		\
	_IOWR('u', UBLK_CMD_SET_PARAMS, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_PARAMS		\
	_IOR('u', UBLK_CMD_GET_PARAMS, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_USER_RECOVERY	\
	_IOWR('u', UBLK_CMD_START_USER_RECOVERY, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_END_USER_RECOVERY	\
	_IOWR('u', UBLK_CMD_END_USER_RECOVERY, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_DEV_INFO2	\
	_IOR('u', UBLK_CMD_GET_DEV_INFO2, struct ublksrv_ctrl_cmd)
/* 8 bytes (UBLK_FEATURES_LEN) of UBLK_F_* into addr, no device needed */
#define UBLK_U_CMD_GET_FEATURES		\
	_IOR('u', 0x13, struct ublksrv_ctrl_cmd)
/* like DEL_DEV, but does not wait for the device id to become free */
#define UBLK_U_CMD_DEL_DEV_ASYNC	\
	_IOR('u', 0x14, struct ublksrv_ctrl_cmd)
/* data[0]: new capacity in 512-byte sectors, needs UBLK_F_UPDATE_SIZE */
#define UBLK_U_CMD_UPDATE_SIZE		\
	_IOWR('u', 0x15, struct ublksrv_ctrl_cmd)
/* data[0]: timeout in milliseconds (0: wait forever), needs UBLK_F_QUIESCE */
#define UBLK_U_CMD_QUIESCE_DEV		\
	_IOWR('u', 0x16, struct ublksrv_ctrl_cmd)
/* STOP_DEV that fails with -EBUSY while the block device is open */
#define UBLK_U_CMD_TRY_STOP_DEV		\
	_IOWR('u', 0x17, struct ublksrv_ctrl_cmd)
/* shared memory buffer registration, payload struct ublk_shmem_buf_reg */
#define UBLK_U_CMD_REG_BUF		\
	_IOWR('u', 0x18, struct ublksrv_ctrl_cmd)
/* data[0]: index returned by UBLK_U_CMD_REG_BUF */
#define UBLK_U_CMD_UNREG_BUF		\
	_IOWR('u', 0x19, struct ublksrv_ctrl_cmd)

/* size in bytes of the feature mask returned by UBLK_U_CMD_GET_FEATURES */
#define UBLK_FEATURES_LEN	8

/*
 * I/O command numbers, issued on /dev/ublkcN.
 *
 * FETCH_REQ: handed to the driver once per (queue, tag) before the device
 *	is started (or recovered). It completes when a block request arrives
 *	for that tag; the request is then described by the tag's
 *	struct ublksrv_io_desc in the mmapped descriptor array.
 *
 * COMMIT_AND_FETCH_REQ: reports the result of the request owned by the
 *	tag (ublksrv_io_cmd.result) and re-arms the tag for the next request.
 *
 * NEED_GET_DATA: with UBLK_F_NEED_GET_DATA, a WRITE is first delivered with
 *	UBLK_IO_RES_NEED_GET_DATA; the server then supplies the buffer into
 *	which the driver copies the data with this command.
 *
 * REGISTER_IO_BUF / UNREGISTER_IO_BUF: zero copy, put the pages of the
 *	request owned by the tag into (or remove them from) the issuing
 *	ring's fixed buffer table at index ublksrv_io_cmd.addr.
 *
 * PREP_IO_CMDS / COMMIT_IO_CMDS / FETCH_IO_CMDS: batched variants
 *	(UBLK_F_BATCH_IO) operating on arrays of elements, see
 *	struct ublk_batch_io.
 *
 * The raw numbers are the legacy encoding (CONFIG_BLKDEV_UBLK_LEGACY_OPCODES).
 */
#define	UBLK_IO_FETCH_REQ		0x20
#define	UBLK_IO_COMMIT_AND_FETCH_REQ	0x21
#define	UBLK_IO_NEED_GET_DATA		0x22
/* the following numbers only exist in the ioctl encoding */
#define	UBLK_IO_REGISTER_IO_BUF		0x23
#define	UBLK_IO_UNREGISTER_IO_BUF	0x24
#define	UBLK_IO_PREP_IO_CMDS		0x25
#define	UBLK_IO_COMMIT_IO_CMDS		0x26
#define	UBLK_IO_FETCH_IO_CMDS		0x27

#define	UBLK_U_IO_FETCH_REQ		\
	_IOWR('u', UBLK_IO_FETCH_REQ, struct ublksrv_io_cmd)
#define	UBLK_U_IO_COMMIT_AND_FETCH_REQ	\
	_IOWR('u', UBLK_IO_COMMIT_AND_FETCH_REQ, struct ublksrv_io_cmd)
#define	UBLK_U_IO_NEED_GET_DATA		\
	_IOWR('u', UBLK_IO_NEED_GET_DATA, struct ublksrv_io_cmd)
#define	UBLK_U_IO_REGISTER_IO_BUF	\
	_IOWR('u', UBLK_IO_REGISTER_IO_BUF, struct ublksrv_io_cmd)
#define	UBLK_U_IO_UNREGISTER_IO_BUF	\
	_IOWR('u', UBLK_IO_UNREGISTER_IO_BUF, struct ublksrv_io_cmd)
/* returns 0 or a negative error code; nothing is prepared on error */
#define	UBLK_U_IO_PREP_IO_CMDS		\
	_IOWR('u', UBLK_IO_PREP_IO_CMDS, struct ublk_batch_io)
/*
 * Returns a negative error code (nothing committed) or the number of bytes
 * of the element buffer that were consumed; the commit may be partial.
 */
#define	UBLK_U_IO_COMMIT_IO_CMDS	\
	_IOWR('u', UBLK_IO_COMMIT_IO_CMDS, struct ublk_batch_io)
/* multishot, needs IORING_URING_CMD_MULTISHOT */
#define	UBLK_U_IO_FETCH_IO_CMDS		\
	_IOWR('u', UBLK_IO_FETCH_IO_CMDS, struct ublk_batch_io)

/*
 * Result of a completed FETCH/COMMIT_AND_FETCH command (cqe->res).
 * UBLK_IO_RES_ABORT is the only one after which the tag must not be
 * fetched again: the queue is going away.
 */
#define UBLK_IO_RES_OK			0
#define UBLK_IO_RES_NEED_GET_DATA	1
#define UBLK_IO_RES_ABORT		(-ENODEV)

/* mmap offset of the descriptor array of queue 0 on /dev/ublkcN */
#define UBLKSRV_CMD_BUF_OFFSET	0
/* first pread/pwrite offset of the user copy window on /dev/ublkcN */
#define UBLKSRV_IO_BUF_OFFSET	0x80000000

/* tags are 16 bit wide, but a queue has at most 4096 of them */
#define UBLK_MAX_QUEUE_DEPTH	4096

/*
 * User copy offset layout (UBLK_F_USER_COPY):
 *
 *   UBLKSRV_IO_BUF_OFFSET + (q_id << UBLK_QID_OFF) + (tag << UBLK_TAG_OFF)
 *	+ byte offset inside the request data
 *
 * Bits 0..24 hold the byte offset (a request buffer is at most 32MB),
 * bits 25..40 the tag and bits 41..52 the queue id. Bit 62 selects the
 * integrity (metadata) buffer instead of the data buffer.
 */
#define UBLK_IO_BUF_OFF		0
#define UBLK_IO_BUF_BITS	25
#define UBLK_IO_BUF_BITS_MASK	((1ULL << UBLK_IO_BUF_BITS) - 1)

#define UBLK_TAG_OFF		UBLK_IO_BUF_BITS
#define UBLK_TAG_BITS		16
#define UBLK_TAG_BITS_MASK	((1ULL << UBLK_TAG_BITS) - 1)

#define UBLK_QID_OFF		(UBLK_TAG_OFF + UBLK_TAG_BITS)
#define UBLK_QID_BITS		12
#define UBLK_QID_BITS_MASK	((1ULL << UBLK_QID_BITS) - 1)

#define UBLK_MAX_NR_QUEUES	(1U << UBLK_QID_BITS)

#define UBLKSRV_IO_BUF_TOTAL_BITS	(UBLK_QID_OFF + UBLK_QID_BITS)
#define UBLKSRV_IO_BUF_TOTAL_SIZE	(1ULL << UBLKSRV_IO_BUF_TOTAL_BITS)

#define UBLK_INTEGRITY_FLAG_OFF		62
#define UBLKSRV_IO_INTEGRITY_FLAG	(1ULL << UBLK_INTEGRITY_FLAG_OFF)

/*
 * Feature flags, negotiated at ADD_DEV through ublksrv_ctrl_dev_info.flags:
 * the server asks, the driver drops what it does not support and writes
 * the granted set back.
 */

/* zero copy: REGISTER/UNREGISTER_IO_BUF into an io_uring buffer table */
#define UBLK_F_SUPPORT_ZERO_COPY	(1ULL << 0)

/* legacy: io commands are always completed from task context */
#define UBLK_F_URING_CMD_COMP_IN_TASK	(1ULL << 1)

/* WRITE data buffers are supplied late through UBLK_IO_NEED_GET_DATA */
#define UBLK_F_NEED_GET_DATA		(1UL << 2)

/*
 * The device survives the death of its server: queues are quiesced and the
 * in-flight requests fail; a new server takes over through
 * START/END_USER_RECOVERY.
 */
#define UBLK_F_USER_RECOVERY		(1UL << 3)

/* like UBLK_F_USER_RECOVERY, but in-flight requests go to the new server */
#define UBLK_F_USER_RECOVERY_REISSUE	(1UL << 4)

/*
 * The device may be created and driven by an unprivileged user.
 *
 * ADD_DEV records the caller's uid/gid in ublksrv_ctrl_dev_info.owner_uid
 * and owner_gid. Every later control command for the device carries the
 * path of its char device (/dev/ublkcN): dev_path_len bytes at addr,
 * followed by the command's own buffer, and the caller must have read and
 * write permission on that path. User copy and zero copy are not available
 * for such devices, because a server that never fills a READ buffer would
 * otherwise expose kernel memory.
 */
#define UBLK_F_UNPRIVILEGED_DEV		(1UL << 5)

/* ioctl-encoded command numbers, always granted */
#define UBLK_F_CMD_IOCTL_ENCODE		(1UL << 6)

/*
 * Request data is copied by the server with pread()/pwrite() on
 * /dev/ublkcN at the offsets described above, not through a buffer
 * address passed with FETCH/COMMIT.
 */
#define UBLK_F_USER_COPY		(1UL << 7)

/* zoned block device, requires UBLK_F_USER_COPY */
#define UBLK_F_ZONED			(1ULL << 8)

/* without a server every request fails (state UBLK_S_DEV_FAIL_IO) */
#define UBLK_F_USER_RECOVERY_FAIL_IO	(1ULL << 9)

/* UBLK_U_CMD_UPDATE_SIZE is available */
#define UBLK_F_UPDATE_SIZE		(1ULL << 10)

/*
 * The driver registers the request buffer in the fixed buffer table of the
 * ring that issued FETCH/COMMIT, at the index carried in sqe->addr (see
 * struct ublk_auto_buf_reg), and removes it again at COMMIT.
 */
#define UBLK_F_AUTO_BUF_REG		(1ULL << 11)

/* UBLK_U_CMD_QUIESCE_DEV is available, requires UBLK_F_USER_RECOVERY */
#define UBLK_F_QUIESCE			(1ULL << 12)

/* every (queue, tag) may be served by a task of its own */
#define UBLK_F_PER_IO_DAEMON		(1ULL << 13)

/* REGISTER/UNREGISTER_IO_BUF may be issued from any task */
#define UBLK_F_BUF_REG_OFF_DAEMON	(1ULL << 14)

/* PREP/COMMIT/FETCH_IO_CMDS replace FETCH/COMMIT_AND_FETCH/NEED_GET_DATA */
#define UBLK_F_BATCH_IO			(1ULL << 15)

/* integrity (metadata) buffers, requires UBLK_F_USER_COPY */
#define UBLK_F_INTEGRITY		(1ULL << 16)

/* UBLK_U_CMD_TRY_STOP_DEV is available */
#define UBLK_F_SAFE_STOP_DEV		(1ULL << 17)

/* do not scan partitions when the disk is added */
#define UBLK_F_NO_AUTO_PART_SCAN	(1ULL << 18)

/* shared memory zero copy through UBLK_U_CMD_REG_BUF */
#define UBLK_F_SHMEM_ZC			(1ULL << 19)

/* device states, ublksrv_ctrl_dev_info.state */
#define UBLK_S_DEV_DEAD		0
#define UBLK_S_DEV_LIVE		1
#define UBLK_S_DEV_QUIESCED	2
#define UBLK_S_DEV_FAIL_IO	3

/* control command payload, in the SQE command area (32 bytes) */
struct ublksrv_ctrl_cmd {
	/* target device id, (__u32)-1 lets ADD_DEV pick a free one */
	__u32	dev_id;

	/* target queue, (__u16)-1 when the command is not per queue */
	__u16	queue_id;

	/* length of the buffer at addr, input or output per command */
	__u16	len;
	__u64	addr;

	/* inline argument */
	__u64	data[1];

	/*
	 * UBLK_F_UNPRIVILEGED_DEV and GET_DEV_INFO2: length of the char
	 * device path (including the trailing NUL) stored at the start of
	 * the buffer at addr
	 */
	__u16	dev_path_len;
	__u16	pad;
	__u32	reserved;
};

/* device description, 64 bytes */
struct ublksrv_ctrl_dev_info {
	__u16	nr_hw_queues;
	__u16	queue_depth;
	__u16	state;		/* UBLK_S_DEV_*, set by the kernel */
	__u16	pad0;

	__u32	max_io_buf_bytes;
	__u32	dev_id;

	__s32	ublksrv_pid;
	__u32	pad1;

	__u64	flags;		/* UBLK_F_* */

	/* owned by the server, stored but never interpreted by the kernel */
	__u64	ublksrv_flags;

	__u32	owner_uid;	/* set by the kernel at ADD_DEV */
	__u32	owner_gid;	/* set by the kernel at ADD_DEV */
	__u64	reserved1;
	__u64	reserved2;
};

/* request operations, bits 0..7 of ublksrv_io_desc.op_flags */
#define		UBLK_IO_OP_READ			0
#define		UBLK_IO_OP_WRITE		1
#define		UBLK_IO_OP_FLUSH		2
#define		UBLK_IO_OP_DISCARD		3
#define		UBLK_IO_OP_WRITE_SAME		4
#define		UBLK_IO_OP_WRITE_ZEROES		5
#define		UBLK_IO_OP_ZONE_OPEN		10
#define		UBLK_IO_OP_ZONE_CLOSE		11
#define		UBLK_IO_OP_ZONE_FINISH		12
#define		UBLK_IO_OP_ZONE_APPEND		13
#define		UBLK_IO_OP_ZONE_RESET_ALL	14
#define		UBLK_IO_OP_ZONE_RESET		15
/*
 * Zone report: start_sector is the first sector of the first zone to report
 * and nr_zones the maximum number of zones. The server returns an array of
 * struct blk_zone (linux/blkzoned.h, part of this ABI) through the request
 * buffer; a report of fewer zones ends with an all-zero entry.
 */
#define		UBLK_IO_OP_REPORT_ZONES		18

/* request flags, bits 8..31 of ublksrv_io_desc.op_flags */
#define		UBLK_IO_F_FAILFAST_DEV		(1U << 8)
#define		UBLK_IO_F_FAILFAST_TRANSPORT	(1U << 9)
#define		UBLK_IO_F_FAILFAST_DRIVER	(1U << 10)
#define		UBLK_IO_F_META			(1U << 11)
#define		UBLK_IO_F_FUA			(1U << 13)
#define		UBLK_IO_F_NOUNMAP		(1U << 15)
#define		UBLK_IO_F_SWAP			(1U << 16)
/* AUTO_BUF_REG with fallback: the automatic registration failed */
#define		UBLK_IO_F_NEED_REG_BUF		(1U << 17)
/* the request carries an integrity buffer */
#define		UBLK_IO_F_INTEGRITY		(1UL << 18)
/* addr is (shared memory buffer index << 32) | byte offset */
#define		UBLK_IO_F_SHMEM_ZC		(1U << 19)

/*
 * Per-tag request descriptor (24 bytes). Written by the driver into the
 * read-only descriptor array that the server mmaps from /dev/ublkcN, valid
 * after the tag's FETCH/COMMIT_AND_FETCH command completed.
 */
struct ublksrv_io_desc {
	/* op: bit 0-7, flags: bit 8-31 */
	__u32		op_flags;

	union {
		__u32		nr_sectors;
		__u32		nr_zones; /* UBLK_IO_OP_REPORT_ZONES */
	};

	__u64		start_sector;

	/* server buffer address given with FETCH/COMMIT (copy mode) */
	__u64		addr;
};

static inline __u8 ublksrv_get_op(const struct ublksrv_io_desc *iod)
{
	return iod->op_flags & 0xff;
}

static inline __u32 ublksrv_get_flags(const struct ublksrv_io_desc *iod)
{
	return iod->op_flags >> 8;
}

/* I/O command payload on /dev/ublkcN (16 bytes) */
struct ublksrv_io_cmd {
	__u16	q_id;
	__u16	tag;

	/* COMMIT_AND_FETCH_REQ: bytes done, or a negative errno */
	__s32	result;

	union {
		/*
		 * Copy mode: address of the server's buffer for the next
		 * request of this tag (FETCH, COMMIT_AND_FETCH, NEED_GET_DATA).
		 * Unused with UBLK_F_USER_COPY, where the field carries, for a
		 * committed UBLK_IO_OP_ZONE_APPEND, the sector at which the
		 * data was written. For REGISTER/UNREGISTER_IO_BUF it is the
		 * fixed buffer index.
		 */
		__u64	addr;
		__u64	zone_append_lba;
	};
};

/*
 * UBLK_F_AUTO_BUF_REG: the buffer registration is described in the SQE's
 * addr field of FETCH_REQ and COMMIT_AND_FETCH_REQ:
 *
 *	bits  0..15	index in the ring's fixed buffer table
 *	bits 16..23	flags (UBLK_AUTO_BUF_REG_*)
 *	bits 24..31	reserved0, must be zero
 *	bits 32..63	reserved1, must be zero
 */
struct ublk_auto_buf_reg {
	__u16	index;
	__u8	flags;
	__u8	reserved0;
	__u32	reserved1;
};

/*
 * If the automatic registration fails, deliver the request with
 * UBLK_IO_F_NEED_REG_BUF instead of failing it.
 */
#define UBLK_AUTO_BUF_REG_FALLBACK	(1 << 0)
#define UBLK_AUTO_BUF_REG_F_MASK	UBLK_AUTO_BUF_REG_FALLBACK

static inline struct ublk_auto_buf_reg
ublk_sqe_addr_to_auto_buf_reg(__u64 sqe_addr)
{
	struct ublk_auto_buf_reg reg = {
		.index = (__u16)sqe_addr,
		.flags = (__u8)(sqe_addr >> 16),
		.reserved0 = (__u8)(sqe_addr >> 24),
		.reserved1 = (__u32)(sqe_addr >> 32),
	};

	return reg;
}

static inline __u64
ublk_auto_buf_reg_to_sqe_addr(const struct ublk_auto_buf_reg *buf)
{
	return (__u64)buf->index | (__u64)buf->flags << 16 |
		(__u64)buf->reserved0 << 24 | (__u64)buf->reserved1 << 32;
}

/*
 * UBLK_F_BATCH_IO command payload (16 bytes). The element array is in the
 * buffer at sqe->addr (sqe->len bytes); each element starts with
 * struct ublk_elem_header, followed by a __u64 buffer address if
 * UBLK_BATCH_F_HAS_BUF_ADDR and then a __u64 zone append LBA if
 * UBLK_BATCH_F_HAS_ZONE_LBA. elem_bytes is the size of one element.
 */
struct ublk_batch_io {
	__u16	q_id;
#define UBLK_BATCH_F_HAS_ZONE_LBA		(1 << 0)
#define UBLK_BATCH_F_HAS_BUF_ADDR		(1 << 1)
#define UBLK_BATCH_F_AUTO_BUF_REG_FALLBACK	(1 << 2)
	__u16	flags;
	__u16	nr_elem;
	__u8	elem_bytes;
	__u8	reserved;
	__u64	reserved2;
};

struct ublk_elem_header {
	__u16	tag;
	__u16	buf_index;	/* AUTO_BUF_REG buffer index */
	__s32	result;		/* COMMIT_IO_CMDS only */
};

/* parameters, SET_PARAMS / GET_PARAMS */
struct ublk_param_basic {
#define UBLK_ATTR_READ_ONLY		(1 << 0)
#define UBLK_ATTR_ROTATIONAL		(1 << 1)
#define UBLK_ATTR_VOLATILE_CACHE	(1 << 2)
#define UBLK_ATTR_FUA			(1 << 3)
	__u32	attrs;
	__u8	logical_bs_shift;
	__u8	physical_bs_shift;
	__u8	io_opt_shift;
	__u8	io_min_shift;

	__u32	max_sectors;
	__u32	chunk_sectors;

	__u64	dev_sectors;
	__u64	virt_boundary_mask;
};

struct ublk_param_discard {
	__u32	discard_alignment;

	__u32	discard_granularity;
	__u32	max_discard_sectors;

	__u32	max_write_zeroes_sectors;
	__u16	max_discard_segments;
	__u16	reserved0;
};

/*
 * Read only: reported by GET_PARAMS, ignored by SET_PARAMS. The disk
 * numbers are valid once the device has been started.
 */
struct ublk_param_devt {
	__u32	char_major;
	__u32	char_minor;
	__u32	disk_major;
	__u32	disk_minor;
};

struct ublk_param_zoned {
	__u32	max_open_zones;
	__u32	max_active_zones;
	__u32	max_zone_append_sectors;
	__u8	reserved[20];
};

struct ublk_param_dma_align {
	__u32	alignment;	/* mask: 2^n - 1 */
	__u8	pad[4];
};

/* smallest accepted segment boundary and segment size */
#define UBLK_MIN_SEGMENT_SIZE	4096

struct ublk_param_segment {
	/* boundary mask + 1 must be a power of two >= UBLK_MIN_SEGMENT_SIZE */
	__u64	seg_boundary_mask;
	/* must be >= UBLK_MIN_SEGMENT_SIZE */
	__u32	max_segment_size;
	__u16	max_segments;
	__u8	pad[2];
};

struct ublk_param_integrity {
	__u32	flags;			/* LBMD_PI_CAP_* */
	__u16	max_integrity_segments;	/* 0: no limit */
	__u8	interval_exp;
	__u8	metadata_size;		/* must not be zero */
	__u8	pi_offset;
	__u8	csum_type;		/* LBMD_PI_CSUM_* */
	__u8	tag_size;
	__u8	pad[5];
};

struct ublk_params {
	/*
	 * Size of this structure as known by the sender. A server built
	 * against an older header sends a shorter length; the driver
	 * accepts it and writes its own length back with GET_PARAMS.
	 */
	__u32	len;
#define UBLK_PARAM_TYPE_BASIC		(1 << 0)
#define UBLK_PARAM_TYPE_DISCARD		(1 << 1)
#define UBLK_PARAM_TYPE_DEVT		(1 << 2)
#define UBLK_PARAM_TYPE_ZONED		(1 << 3)
#define UBLK_PARAM_TYPE_DMA_ALIGN	(1 << 4)
#define UBLK_PARAM_TYPE_SEGMENT		(1 << 5)
#define UBLK_PARAM_TYPE_INTEGRITY	(1 << 6)
	__u32	types;			/* UBLK_PARAM_TYPE_* present */

	struct ublk_param_basic		basic;
	struct ublk_param_discard	discard;
	struct ublk_param_devt		devt;
	struct ublk_param_zoned		zoned;
	struct ublk_param_dma_align	dma;
	struct ublk_param_segment	seg;
	struct ublk_param_integrity	integrity;
};

/*
 * UBLK_U_CMD_REG_BUF payload (16 bytes, at addr): a range of the server's
 * memory that requests may be served from directly (UBLK_F_SHMEM_ZC).
 */
struct ublk_shmem_buf_reg {
	__u64	addr;
	__u32	len;
#define UBLK_SHMEM_BUF_READ_ONLY	(1U << 0)
	__u32	flags;
};

#endif
