#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# test-pst-malform.py - the malformed-input set of RELIABILITY.md 1.6:
# pst-malform writes the damaged files and what each must produce
# (cases.tsv), then every file goes through `pstream inspect --json` (and
# `pstream export --to DIR` when the binary has that command) under limits:
# wall time 10 s, CPU time 2 s per MiB (at least 1 s), address space
# 256 MiB (RSS 256 MiB under the sanitizers, whose shadow memory needs more
# address space).  Asserted for each file:
#  - no signal, no sanitizer report, the exit status the case allows;
#  - the report names the problem: the case's substring (or one of its
#    |-separated alternatives) in a problem's message (stderr for exit 3),
#    with a NID or file offset; export's report names it too, and names
#    the damage that only its full decode of messages meets;
#  - for damage confined to items, every other item of the undamaged
#    source still comes out (message and folder counts of its own inspect
#    within the case's budget), and never more items than the source has.
#
#   test-pst-malform.py PST_MALFORM PSTREAM CORPUS NODE_MODULES OUTDIR SANITIZED(0/1)
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

MIB = 1024 * 1024
MEM_LIMIT = 256 * MIB
WALL_LIMIT = 10.0

gen, pstream, corpus, node_modules, outdir, sanitized = sys.argv[1:7]
sanitized = sanitized == "1"
# Sanitizers cost CPU: the limits stay, scaled by their usual overhead.
slow = 3.0 if sanitized else 1.0


def limits():
    if not sanitized:
        resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT, MEM_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(args, size):
    """Run args under the limits: (status, stdout, stderr, cpu, rss, cpu_limit, why);
    CPU time and peak RSS come from wait4()."""
    cpu_limit = max(1.0, 2.0 * size / MIB) * slow
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(args, stdout=out, stderr=err, preexec_fn=limits)
        deadline = time.monotonic() + WALL_LIMIT * slow
        why = None
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                why = "no result after %.0f s" % (WALL_LIMIT * slow)
                break
            time.sleep(0.005)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode("utf-8", "replace"),
                err.read().decode("utf-8", "replace"), ru.ru_utime + ru.ru_stime,
                ru.ru_maxrss * 1024, cpu_limit, why)


def names(text, sub):
    """Does text contain sub or one of its |-separated alternatives?"""
    return any(a.lower() in text.lower() for a in sub.split("|"))


def counts(doc):
    t = doc["totals"]
    return t["messages"] + t["fai"], t["folders"]


