#!/usr/bin/env python3
"""The client of the redis-server run of `scripts/bench hints` (bench-hints.sh): KEYS keys of
128-byte values SET, 73 % of them DELeted in random order, then READS GETs of random remaining
keys, each value checked. The server is Debian's redis-server, unmodified, on a unix socket;
this client runs outside its memory cgroup.

After each phase it prints one JSON line ({"phase", "seconds", ...}; the read phase also
"damaged": values that came back wrong) and waits for a line on stdin before the next, so that
the caller can measure each phase on its own.

Usage: bench-hints-redis.py SOCKET KEYS READS"""
import json
import random
import socket
import sys
import time

BATCH = 100  # commands a round trip: the client's overhead stays small against the server's


def value(k):
    return (b"%08d" % k) * 16


class Redis:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(1 << 16)
            if not data:
                sys.exit("bench-hints-redis: the server closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bulk(self, n):
        while len(self.buf) < n + 2:
            data = self.sock.recv(1 << 16)
            if not data:
                sys.exit("bench-hints-redis: the server closed the connection")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n + 2 :]
        return out

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._bulk(n)
        if kind in (b"+", b":"):
            return rest
        sys.exit(f"bench-hints-redis: the server answered {line!r}")

    def pipeline(self, commands):
        out = bytearray()
        for args in commands:
            out += b"*%d\r\n" % len(args)
            for a in args:
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return [self.reply() for _ in commands]


def phase(name, t0, **extra):
    print(json.dumps({"phase": name, "seconds": round(time.monotonic() - t0, 2), **extra}),
          flush=True)
    sys.stdin.readline()


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    r = Redis(sys.argv[1])
    n, reads = int(sys.argv[2]), int(sys.argv[3])
    key = lambda k: b"key:%08d" % k
    rng = random.Random(1)

    t0 = time.monotonic()
    for s in range(0, n, BATCH):
        r.pipeline([(b"SET", key(k), value(k)) for k in range(s, min(n, s + BATCH))])
    phase("fill", t0, keys=n)

    order = list(range(n))
    rng.shuffle(order)
    cut = n * 73 // 100
    t0 = time.monotonic()
    for s in range(0, cut, BATCH):
        r.pipeline([(b"DEL", key(k)) for k in order[s : min(cut, s + BATCH)]])
    phase("delete", t0, deleted=cut)

    left = order[cut:]
    damaged = 0
    t0 = time.monotonic()
    for s in range(0, reads, BATCH):
        ks = [rng.choice(left) for _ in range(min(BATCH, reads - s))]
        got = r.pipeline([(b"GET", key(k)) for k in ks])
        damaged += sum(g != value(k) for k, g in zip(ks, got))
    phase("read", t0, reads=reads, damaged=damaged)


if __name__ == "__main__":
    main()
