# SPDX-License-Identifier: MIT
"""harness.py - what every integration test needs around a real pstream.

* Azurite 3.35.0 on a free loopback port, over HTTP or HTTPS (throwaway CA and
  server certificate made with openssl), stopped on exit, also on failure or
  SIGTERM (meson's timeout), and tied to this process with PR_SET_PDEATHSIG so
  a SIGKILLed test leaves no Azurite behind.
* pstream runs with stdout/stderr captured to files (kept for the secrets grep).
* Deterministic test files, source trees, XXH3-128 (the reference library via
  ctypes) and byte-for-byte comparison of blobs with their sources.
* Exit codes 0 / 1 / 77 with a one-line verdict.
"""

import contextlib
import ctypes
import ctypes.util
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import azure

SKIP = 77
MiB = 1024 * 1024


class Skip(Exception):
    """Raised to end a test with exit code 77."""


class Failure(Exception):
    """Raised by check() when an expectation does not hold."""


# ---- processes -------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _sigterm(signum, frame):
    raise SystemExit(f"signal {signum}")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_metrics(proc, log_path, port, timeout=30.0):
    """Wait until the pstream `proc` logs that it serves metrics on `port`
    (so nothing else that took the port in between is scraped).  False when
    it exited first or the time ran out."""
    want = re.compile(rf"metrics at http://\S+:{port}/metrics")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path, errors="replace") as f:
            if want.search(f.read()):
                return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def wait_port(port, timeout=30.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.1)
    return False


def stop_process(proc, grace=10.0):
    """SIGTERM, then SIGKILL after `grace` seconds; always reaps."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(grace)


def spawn(argv, *, stdout=None, stderr=None, env=None, cwd=None, **kw):
    """Popen that dies with the test process."""
    return subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env, cwd=cwd,
                            preexec_fn=_die_with_parent, **kw)


# ---- hashing ---------------------------------------------------------------

class _XXH128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


_xxh = None


def _xxhash_lib():
    global _xxh
    if _xxh is None:
        name = ctypes.util.find_library("xxhash") or "libxxhash.so.0"
        lib = ctypes.CDLL(name)
        lib.XXH3_createState.restype = ctypes.c_void_p
        lib.XXH3_freeState.argtypes = [ctypes.c_void_p]
        lib.XXH3_128bits_reset.argtypes = [ctypes.c_void_p]
        lib.XXH3_128bits_update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.XXH3_128bits_digest.argtypes = [ctypes.c_void_p]
        lib.XXH3_128bits_digest.restype = _XXH128
        _xxh = lib
    return _xxh


def xxh3_128_file(path):
    """Canonical (big-endian) hex XXH3-128 of a file, as `xxhsum -H2` prints it."""
    lib = _xxhash_lib()
    st = lib.XXH3_createState()
    try:
        lib.XXH3_128bits_reset(st)
        with open(path, "rb") as f:
            while chunk := f.read(8 * MiB):
                lib.XXH3_128bits_update(st, chunk, len(chunk))
        h = lib.XXH3_128bits_digest(st)
    finally:
        lib.XXH3_freeState(st)
    return f"{h.high64:016x}{h.low64:016x}"


# ---- test files ------------------------------------------------------------

def make_file(path, size, seed):
    """Write `size` random bytes (fixed seed) to `path`, really allocated (no holes)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MiB)
            f.write(rng.randbytes(n))
            left -= n
    return path


def make_fake_pst(path, size, seed, unicode=True):
    """Random bytes behind a PST header magic ('!BDN', wMagicClient 'SM', wVer):
    found by its header (damaged beyond that), so uploaded verbatim."""
    make_file(path, size, seed)
    with open(path, "r+b") as f:
        f.write(b"!BDN"[:size])
        if size >= 12:
            f.seek(8)
            f.write(b"SM" + (23 if unicode else 14).to_bytes(2, "little"))
    return path


def files_equal(path, data):
    """True if the file at `path` holds exactly `data`."""
    if os.path.getsize(path) != len(data):
        return False
    view = memoryview(data)
    off = 0
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            if view[off:off + len(chunk)] != chunk:
                return False
            off += len(chunk)
    return off == len(data)