def has_export():
    p = subprocess.run([pstream, "export", "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return p.returncode == 0


def main():
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    g = subprocess.run([gen, outdir, corpus, node_modules], stderr=subprocess.PIPE)
    sys.stderr.write(g.stderr.decode())
    if g.returncode == 77:
        print("1..0 # SKIP corpus files absent (%s)" % corpus)
        return 0
    if g.returncode != 0:
        print("Bail out! pst-malform failed (%d)" % g.returncode)
        return 1

    cases = []
    with open(os.path.join(outdir, "cases.tsv")) as f:
        for line in f:
            k, name, src, exits, sub, lost_m, lost_f, reach = line.rstrip("\n").split("\t")
            cases.append(dict(case=int(k), name=name, src=src,
                              exits={int(x) for x in exits.split(",")}, sub=sub,
                              lost_m=int(lost_m), lost_f=int(lost_f), reach=reach))
    export = has_export()
    ref, ref_export = {}, {}
    for c in cases:
        if c["src"] != "-" and c["src"] not in ref:
            p = subprocess.run([pstream, "inspect", "--json", c["src"]],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if p.returncode != 0:
                print("Bail out! the source %s does not inspect cleanly (%d)"
                      % (c["src"], p.returncode))
                return 1
            ref[c["src"]] = counts(json.loads(p.stdout))
            if export:
                ref_export[c["src"]] = reference_export(c["src"])

    # Every case of 1.6 but 32 (needs the writer) and 36-40 (I/O layer).
    missing = sorted(set(range(1, 36)) - {32} - {c["case"] for c in cases})
    print("1..%d" % (len(cases) + 1))
    failed = 0
    if missing:
        failed += 1
        print("not ok 1 - every case generated # missing: %s" % missing)
    else:
        print("ok 1 - every case generated")
    for i, c in enumerate(cases, 2):
        path = os.path.join(outdir, c["name"])
        size = os.path.getsize(path)
        errs = []
        args = [pstream, "inspect", "--json", path]
        status, out, err, cpu, rss, cpu_limit, why = run(args, size)
        errs += limit_errors("", status, err, cpu, rss, cpu_limit, why)
        if status not in c["exits"] and not why:
            errs.append("exit %d, expected %s (stderr: %s)"
                        % (status, sorted(c["exits"]), err.strip()[:200]))
        doc = None
        if status in (0, 1):
            try:
                doc = json.loads(out)
            except ValueError:
                errs.append("inspect --json output is not JSON")
        if c["sub"] and c["reach"] == "inspect" and status in c["exits"]:
            if status == 3:
                if not names(err, c["sub"]):
                    errs.append("stderr does not name %r: %s" % (c["sub"], err.strip()[:200]))
            elif doc is not None:
                hits = [p for p in doc["problems"] if names(p["message"], c["sub"])]
                if not hits:
                    errs.append("no problem names %r: %s"
                                % (c["sub"], [p["message"] for p in doc["problems"]][:4]))
                elif not any(p["nid"] or p["offset"] or "0x" in p["message"] for p in hits):
                    errs.append("problem %r has neither NID nor offset" % hits[0]["message"])
        if doc is not None and c["src"] != "-":
            msgs, folders = counts(doc)
            rm, rf = ref[c["src"]]
            if msgs > rm or folders > rf:
                errs.append("more items than the source: %d messages, %d folders (source %d, %d)"
                            % (msgs, folders, rm, rf))
            if c["lost_m"] >= 0 and msgs < rm - c["lost_m"]:
                errs.append("%d of %d messages, at most %d may be lost" % (msgs, rm, c["lost_m"]))
            if c["lost_f"] >= 0 and folders < rf - c["lost_f"]:
                errs.append("%d of %d folders, at most %d may be lost" % (folders, rf, c["lost_f"]))
        if export:
            errs += check_export(c, path, size, status, ref_export.get(c["src"]))
        name = "case %d %s" % (c["case"], c["name"])
        if errs:
            failed += 1
            print("not ok %d - %s" % (i, name))
            for e in errs:
                print("#   %s" % e)
        else:
            print("ok %d - %s (%.2f s CPU, %d MiB)" % (i, name, cpu, rss // MIB))
    if not export:
        print("# pstream has no export command: export not checked")
    return 1 if failed else 0


def limit_errors(what, status, err, cpu, rss, cpu_limit, why):
    errs = []
    if why:
        errs.append(what + why)
    elif status < 0:
        errs.append("%skilled by signal %d" % (what, -status))
    if "Sanitizer" in err or "runtime error:" in err:
        errs.append(what + "sanitizer report: " + err.strip().splitlines()[0])
    if not why and cpu > cpu_limit:
        errs.append("%s%.2f s of CPU, limit %.2f s" % (what, cpu, cpu_limit))
    if rss > MEM_LIMIT:
        errs.append("%speak RSS %d MiB" % (what, rss // MIB))
    return errs


def export_report(to):
    """The report.json of an export into to, or None."""
    for d in os.listdir(to):
        rp = os.path.join(to, d, "report.json")
        if os.path.exists(rp):
            with open(rp) as f:
                return json.load(f)
    return None


def export_counts(doc):
    return len([m for m in doc["messages"] if not m.get("orphan")]), len(doc["folders"])


def reference_export(src):
    with tempfile.TemporaryDirectory(dir=outdir) as to:
        p = subprocess.run([pstream, "export", "--quiet", "--jobs", "2", src, "--to", to],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        doc = export_report(to) if p.returncode == 0 else None
        return export_counts(doc) if doc else None


def check_export(c, path, size, inspect_status, ref_export):
    """The same file through `pstream export` (2 workers, so that the
    address-space limit does not depend on the machine's cores): same
    limits; a file inspect
    cannot open export cannot either; a problem inspect names, export names
    too; the items of the source are exported within the case's budget."""
    with tempfile.TemporaryDirectory(dir=outdir) as to:
        status, out, err, cpu, rss, cpu_limit, why = run(
            [pstream, "export", "--quiet", "--jobs", "2", path, "--to", to], size)
        errs = limit_errors("export: ", status, err, cpu, rss, cpu_limit, why)
        if why or status < 0:
            return errs
        allowed = {3} if inspect_status == 3 else {1} if inspect_status == 1 else {0, 1}
        if c["reach"] == "export" and c["sub"]:
            allowed = {1}
        if status not in allowed:
            errs.append("export: exit %d, expected %s (stderr: %s)"
                        % (status, sorted(allowed), err.strip()[:200]))
        if status == 3:
            return errs
        doc = export_report(to)
        if doc is None:
            return errs + ["export: no report.json"]
        reasons = [p.get("reason", "") for p in doc.get("skipped", []) + doc.get("problems", [])]
        if c["sub"] and (c["reach"] == "export" or inspect_status == 1) and \
                not any(names(r, c["sub"]) for r in reasons):
            errs.append("export: no reason names %r: %s" % (c["sub"], reasons[:4]))
        if ref_export:
            msgs, folders = export_counts(doc)
            rm, rf = ref_export
            if msgs > rm or folders > rf:
                errs.append("export: more items than the source: %d messages, %d folders"
                            " (source %d, %d)" % (msgs, folders, rm, rf))
            if c["lost_m"] >= 0 and msgs < rm - c["lost_m"]:
                errs.append("export: %d of %d messages, at most %d may be lost"
                            % (msgs, rm, c["lost_m"]))
            if c["lost_f"] >= 0 and folders < rf - c["lost_f"]:
                errs.append("export: %d of %d folders, at most %d may be lost"
                            % (folders, rf, c["lost_f"]))
    return errs


if __name__ == "__main__":
    sys.exit(main())
