#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Issue 4's acceptance flow with the shipped configuration: conf/pstream.conf
taken as it is, with only the URL, the SAS file and the paths (sources,
journal, report, mapping CSV, and the shipped conf/mailbox-rules.example)
pointed at this test; the README's demo estate (tools/demo.py); Azurite
behind the relay, paced so a pass takes seconds.  `pstream daemon -c` run by
hand is killed with SIGKILL in the middle of its first pass and started
again; `pstream status` shows the pass uploading and, after it, the files
committed; every blob is byte-identical to its source, nothing extra, and
the mapping CSV names each mailbox by the shipped rules."""

import csv
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402

# Keys whose values the test replaces; every other line stays as shipped.
SUBSTITUTED = {"path", "url", "sas_file", "mailbox_rules", "mapping_csv", "state_dir", "report"}


def load_demo(root):
    spec = importlib.util.spec_from_file_location("demo", os.path.join(root, "tools", "demo.py"))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return demo


def shipped_config(root, values):
    """conf/pstream.conf with the SUBSTITUTED keys set from values (path: a list)."""
    with open(os.path.join(root, "conf", "pstream.conf")) as f:
        shipped = f.read().splitlines()
    out, paths_done, replaced = [], False, set()
    for line in shipped:
        m = re.match(r"^([a-z_]+)\s*=", line)
        key = m.group(1) if m else None
        if key not in SUBSTITUTED:
            out.append(line)
            continue
        replaced.add(key)
        if key == "path":
            if not paths_done:
                out.extend(f"path = {p}" for p in values["path"])
                paths_done = True
            continue
        out.append(f"{key} = {values[key]}")
    return "\n".join(out) + "\n", replaced


def main():
    with harness.Test("acceptance") as t:
        root = harness.source_root()
        samples = os.path.join(root, "node_modules", "pst-extractor", "example", "testdata")
        if not os.path.exists(os.path.join(samples, "enron.pst")):
            print("SKIP: no pst-extractor samples in node_modules (tools/bootstrap.sh)")
            sys.exit(77)
        demo = load_demo(root)
        estate = demo.build_estate(t.path("demo"))
        c = t.azurite()
        c.create_container(demo.CONTAINER)
        sas_file = t.path("azure-sas")
        with open(os.open(sas_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(c.service_sas(demo.CONTAINER, "racwl") + "\n")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, rate=6 * MiB)
        port = px.start()
        state = t.path("var-lib-pstream")
        text, replaced = shipped_config(root, {
            "path": [estate],
            "url": f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/{demo.CONTAINER}",
            "sas_file": sas_file,
            "mailbox_rules": os.path.join(root, "conf", "mailbox-rules.example"),
            "mapping_csv": os.path.join(state, "mapping.csv"),
            "state_dir": state,
            "report": os.path.join(state, "report.json"),
        })
        t.require(replaced == SUBSTITUTED, f"the shipped file has every substituted key: "
                                           f"{sorted(SUBSTITUTED - replaced)} missing")
        cfg = t.path("pstream.conf")
        with open(cfg, "w") as f:
            f.write(text)

        def status(label, *extra):
            return t.pstream(["status", *extra, "--state", state], label=label)

        def spawn(label):
            fe = open(t.path("logs", f"{label}.stderr"), "wb")
            proc = harness.spawn([harness.pstream_bin(), "daemon", "-c", cfg],
                                 stdout=subprocess.DEVNULL, stderr=fe)
            t.procs.append(proc)
            return proc, fe

        try:
            proc, fe = spawn("daemon-killed")
            staged = lambda: any(r["op"] == "put_block" and r["status"] == 201  # noqa: E731
                                 for r in px.log())
            t.require(wait_for(staged, 30), "the first pass staged blocks")
            st = status("status-first")
            t.check(st.rc == 0 and "state: running" in st.stdout and "uploading" in st.stdout,
                    f"pstream status shows the pass uploading: {st.stdout[:300]}")
            proc.kill()
            proc.wait(10)
            t.procs.remove(proc)
            fe.close()
            killed_with = c.list_blobs(demo.CONTAINER)
            t.check(len(killed_with) < len(demo.ESTATE),
                    f"killed mid-pass: {len(killed_with)} of {len(demo.ESTATE)} blobs committed")

            proc, fe = spawn("daemon-restarted")

            def idle():
                s = status("status-poll")
                return s.rc == 0 and "state: idle" in s.stdout
            t.require(wait_for(idle, 120), "the restarted daemon finished its pass")
            st = status("status-idle")
            js = status("status-json", "--json")
            t.check(f"{len(demo.ESTATE)} files committed" in st.stdout and
                    "ended with status 0" in st.stdout,
                    f"pstream status shows the files committed: {st.stdout[:300]}")
            t.check(f'"files_committed": {len(demo.ESTATE)}' in js.stdout, "status --json too")
            proc.send_signal(signal.SIGTERM)
            t.check(proc.wait(30) == 0, "SIGTERM: exit 0")
            t.procs.remove(proc)
            fe.close()
        finally:
            px.stop()

        expected = {rel: os.path.join(estate, rel) for rel in demo.ESTATE}
        ok = t.verify_blobs(c, demo.CONTAINER, expected)
        t.check(ok == len(expected), f"{ok}/{len(expected)} blobs byte-identical, nothing extra")
        with open(os.path.join(state, "mapping.csv"), newline="") as f:
            rows = {(r["FilePath"] + "/" + r["Name"]).lstrip("/"): r for r in csv.DictReader(f)}
        # The shipped rules: archives flagged, the rest under /Imported.
        want = {"users/alice/mail.pst": ("alice@contoso.com", "", "/Imported"),
                "users/bob/outlook.ost": ("bob@contoso.com", "", "/Imported"),
                "users/bob/archive/2019.ost": ("bob@contoso.com", "TRUE", ""),
                "users/carol/backup-copy": ("carol@contoso.com", "", "/Imported")}
        got = {k: (r["Mailbox"], r["IsArchive"], r["TargetRootFolder"]) for k, r in rows.items()}
        t.check(got == want, f"mapping CSV by the shipped rules: {got}")


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.3)
    return False


main()
