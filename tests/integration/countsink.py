# SPDX-License-Identifier: MIT
"""countsink.py - a null blob sink that clocks the bytes as they arrive.

Answers every request 201 with an empty body (HTTP/1.1 keep-alive, bodies by
Content-Length), after reading the body in full.  Every recv() of body bytes
is added to a 10 ms bucket of CLOCK_MONOTONIC, so the rate a client achieved
is measured on the receiving side, not taken from the client's own report.

    with CountSink() as sink:          # sink.port: a free port on 127.0.0.1
        ...run the uploader against http://127.0.0.1:{sink.port}/acct/c...
        st = sink.stats()              # bytes, seconds, rate, worst 1 s window
        sink.rate_between(t1, t2)      # bytes/s between two monotonic instants
        sink.series(0.5)               # [(t, bytes/s)] for a plot
"""

import socket
import threading
import time
from email.utils import formatdate

BUCKET_S = 0.01


class CountSink:
    def __init__(self, host="127.0.0.1"):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(256)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.buckets = {}
        self.t0 = time.monotonic()
        self.requests = 0
        self.closing = False
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.closing = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        for c in list(self.conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def reset(self):
        """Forget what was counted so far (between runs)."""
        with self.lock:
            self.buckets = {}
            self.requests = 0

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _count(self, n):
        b = int((time.monotonic() - self.t0) / BUCKET_S)
        with self.lock:
            self.buckets[b] = self.buckets.get(b, 0) + n

    def _serve(self, c):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                take = min(length, len(buf))
                if take:
                    self._count(take)
                buf, left = buf[take:], length - take
                while left > 0:
                    d = c.recv(min(left, 262144))
                    if not d:
                        return
                    self._count(len(d))
                    left -= len(d)
                with self.lock:
                    self.requests += 1
                c.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n"
                          b"Date: " + formatdate(usegmt=True).encode() + b"\r\n"
                          b"x-ms-request-id: 00000000-0000-0000-0000-000000000000\r\n"
                          b"x-ms-version: 2021-08-06\r\n\r\n")
        except OSError:
            return
        finally:
            c.close()
            if c in self.conns:
                self.conns.remove(c)

    def _snapshot(self):
        with self.lock:
            return dict(self.buckets)

    def stats(self, window_s=1.0):
        """bytes, seconds (first to last byte), rate (bytes/s) and the fullest
        window_s window (bytes/s) of what arrived since the last reset()."""
        b = self._snapshot()
        if not b:
            return {"bytes": 0, "seconds": 0.0, "rate": 0.0, "max_window": 0.0}
        lo, hi = min(b), max(b)
        total = sum(b.values())
        seconds = (hi - lo + 1) * BUCKET_S
        w = int(round(window_s / BUCKET_S))
        best = run = 0
        for i in range(lo, hi + 1):
            run += b.get(i, 0) - b.get(i - w, 0)
            best = max(best, run)
        return {"bytes": total, "seconds": seconds, "rate": total / seconds,
                "max_window": best / window_s}

    def rate_between(self, t1, t2):
        """bytes/s that arrived between two time.monotonic() instants."""
        b = self._snapshot()
        lo, hi = int((t1 - self.t0) / BUCKET_S), int((t2 - self.t0) / BUCKET_S)
        return sum(v for i, v in b.items() if lo <= i < hi) / ((hi - lo) * BUCKET_S)

    def series(self, step_s=1.0):
        """[(seconds since the first byte, bytes/s over the step)]."""
        b = self._snapshot()
        if not b:
            return []
        lo, hi = min(b), max(b)
        k = max(1, int(round(step_s / BUCKET_S)))
        out = []
        for s in range(lo, hi + 1, k):
            out.append(((s - lo) * BUCKET_S, sum(b.get(i, 0) for i in range(s, s + k)) / step_s))
        return out
