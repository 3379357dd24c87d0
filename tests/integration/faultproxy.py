#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""faultproxy.py - HTTP/1.1 reverse proxy with scripted faults, for Azurite.

Sits between pstream and Azurite on 127.0.0.1 (Azurite has no throttling or
fault simulation, docs/AZURE.md §4; RELIABILITY.md §4 recommends this proxy).
Keep-alive on both sides: one upstream connection per client connection.

Every request is logged as one JSON line:
  {"t0", "t1", "conn", "method", "path", "query" (sig removed), "op", "status",
   "req_bytes", "resp_bytes", "fault", "retry_after"}
where t0 is when the request head arrived and t1 when the answer was sent
(or the connection was cut).

Rules are tried in order; the first one that matches the request and still
has budget fires (`skip` matching requests are let through first, then
`count` of them get the fault).  A rule:
  {"op": "put_block" | ["put_block", "put_blob"] | "*",  "skip": 0, "count": 1,
   "action": "status" | "reset" | "stall" | "truncate" | "delay" | "blackhole",
   "status": 503, "code": "ServerBusy", "retry_after": 1,      # action status
   "after_bytes": 65536,                                       # reset / stall
   "seconds": 30,                                              # stall / delay
   "keep": 40,                                                 # truncate: bytes kept
   "min_bytes": 0}               # only requests whose body has at least this many bytes
Ops: put_block, put_block_list, put_blob, get_block_list, get_blob, head,
list, create_container, other.

Actions:
  status    read the whole body, answer STATUS with an Azure XML error body,
            x-ms-error-code CODE and (if given) Retry-After; keep-alive.
  reset     read AFTER_BYTES of the body, then RST the client connection.
  stall     read AFTER_BYTES of the body (default: all of it), say nothing
            for SECONDS, then close.
  truncate  forward, then send only the first KEEP bytes of the answer and
            close (the upstream did the work: retries must be idempotent).
  delay     wait SECONDS, then forward.
  blackhole forward, then never answer: the upstream did the work, the
            client waits (until its stall timeout, or until it is killed).

Command line (reusable as a relay for kill -9 / throttling experiments):
  faultproxy.py --upstream 127.0.0.1:PORT [--port 0] [--rules FILE.json]
                [--log FILE.jsonl] [--rate BYTES_PER_S]
prints "listening PORT" on stdout once ready; SIGTERM/SIGINT stop it.
"""

import argparse
import asyncio
import json
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

HEAD_LIMIT = 64 * 1024
PIECE = 256 * 1024

REASONS = {200: "OK", 201: "Created", 202: "Accepted", 408: "Request Timeout",
           413: "Request Entity Too Large",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}
DEFAULT_CODES = {503: "ServerBusy", 500: "OperationTimedOut", 429: "TooManyRequests"}


def classify(method, path, query):
    """Blob REST operation of a request (path-style: /account/container[/blob])."""
    q = urllib.parse.parse_qs(query)
    comp = q.get("comp", [""])[0]
    restype = q.get("restype", [""])[0]
    parts = [p for p in path.split("/") if p]
    is_blob = len(parts) >= 3
    if method == "PUT" and comp == "block":
        return "put_block"
    if method == "PUT" and comp == "blocklist":
        return "put_block_list"
    if method == "GET" and comp == "blocklist":
        return "get_block_list"
    if method == "PUT" and is_blob and not comp:
        return "put_blob"
    if method == "GET" and is_blob and not comp:
        return "get_blob"
    if method == "HEAD":
        return "head"
    if method == "GET" and comp == "list":
        return "list"
    if method == "PUT" and restype == "container" and not comp:
        return "create_container"
    return "other"


def redact_query(query):
    """The query string without its `sig` parameter."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return urllib.parse.urlencode([(k, v) for k, v in pairs if k.lower() != "sig"])


class Rule:
    def __init__(self, spec):
        self.spec = dict(spec)
        ops = spec.get("op", "*")
        self.ops = None if ops == "*" else ({ops} if isinstance(ops, str) else set(ops))
        self.skip = int(spec.get("skip", 0))
        self.count = int(spec.get("count", 1))
        self.action = spec.get("action", "status")
        self.min_bytes = int(spec.get("min_bytes", 0))
        self.seen = 0
        self.fired = 0

    def take(self, op, length=0):
        """True if this rule fires for a request of kind `op` with a body of
        `length` bytes (updates budgets)."""
        if self.ops is not None and op not in self.ops:
            return False
        if length < self.min_bytes:
            return False
        if self.fired >= self.count:
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        self.fired += 1
        return True


class ConnectionLost(Exception):
    pass


