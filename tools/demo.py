#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""demo.py - pstream end to end on a small estate of real PST/OST files.

Lays out a sample estate under .demo/estate from the real files of the npm
package pst-extractor (an Enron mailbox and two Outlook 2013 OSTs), starts a
local Azurite on a free loopback port, runs `pstream scan` and `pstream
ingest` with mailbox rules and a mapping CSV, then downloads every blob and
compares it byte for byte with its source.  Azurite is stopped at the end.

Usage: demo.py PSTREAM_BINARY
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(root, "tests", "integration"))

import azure  # noqa: E402  (the test oracle: independent of pstream's C code)
import harness  # noqa: E402

CONTAINER = "ingestiondata"

ESTATE = {
    # estate path                               pst-extractor sample
    "users/alice/mail.pst": "enron.pst",
    "users/bob/outlook.ost": "pstextractortest@outlook.com.ost",
    "users/bob/archive/2019.ost": "pstextractortestpdf@outlook.com.ost",
    # the same mailbox again, renamed without an extension: found by header,
    # and reported as a duplicate of alice's file
    "users/carol/backup-copy": "enron.pst",
}

RULES = """\
# GLOB                   MAILBOX                  options
users/*/archive/**       {1}@contoso.example      IsArchive=TRUE
users/*/**               {1}@contoso.example
"""


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_estate(demo):
    samples = os.path.join(root, "node_modules", "pst-extractor", "example", "testdata")
    estate = os.path.join(demo, "estate")
    shutil.rmtree(estate, ignore_errors=True)
    for rel, sample in ESTATE.items():
        dst = os.path.join(estate, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(samples, sample), dst)
    # Not everything on a share is a PST.
    os.makedirs(os.path.join(estate, "shared"), exist_ok=True)
    with open(os.path.join(estate, "shared", "README.txt"), "w") as f:
        f.write("not a PST\n")
    return estate


def main():
    pstream = os.path.abspath(sys.argv[1])
    demo = os.path.join(root, ".demo")
    os.makedirs(demo, exist_ok=True)
    estate = build_estate(demo)
    with open(os.path.join(demo, "rules.txt"), "w") as f:
        f.write(RULES)
    keyfile = os.path.join(demo, "account.key")
    with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(azure.AZURITE_KEY + "\n")

    # A fresh Azurite each time, and so a fresh journal: the journal of the
    # last demo would rightly call its files committed already.
    azdir = os.path.join(demo, "azurite")
    shutil.rmtree(azdir, ignore_errors=True)
    shutil.rmtree(os.path.join(demo, "state"), ignore_errors=True)
    os.makedirs(azdir)
    port = harness.free_port()
    exe = os.path.join(root, "node_modules", ".bin", "azurite-blob")
    log = open(os.path.join(demo, "azurite.log"), "wb")
    proc = harness.spawn([exe, "--disableTelemetry", "--loose", "--skipApiVersionCheck",
                          "--blobHost", "127.0.0.1", "--blobPort", str(port),
                          "--location", azdir, "-s"], stdout=log, stderr=subprocess.STDOUT,
                         cwd=azdir)
    try:
        if not harness.wait_port(port, 30, proc):
            print("demo: Azurite did not start; see .demo/azurite.log", file=sys.stderr)
            return 1
        client = azure.Client("127.0.0.1", port)
        client.create_container(CONTAINER)
        url = client.container_url(CONTAINER)
        print(f"== Azurite on 127.0.0.1:{port}, container {CONTAINER}\n", flush=True)

        print(f"== pstream scan {os.path.relpath(estate, root)}", flush=True)
        subprocess.run([pstream, "scan", estate], check=False)

        report = os.path.join(demo, "report.json")
        mapping = os.path.join(demo, "mapping.csv")
        argv = [pstream, "ingest", estate, "--to", url, "--key-file", keyfile,
                "--mailbox-rules", os.path.join(demo, "rules.txt"), "--mapping-csv", mapping,
                "--report", report, "--state", os.path.join(demo, "state")]
        print(f"\n== pstream ingest {os.path.relpath(estate, root)} --to {url} ...", flush=True)
        rc = subprocess.run(argv, check=False).returncode
        if rc not in (0, 1):
            print(f"demo: pstream ingest failed with exit status {rc}", file=sys.stderr)
            return 1

        print(f"\n== {os.path.relpath(mapping, root)}")
        with open(mapping) as f:
            print(f.read(), end="")

        # Every blob downloaded and compared with its source.
        with open(report) as f:
            files = json.load(f)["files"]
        bad = 0
        for entry in files:
            data = client.get_blob(CONTAINER, entry["blob"])
            same = hashlib.sha256(data).hexdigest() == sha256(entry["path"])
            bad += not same
            print(f"   {'identical' if same else 'DIFFERENT'}  {entry['blob']} "
                  f"({len(data):,} bytes)")
        expected = len(ESTATE)
        if len(files) != expected:
            print(f"demo: {len(files)} files uploaded, expected {expected}", file=sys.stderr)
            return 1
        print(f"\n== verified: {expected - bad}/{expected} blobs byte-identical to their sources")
        return 0 if bad == 0 else 1
    finally:
        harness.stop_process(proc)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
