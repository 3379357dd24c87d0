#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Import Service mapping CSV: a rules file (comments, first match wins, `*`
within one directory level, `**` across levels, IsArchive / TargetRootFolder
options) and an ingest under a URL prefix and --prefix; the CSV header is the
exact Microsoft header, each matched file gives one row (FilePath = the blob's
directory, Name = the file name, Workload Exchange, SP* blank), and the files
no rule matches are uploaded all the same but named on stderr and in the report."""

import csv
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import harness  # noqa: E402

HEADER = ("Workload,FilePath,Name,Mailbox,IsArchive,TargetRootFolder,ContentCodePage,"
          "SPFileContainer,SPManifestContainer,SPSiteUrl")

RULES = """\
# mailbox rules for the test share; first match wins
alice/2019/*        alice.archive@contoso.com  IsArchive=TRUE TargetRootFolder=/Old
alice/**            alice@contoso.com
bob/*.pst           bob@contoso.com  IsArchive=FALSE  TargetRootFolder=/
shared/**/*.ost     carol@contoso.com
"""

# rel path -> (Mailbox, IsArchive, TargetRootFolder) or None when no rule matches
EXPECT = {
    "alice/2019/jan.pst": ("alice.archive@contoso.com", "TRUE", "/Old"),
    "alice/2020/q1/feb.pst": ("alice@contoso.com", None, ""),
    "alice/top.pst": ("alice@contoso.com", None, ""),
    'alice/old, "quoted".pst': ("alice@contoso.com", None, ""),
    "bob/inbox.pst": ("bob@contoso.com", "FALSE", "/"),
    "bob/sub/nested.pst": None,
    "shared/team/x/cache.ost": ("carol@contoso.com", None, ""),
    "other/orphan.pst": None,
}


def main():
    with harness.Test("mapping") as t:
        cdir, rows = harness.corpus()
        src = t.path("share")
        sources = sorted(r["name"] for r in rows)
        for i, rel in enumerate(sorted(EXPECT)):
            os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
            shutil.copyfile(os.path.join(cdir, sources[i]), os.path.join(src, rel))
        rules = t.path("rules.txt")
        with open(rules, "w") as f:
            f.write(RULES)
        c = t.azurite()
        c.create_container("ingestiondata")
        sas = c.service_sas("ingestiondata", "cw")
        mapping = t.path("mapping.csv")
        url = c.container_url("ingestiondata") + f"/job7?{sas}"
        run, report = t.ingest([src], url, "--prefix", "wave1", "--mapping-csv", mapping,
                               "--mailbox-rules", rules, label="ingest", check_rc=None)
        unmatched = sorted(r for r, v in EXPECT.items() if v is None)
        t.check(run.rc == 1, f"unmatched files make exit 1 (they are left out of the "
                             f"import): {run.describe()}")
        expected = harness.tree_blobs(src, "job7/wave1")
        ok = t.verify_blobs(c, "ingestiondata", expected)
        t.check(ok == len(EXPECT), f"all {len(EXPECT)} files uploaded, matched or not: {ok}")

        with open(mapping, newline="") as f:
            text = f.read()
        t.outputs.append(mapping)
        t.check(text.splitlines()[0] == HEADER if text else False,
                f"CSV header is exactly the Import Service header: {text[:120]!r}")
        got = {}
        for row in csv.DictReader(text.splitlines()):
            key = f"{row['FilePath']}/{row['Name']}"
            t.check(key not in got, f"one row per file: {key}")
            got[key] = row
        want = {}
        for rel, v in EXPECT.items():
            if v is None:
                continue
            blob = harness.join_blob("job7/wave1", rel)
            want[blob] = v
        t.check(sorted(got) == sorted(want),
                f"rows for exactly the matched files: got {sorted(got)}, want {sorted(want)}")
        for blob, (mailbox, archive, target) in sorted(want.items()):
            row = got.get(blob)
            if row is None:
                continue
            directory, name = blob.rsplit("/", 1)
            t.check(row["Workload"] == "Exchange", f"{blob}: Workload Exchange")
            t.check(row["FilePath"] == directory and row["Name"] == name,
                    f"{blob}: FilePath {row['FilePath']!r} / Name {row['Name']!r}")
            t.check(row["Mailbox"] == mailbox, f"{blob}: Mailbox {row['Mailbox']!r} == {mailbox}")
            ok_archive = row["IsArchive"] in ("", "FALSE") if archive is None else \
                row["IsArchive"] == archive
            t.check(ok_archive, f"{blob}: IsArchive {row['IsArchive']!r} (rule: {archive})")
            t.check(row["TargetRootFolder"] == target,
                    f"{blob}: TargetRootFolder {row['TargetRootFolder']!r} == {target!r}")
            t.check(row["SPFileContainer"] == row["SPManifestContainer"] == row["SPSiteUrl"]
                    == "", f"{blob}: SP* columns blank")

        with open(report) as f:
            rep = json.load(f)
        rest = json.dumps({k: v for k, v in rep.items() if k != "files"})
        entries = {os.path.relpath(e.get("path", ""), src): e for e in rep.get("files", [])}
        for rel in unmatched:
            t.check(rel in run.stderr, f"unmatched {rel} named on stderr")
            marked = [k for k in entries.get(rel, {}) if "mailbox" in k or "unmatched" in k
                      or "mapping" in k]
            t.check(rel in rest or marked,
                    f"unmatched {rel} listed in the report (a list outside 'files', or a "
                    f"mailbox/mapping field in its entry): {entries.get(rel)}")


main()