class Upstream:
    """A lazily (re)opened keep-alive connection to the upstream server."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def ensure(self):
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def read_head(reader):
    try:
        data = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise ConnectionLost("head cut") from e
        return None
    except asyncio.LimitOverrunError as e:
        raise ConnectionLost("head too long") from e
    lines = data.decode("latin-1").split("\r\n")
    return lines[0], [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:] if ln]


def header(headers, name, default=None):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


def serialize(first, headers):
    return (first + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
            + "\r\n").encode("latin-1")


class Pacer:
    """Process-wide token bucket for request-body bytes (None = unlimited)."""

    def __init__(self, rate):
        self.rate = rate
        self.tokens = 0.0
        self.last = time.monotonic()

    async def take(self, n):
        if not self.rate:
            return
        while True:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= n:
                self.tokens -= n
                return
            await asyncio.sleep(min(0.1, (n - self.tokens) / self.rate))


class FaultProxy:
    """The proxy; run it in a background thread (start/stop) or with serve_forever()."""

    def __init__(self, upstream_host, upstream_port, *, rules=(), log_path=None, rate=None,
                 port=0):
        self.up_host, self.up_port = upstream_host, upstream_port
        self.rules = [Rule(r) for r in rules]
        self.log_path = log_path
        self.log_file = open(log_path, "a", buffering=1) if log_path else None
        self.records = []
        self.lock = threading.Lock()
        self.pacer = Pacer(rate)
        self.want_port = port
        self.port = None
        self.conn_ids = 0
        self.loop = None
        self.thread = None
        self.server = None
        self.tasks = set()

    # ---- control (thread-safe) --------------------------------------------

    def set_rules(self, rules):
        with self.lock:
            self.rules = [Rule(r) for r in rules]

    def log(self):
        with self.lock:
            return list(self.records)

    def clear_log(self):
        with self.lock:
            self.records.clear()

    def start(self):
        """Serve from a daemon thread; returns the listening port."""
        ready = threading.Event()

        def run():
            self.loop = asyncio.new_event_loop()
            self.loop.run_until_complete(self._listen())
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self._shutdown())
            self.loop.close()

        self.thread = threading.Thread(target=run, name="faultproxy", daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self.port

    def stop(self):
        if self.loop is not None and self.thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        if self.log_file:
            self.log_file.close()
            self.log_file = None

    async def serve_forever(self, stop_event):
        await self._listen()
        print(f"listening {self.port}", flush=True)
        await stop_event.wait()
        await self._shutdown()

    async def _listen(self):
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.want_port,
                                                 limit=HEAD_LIMIT)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _shutdown(self):
        self.server.close()
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # ---- per connection -----------------------------------------------------

    def _record(self, rec):
        with self.lock:
            self.records.append(rec)
            if self.log_file:
                self.log_file.write(json.dumps(rec) + "\n")

    def _pick(self, op, length):
        with self.lock:
            for r in self.rules:
                if r.take(op, length):
                    return r
        return None

    async def _client(self, reader, writer):
        task = asyncio.current_task()
        self.tasks.add(task)
        self.conn_ids += 1
        conn = self.conn_ids
        up = Upstream(self.up_host, self.up_port)
        try:
            while True:
                head = await read_head(reader)
                if head is None:
                    break
                if not await self._request(conn, head, reader, writer, up):
                    break
        except (ConnectionLost, ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            up.close()
            writer.close()
            self.tasks.discard(task)

    async def _request(self, conn, head, reader, writer, up):
        """Handle one request; False when the client connection must end."""
        t0 = time.time()
        first, headers = head
        try:
            method, target, _version = first.split(" ", 2)
        except ValueError:
            raise ConnectionLost("bad request line") from None
        u = urllib.parse.urlsplit(target)
        op = classify(method, u.path, u.query)
        chunked = "chunked" in (header(headers, "transfer-encoding") or "").lower()
        length = 0 if chunked else int(header(headers, "content-length") or 0)
        rule = self._pick(op, length)
        spec = rule.spec if rule else {}
        action = rule.action if rule else None
        rec = {"t0": t0, "conn": conn, "method": method, "path": u.path,
               "query": redact_query(u.query), "op": op, "status": None,
               "req_bytes": 0, "resp_bytes": 0, "fault": action,
               "retry_after": spec.get("retry_after")}
        expect = (header(headers, "expect") or "").lower() == "100-continue"
        headers = [(k, v) for k, v in headers if k.lower() != "expect"]
        try:
            if action == "delay":
                await asyncio.sleep(float(spec.get("seconds", 1)))
            if expect and (length or chunked):
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await writer.drain()
            if action in ("reset", "stall"):
                limit = spec.get("after_bytes")
                got = await self._drain_body(reader, length, chunked, rec,
                                             None if limit is None else int(limit))
                if action == "stall":
                    await asyncio.sleep(float(spec.get("seconds", 30)))
                    writer.close()
                else:
                    _rst(writer)
                rec["req_bytes"] = got
                return False
            if action == "status":
                await self._drain_body(reader, length, chunked, rec, None)
                status = int(spec.get("status", 503))
                code = spec.get("code", DEFAULT_CODES.get(status, "InternalError"))
                body = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
                        f"<Message>injected by faultproxy</Message></Error>").encode()
                hdrs = [("Content-Type", "application/xml"), ("Content-Length", str(len(body))),
                        ("x-ms-error-code", code), ("x-ms-request-id", f"faultproxy-{conn}")]
                if spec.get("retry_after") is not None:
                    hdrs.append(("Retry-After", str(spec["retry_after"])))
                data = serialize(f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", hdrs)
                writer.write(data + (b"" if method == "HEAD" else body))
                await writer.drain()
                rec["status"] = status
                rec["resp_bytes"] = len(body)
                return not _wants_close(headers)
            return await self._forward(method, target, headers, length, chunked, reader,
                                       writer, up, rec, spec if action == "truncate" else None,
                                       blackhole=action == "blackhole")
        finally:
            if not rec.pop("recorded", False):
                rec["t1"] = time.time()
                self._record(rec)

    async def _drain_body(self, reader, length, chunked, rec, limit):
        """Read (and drop) the request body, at most `limit` bytes; returns bytes read."""
        got = 0
        async for piece in _body_pieces(reader, length, chunked):
            if limit is not None and got + len(piece) >= limit:
                got = limit
                break
            got += len(piece)
        rec["req_bytes"] = got
        return got

    async def _forward(self, method, target, headers, length, chunked, reader, writer, up,
                       rec, truncate, blackhole=False):
        await up.ensure()
        fwd = [(k, v) for k, v in headers if k.lower() != "host"]
        fwd.insert(0, ("Host", f"{self.up_host}:{self.up_port}"))
        up.writer.write(serialize(f"{method} {target} HTTP/1.1", fwd))
        sent = 0
        async for piece in _body_pieces(reader, length, chunked, raw=chunked):
            await self.pacer.take(len(piece))
            up.writer.write(piece)
            await up.writer.drain()
            sent += len(piece)
        await up.writer.drain()
        rec["req_bytes"] = sent
        resp = await read_head(up.reader)
        if resp is None:
            raise ConnectionLost("upstream closed")
        status_line, rh = resp
        rec["status"] = int(status_line.split(" ", 2)[1])
        head = serialize(status_line, rh)
        r_chunked = "chunked" in (header(rh, "transfer-encoding") or "").lower()
        r_len = header(rh, "content-length")
        no_body = method == "HEAD" or rec["status"] in (204, 304)
        close_after = _wants_close(headers) or _wants_close(rh)
        body = b""
        if not no_body:
            if r_chunked:
                body = b"".join([p async for p in _body_pieces(up.reader, 0, True, raw=True)])
            elif r_len is not None:
                body = await up.reader.readexactly(int(r_len))
            else:
                body = await up.reader.read()
                close_after = True
                up.close()
        rec["resp_bytes"] = len(body)
        if blackhole:
            # Logged now: the test sees the upstream's answer while the
            # client still waits for it.
            rec["t1"] = time.time()
            self._record(rec)
            rec["recorded"] = True
            while await reader.read(PIECE):
                pass
            return False
        if truncate is not None:
            data = head + body
            writer.write(data[:int(truncate.get("keep", len(data) // 2))])
            await writer.drain()
            _rst(writer)
            return False
        writer.write(head + body)
        await writer.drain()
        if close_after:
            up.close()
        return not close_after


async def _body_pieces(reader, length, chunked, raw=False):
    """Yield the request/response body; with raw=True chunked framing is kept."""
    if not chunked:
        left = length
        while left:
            piece = await reader.read(min(PIECE, left))
            if not piece:
                raise ConnectionLost("body cut")
            left -= len(piece)
            yield piece
        return
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if raw:
            yield line
        if size == 0:
            trailer = await reader.readuntil(b"\r\n")
            while trailer != b"\r\n":
                if raw:
                    yield trailer
                trailer = await reader.readuntil(b"\r\n")
            if raw:
                yield trailer
            return
        data = await reader.readexactly(size)
        crlf = await reader.readexactly(2)
        yield data + crlf if raw else data


def _wants_close(headers):
    return (header(headers, "connection") or "").lower() == "close"


def _rst(writer):
    """Close with RST (SO_LINGER 0), the way a dropped connection looks."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def retry_gaps(records, fault_status=(503,)):
    """For every request answered with a status in `fault_status`, the seconds
    between that answer and the next request for the same method+path+query
    (None if it was never retried).  Returns [(record, gap or None)]."""
    out = []
    for i, r in enumerate(records):
        if r["status"] not in fault_status or r["fault"] != "status":
            continue
        key = (r["method"], r["path"], r["query"])
        nxt = next((x for x in records[i + 1:]
                    if (x["method"], x["path"], x["query"]) == key and x["t0"] >= r["t0"]), None)
        out.append((r, None if nxt is None else nxt["t0"] - r["t1"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    ap.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (0: any)")
    ap.add_argument("--rules", help="JSON file with a list of rules")
    ap.add_argument("--log", help="append the JSON-lines request log here")
    ap.add_argument("--rate", type=float, help="request-body bytes per second, all connections")
    a = ap.parse_args()
    host, port = a.upstream.rsplit(":", 1)
    rules = []
    if a.rules:
        with open(a.rules) as f:
            rules = json.load(f)
    proxy = FaultProxy(host, int(port), rules=rules, log_path=a.log, rate=a.rate, port=a.port)

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        await proxy.serve_forever(stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
