#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A misbehaving NBD server for test_nbd_*: nbd_fake_server.py PORT MODE

Listens on 127.0.0.1:PORT and serves each connection in a thread.  Modes:
  bad-greeting   sends a greeting that is not NBD
  bad-magic      good handshake, then every reply has a wrong magic
  bad-handle     good handshake, then replies carry an unknown handle
  short-read     good handshake, a READ's reply header is followed by half
                 of the payload and then the connection is closed
  error          good handshake, every request fails with NBD EIO (5),
                 except WRITE which fails with ENOSPC (28)
The export is 16 MiB.  Prints "ready" on stdout once listening."""
import socket
import struct
import sys
import threading

SIZE = 16 << 20
MODE = sys.argv[2]


def recvall(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError
        buf += d
    return buf


def handshake(s):
    s.sendall(b"NBDMAGIC" + b"IHAVEOPT" + struct.pack(">H", 3))
    recvall(s, 4)                                   # client flags
    while True:
        magic, opt, length = struct.unpack(">QII", recvall(s, 16))
        recvall(s, length)
        if opt == 7:                                # NBD_OPT_GO
            info = struct.pack(">HQH", 0, SIZE, 1 | 4)
            s.sendall(struct.pack(">QIII", 0x3e889045565a9, opt, 3,
                                  len(info)) + info)
            s.sendall(struct.pack(">QIII", 0x3e889045565a9, opt, 1, 0))
            return
        s.sendall(struct.pack(">QIII", 0x3e889045565a9, opt,
                              (1 << 31) | 1, 0))


def serve(s):
    try:
        if MODE == "bad-greeting":
            s.sendall(b"HELLO, I AM NOT AN NBD SERVER\n")
            s.recv(100)
            return
        handshake(s)
        while True:
            magic, flags, typ, handle, off, length = struct.unpack(
                ">IHHQQI", recvall(s, 28))
            if typ == 1:                            # WRITE: payload
                recvall(s, length)
            if typ == 2:                            # DISC
                return
            if MODE == "bad-magic":
                s.sendall(struct.pack(">IIQ", 0x12345678, 0, handle))
            elif MODE == "bad-handle":
                s.sendall(struct.pack(">IIQ", 0x67446698, 0, handle ^ 0x5a5a))
            elif MODE == "short-read" and typ == 0:
                s.sendall(struct.pack(">IIQ", 0x67446698, 0, handle) +
                          bytes(length // 2))
                return
            elif MODE == "error":
                err = 28 if typ == 1 else 5
                s.sendall(struct.pack(">IIQ", 0x67446698, err, handle))
            else:
                s.sendall(struct.pack(">IIQ", 0x67446698, 0, handle) +
                          (bytes(length) if typ == 0 else b""))
    except (EOFError, OSError):
        pass
    finally:
        s.close()


def main():
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(sys.argv[1])))
    ls.listen(16)
    print("ready", flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
