/* SPDX-License-Identifier: GPL-2.0 */
/* ublk_sock: sockets for the fixed-buffer SEND/RECV checks, see ublk_sock.c */
#ifndef UBLK_SOCK_H
#define UBLK_SOCK_H

int tcp_pair(int sv[2]);
int read_all(int fd, unsigned char *p, unsigned int len);
int write_all(int fd, const unsigned char *p, unsigned int len);

#endif
