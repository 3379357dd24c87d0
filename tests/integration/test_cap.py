#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The bandwidth cap, measured where the bytes arrive (countsink.py):

* accuracy: `--cap 20MB/s` held for argv[2] seconds (default 20; 60 in the
  slow suite): the achieved rate, first body byte to last, within +-3 %
  of the cap, and no one-second window above 120 %;
* a schedule boundary: `--schedule` with 20MB/s until the next minute
  boundary at least 22 s away and 4MB/s after it (TZ=UTC): the second after
  the boundary already runs at 4 MB/s (+-10 %), the seconds before it at
  20 MB/s, and the change is logged;
* in the slow suite also a cap too low for a block per stall timeout
  (100KB/s: 84 s for an 8 MiB block, the stall timeout is 60 s): paced,
  not failed (AzCopy fails there, azcopy#2262)."""

import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from countsink import CountSink  # noqa: E402

NULL_SAS = ("sv=2021-08-06&sr=c&sp=cw&se=2099-01-01T00%3A00%3A00Z"
            "&sig=bnVsbC1zaW5rLWhhcy1uby1rZXk%3D")
CAP = 20_000_000
LOW = 4_000_000


def sparse_pst(path, size):
    """A file with a PST magic and `size` bytes, made instantly (sparse)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"!BDN")
        f.truncate(size)


def accuracy(t, sink, seconds):
    src = t.path("accuracy", "big.pst")
    sparse_pst(src, int(CAP * seconds))
    url = f"http://127.0.0.1:{sink.port}/devstoreaccount1/cap-accuracy?{NULL_SAS}"
    run, _ = t.ingest([t.path("accuracy")], url, "--cap", "20MB/s", label="accuracy",
                      verbose=False, state=False, timeout=seconds * 3 + 60, check_rc=0)
    t.check(run.rc == 0, f"capped ingest succeeds: {run.describe()}")
    st = sink.stats()
    dev = st["rate"] / CAP - 1
    print(f"accuracy: {st['bytes']} bytes in {st['seconds']:.2f} s = {st['rate'] / 1e6:.3f} MB/s "
          f"({dev * 100:+.2f} %), worst 1 s window {st['max_window'] / 1e6:.2f} MB/s "
          f"({st['max_window'] / CAP * 100:.1f} %)")
    # The body bytes of the file, and of the Put Block List that commits it.
    t.check(os.path.getsize(src) <= st["bytes"] <= os.path.getsize(src) + 65536,
            f"every byte arrived: {st['bytes']}")
    t.check(abs(dev) <= 0.03, f"rate within +-3 % of the cap: {dev * 100:+.2f} %")
    t.check(st["max_window"] <= 1.2 * CAP,
            f"no 1 s window above 120 %: {st['max_window'] / CAP * 100:.1f} %")


def boundary(t, sink):
    now = time.time()
    b = (int(now) // 60 + 1) * 60
    if b - now < 22:
        b += 60
    start, end = (datetime.datetime.fromtimestamp(x, datetime.timezone.utc)
                  for x in ((int(now) // 60) * 60, b))
    hhmm = f"{start:%H:%M}-{'24:00' if f'{end:%H:%M}' == '00:00' else f'{end:%H:%M}'}"
    schedule = f"* {hhmm} = 20MB/s; * = 4MB/s"
    src = t.path("boundary", "big.pst")
    sparse_pst(src, int(CAP * (b - now) + LOW * 8))
    sink.reset()
    url = f"http://127.0.0.1:{sink.port}/devstoreaccount1/cap-boundary?{NULL_SAS}"
    b_mono = b - time.time() + time.monotonic()
    run, _ = t.ingest([t.path("boundary")], url, "--schedule", schedule, label="boundary",
                      verbose=False, state=False, env={"TZ": "UTC"}, timeout=200, check_rc=0)
    t.check(run.rc == 0, f"scheduled ingest succeeds: {run.describe()}")
    before = sink.rate_between(b_mono - 5, b_mono - 0.5)
    after = sink.rate_between(b_mono + 1, b_mono + 2)
    later = sink.rate_between(b_mono + 2, b_mono + 6)
    print(f"boundary ({schedule}): {before / 1e6:.2f} MB/s before, {after / 1e6:.2f} MB/s in "
          f"the second after the first, {later / 1e6:.2f} MB/s later")
    t.check(abs(before / CAP - 1) <= 0.1, f"20 MB/s up to the boundary: {before / 1e6:.2f}")
    t.check(abs(after / LOW - 1) <= 0.1, f"4 MB/s within 1 s of the boundary: {after / 1e6:.2f}")
    t.check(abs(later / LOW - 1) <= 0.1, f"4 MB/s after it: {later / 1e6:.2f}")
    t.check("cap 4 MB/s by the schedule" in run.stderr, "the change is logged")


def low_cap(t, sink):
    low = 100_000
    src = t.path("low", "big.pst")
    sparse_pst(src, 8 * 1024 * 1024 + 200_000)
    sink.reset()
    url = f"http://127.0.0.1:{sink.port}/devstoreaccount1/cap-low?{NULL_SAS}"
    run, _ = t.ingest([t.path("low")], url, "--cap", "100KB/s", label="low", verbose=False,
                      state=False, timeout=200, check_rc=0)
    st = sink.stats()
    print(f"low cap: {st['bytes']} bytes in {st['seconds']:.1f} s = {st['rate'] / 1e3:.1f} KB/s")
    t.check(run.rc == 0, f"a block longer than the stall timeout is paced, not failed: "
            f"{run.describe()}")
    t.check(abs(st["rate"] / low - 1) <= 0.03, f"100KB/s held: {st['rate'] / 1e3:.1f} KB/s")


def main():
    with harness.Test("cap") as t:
        seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
        with CountSink() as sink:
            accuracy(t, sink, seconds)
            sink.reset()
            boundary(t, sink)
            if seconds >= 60:
                low_cap(t, sink)


if __name__ == "__main__":
    main()