def tree_blobs(root, prefix=""):
    """{blob name: path} for every file under `root`, named by its path relative
    to root after `prefix` (the naming rule of pstream ingest)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[join_blob(prefix, os.path.relpath(p, root))] = p
    return out


def join_blob(*parts):
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def pst_files(paths):
    """The paths among `paths` that start with the PST magic '!BDN'."""
    out = []
    for p in paths:
        with open(p, "rb") as f:
            if f.read(4) == b"!BDN":
                out.append(p)
    return out


# ---- the test context ------------------------------------------------------

class Test:
    """One integration test: temp dir, Azurite instances, pstream runs, checks.

    Use as `with harness.Test("name") as t: ...`; exits the process with
    0 (all checks passed), 1 (a check failed or an error) or 77 (skipped).
    """

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.procs = []
        _remove_stale_dirs()
        self.tmp = tempfile.mkdtemp(prefix=f"pstream-it-{name}-{os.getpid()}-", dir=_tmp_root())
        self.logdir = os.path.join(self.tmp, "logs")
        os.makedirs(self.logdir)
        self.outputs = []      # every file pstream wrote (stdout, stderr, reports...)
        self.runs = 0
        signal.signal(signal.SIGTERM, _sigterm)
        signal.signal(signal.SIGINT, _sigterm)

    # context management: cleanup always, verdict as exit code
    def __enter__(self):
        return self

    def __exit__(self, etype, exc, tb):
        code = 0
        if etype is Skip:
            print(f"SKIP {self.name}: {exc}")
            code = SKIP
        elif etype is not None:
            if etype is not Failure:
                traceback.print_exception(etype, exc, tb)
            else:
                print(f"FAIL: {exc}")
            self.failed += 1
        for p in reversed(self.procs):
            stop_process(p)
        if os.environ.get("PSTREAM_IT_KEEP") == "1":
            _remove_big_files(self.tmp)
            print(f"kept {self.tmp} (PSTREAM_IT_KEEP=1; remove it when done)")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if code != SKIP:
            code = 1 if self.failed else 0
            print(f"{self.name}: {self.passed} checks passed, {self.failed} failed")
        sys.stdout.flush()
        os._exit(code)

    def check(self, cond, what):
        """Record one expectation; a failed one is printed and counted, not raised."""
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}")
        return bool(cond)

    def require(self, cond, what):
        """Like check(), but stop the test when it does not hold."""
        if not self.check(cond, what):
            raise Failure(f"required: {what}")

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    # ---- Azurite ----------------------------------------------------------

    def azurite(self, tls=False, san="IP:127.0.0.1,DNS:localhost"):
        """Start Azurite; returns an azure.Client for it (with .ca_file if TLS).
        `san`: the server certificate's subjectAltName."""
        exe = os.path.join(node_modules(), ".bin", "azurite-blob")
        if not os.access(exe, os.X_OK):
            raise Skip(f"{exe} missing (run tools/bootstrap.sh)")
        n = sum(1 for p in self.procs if getattr(p, "is_azurite", False))
        loc = self.path(f"azurite{n}")
        os.makedirs(loc)
        ca = None
        extra = []
        if tls:
            ca, cert, key = make_certs(self.path(f"tls{n}"), san)
            extra = ["--cert", cert, "--key", key]
        for _attempt in range(3):
            port = free_port()
            log = open(os.path.join(self.logdir, f"azurite{n}.log"), "ab")
            proc = spawn([exe, "--disableTelemetry", "--loose", "--skipApiVersionCheck",
                          "--blobHost", "127.0.0.1", "--blobPort", str(port),
                          "--location", loc, "-s"] + extra,
                         stdout=log, stderr=subprocess.STDOUT, cwd=loc)
            log.close()
            proc.is_azurite = True
            self.procs.append(proc)
            client = azure.Client("127.0.0.1", port, tls=tls, ca_file=ca,
                                  check_hostname="IP:127.0.0.1" in san)
            if wait_port(port, 30, proc) and _answers(client):
                return client
            stop_process(proc)
        raise Failure("Azurite did not start (see logs/azurite*.log)")

    # ---- pstream ----------------------------------------------------------

    def pstream(self, args, *, env=None, timeout=300, label=None, check_rc=None,
                stdin=None, argv=None, signal_after=None):
        """Run pstream with `args` (or the full command line `argv`, e.g. behind
        setpriv); returns a Run with rc, stdout, stderr (text) and their paths.
        signal_after=(seconds, signum): send that signal if it still runs then;
        Run.after_signal is the time from the signal to the exit."""
        self.runs += 1
        label = label or f"run{self.runs}"
        out = os.path.join(self.logdir, f"{label}.stdout")
        err = os.path.join(self.logdir, f"{label}.stderr")
        full_env = dict(os.environ)
        full_env.pop("PSTREAM_ACCOUNT_KEY", None)
        full_env.update(env or {})
        argv = argv or [pstream_bin()] + list(args)
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(argv, stdout=fo, stderr=fe, stdin=stdin or subprocess.DEVNULL,
                                    env=full_env, preexec_fn=_die_with_parent)
            self.procs.append(proc)
            t0 = time.monotonic()
            t_sig = None
            try:
                if signal_after:
                    try:
                        proc.wait(signal_after[0])
                    except subprocess.TimeoutExpired:
                        proc.send_signal(signal_after[1])
                        t_sig = time.monotonic()
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                stop_process(proc, 5)
                raise Failure(f"pstream {label} did not finish within {timeout} s"
                              f"{' after the signal' if t_sig else ''}: {argv}")
            finally:
                self.procs.remove(proc)
        run = Run(argv, rc, out, err, time.monotonic() - t0)
        run.after_signal = None if t_sig is None else time.monotonic() - t_sig
        self.outputs += [out, err]
        if check_rc is not None and rc != check_rc:
            print(f"--- pstream {label}: {' '.join(argv)}\n--- rc {rc}, expected {check_rc}")
            print("--- stdout (tail)\n" + run.stdout[-3000:])
            print("--- stderr (tail)\n" + run.stderr[-3000:])
        return run

    def ingest(self, srcs, url, *extra, label, key=None, env=None, timeout=300,
               check_rc=0, verbose=True, state=True, signal_after=None):
        """`pstream ingest SRCS --to URL` with a report (and a state dir) in the temp
        dir; key: the account key, passed with --key-file.  Returns (Run, report path)."""
        report = self.path(f"{label}.report.json")
        args = ["ingest", *srcs, "--to", url, "--report", report, "--no-progress"]
        if state:
            args += ["--state", self.path(f"{label}.state")]
        if key is not None:
            args += ["--key-file", self.key_file(key)]
        if verbose:
            args.append("-v")
        run = self.pstream(args + list(extra), env=env, timeout=timeout, label=label,
                           check_rc=check_rc, signal_after=signal_after)
        return run, report

    def key_file(self, key=azure.AZURITE_KEY):
        """The account key in a 0600 file, for --key-file."""
        path = self.path("account.key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        return path

    # ---- verification -----------------------------------------------------

    def verify_blobs(self, client, container, expected, *, exact=True):
        """Download every blob of `expected` ({blob name: source path}) and compare
        it byte for byte; with exact=True the container holds nothing else.
        Returns the number of identical blobs."""
        listing = client.list_blobs(container)
        if exact:
            self.check(sorted(listing) == sorted(expected),
                       f"container {container} holds exactly the expected blobs: "
                       f"missing {sorted(set(expected) - set(listing))[:5]}, "
                       f"extra {sorted(set(listing) - set(expected))[:5]}")
        ok, bad = 0, []
        for name, src in sorted(expected.items()):
            if name not in listing:
                bad.append(f"{name}: missing")
            elif listing[name] != os.path.getsize(src):
                bad.append(f"{name}: {listing[name]} bytes, source {os.path.getsize(src)}")
            elif not files_equal(src, client.get_blob(container, name)):
                bad.append(f"{name}: content differs from {src}")
            else:
                ok += 1
        self.check(not bad, f"{container}: {ok}/{len(expected)} blobs byte-identical to their "
                            f"sources; {len(bad)} not: {bad[:5]}")
        return ok

    def verify_report(self, report_path, expected, statuses=None):
        """Check the --report JSON against the sources ({blob name: source path}):
        one entry per source path with that blob name, status (default
        "uploaded"), size and XXH3-128."""
        self.outputs.append(report_path)
        try:
            with open(report_path) as f:
                rep = json.load(f)
        except (OSError, ValueError) as e:
            self.check(False, f"report {report_path} is readable JSON: {e}")
            return {}
        by_path = {os.path.realpath(e.get("path", "")): e for e in rep.get("files", [])}
        problems = {"listed": [], "blob": [], "status": [], "size": [], "xxh3": []}
        for name, src in sorted(expected.items()):
            e = by_path.get(os.path.realpath(src))
            if e is None:
                problems["listed"].append(src)
                continue
            if e.get("blob") != name:
                problems["blob"].append(f"{e.get('blob')!r} != {name!r}")
            want = (statuses or {}).get(name, "uploaded")
            if e.get("status") != want:
                problems["status"].append(f"{name}: {e.get('status')!r} != {want!r} "
                                          f"({e.get('error')!r})")
            if e.get("size") != os.path.getsize(src):
                problems["size"].append(f"{name}: {e.get('size')} != {os.path.getsize(src)}")
            if want == "uploaded" and e.get("xxh3") != xxh3_128_file(src):
                problems["xxh3"].append(f"{name}: {e.get('xxh3')} != {xxh3_128_file(src)}")
        for what, bad in problems.items():
            self.check(not bad, f"report: {what} right for {len(expected) - len(bad)}/"
                                f"{len(expected)} files; wrong: {bad[:3]}")
        return rep


class Run:
    def __init__(self, argv, rc, out, err, seconds):
        self.argv = argv
        self.rc = rc
        self.stdout_path = out
        self.stderr_path = err
        self.seconds = seconds
        with open(out, errors="replace") as f:
            self.stdout = f.read()
        with open(err, errors="replace") as f:
            self.stderr = f.read()

    def describe(self):
        return (f"rc={self.rc} argv={' '.join(self.argv)}\n"
                f"stderr tail: {self.stderr[-1500:]}")


def _answers(client):
    try:
        client.request("GET", "", query={"comp": "list"}, expect=(200,))
        return True
    except (OSError, azure.AzureError):
        return False


def _remove_big_files(root, limit=16 * MiB):
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with contextlib.suppress(OSError):
                if os.path.getsize(p) > limit:
                    os.unlink(p)


def _remove_stale_dirs():
    """Temp dirs of earlier tests whose process is gone (SIGKILLed: no cleanup ran)."""
    root = _tmp_root()
    for d in os.listdir(root):
        m = re.match(r"pstream-it-.+-(\d+)-[^-]+$", d)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            shutil.rmtree(os.path.join(root, d), ignore_errors=True)


def _tmp_root():
    return os.environ.get("PSTREAM_IT_TMP") or tempfile.gettempdir()


# ---- environment -----------------------------------------------------------

def source_root():
    return os.environ.get("PSTREAM_SOURCE_ROOT") or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", ".."))


def node_modules():
    return os.environ.get("PSTREAM_NODE_MODULES") or os.path.join(source_root(), "node_modules")


def pstream_bin():
    """pstream from argv[1] (meson passes the built target), env PSTREAM_BIN, or
    $PSTREAM_BUILD_ROOT/daemon/pstream."""
    exe = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PSTREAM_BIN")
    if not exe:
        exe = os.path.join(os.environ.get("PSTREAM_BUILD_ROOT", "build"), "daemon", "pstream")
    if not os.access(exe, os.X_OK):
        raise Skip(f"pstream binary {exe} not found (set PSTREAM_BIN or PSTREAM_BUILD_ROOT)")
    return os.path.abspath(exe)


def corpus():
    """(dir, manifest rows) of the real PST corpus; raises Skip when absent."""
    d = os.environ.get("PSTREAM_CORPUS") or os.path.join(source_root(), "..", "shared", "corpus")
    manifest = os.path.join(d, "MANIFEST.tsv")
    if not d or not os.path.isfile(manifest):
        raise Skip(f"PST corpus not found (PSTREAM_CORPUS={d!r})")
    with open(manifest) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]
    return d, rows


def extractor_files():
    """The real sample files shipped by npm pst-extractor (enron.pst, two OSTs)."""
    d = os.path.join(node_modules(), "pst-extractor", "example", "testdata")
    names = ["enron.pst", "pstextractortest@outlook.com.ost",
             "pstextractortestpdf@outlook.com.ost"]
    paths = [os.path.join(d, n) for n in names]
    if not all(os.path.isfile(p) for p in paths):
        raise Skip(f"pst-extractor sample files missing under {d} (run tools/bootstrap.sh)")
    return paths


def make_certs(d, san="IP:127.0.0.1,DNS:localhost"):
    """Throwaway CA and a server certificate for `san` (subjectAltName).
    Returns (ca.pem, server.pem, server.key)."""
    os.makedirs(d, exist_ok=True)
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, cert = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                f"extendedKeyUsage=serverAuth\nsubjectAltName={san}\n")
    q = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True, "timeout": 60}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
                    "-out", ca, "-days", "2", "-subj", "/CN=pstream test CA",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"], **q)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", csr, "-subj", "/CN=127.0.0.1"], **q)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                    "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext], **q)
    return ca, cert, key
