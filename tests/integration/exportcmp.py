# SPDX-License-Identifier: MIT
"""exportcmp.py - read what three PST exporters wrote, as comparable data.

* pffexport (pff-tools, libpff): `pffexport -f all -t BASE FILE` writes
  BASE.export/<folder>/<Kind>NNNNN/ per item (Kind: Message, Appointment,
  Contact, Meeting, Note, Task, Activity, DistributionList) with the MAPI
  fields in OutlookHeaders.txt or <Kind>.txt ("Message:" section),
  InternetHeaders.txt, Message.txt/.html/.rtf bodies and Attachments/ (by-value
  attachments as files "N_name", embedded messages as AttachmentNNNNN/ dirs).
* readpst (pst-utils, libpst): `readpst -S -b -D -o DIR FILE` writes
  DIR/<store name>/<folders below the IPM subtree>/N per item and N-name per
  by-value attachment; embedded messages stay inside the item file.
* pstream: `pstream export FILE --to DIR` writes DIR/<basename>/<folder>/<NID>.eml
  and report.json (docs: helpers' EXPORT-LAYOUT contract, issue 3 item 6).

Each reader returns {folder path: Folder}; a Folder holds its items (pff,
pstream) or only their count (readpst), and the sha256 of every top-level
by-value attachment.  Nothing here compares; test_export_compare.py does.
Python stdlib only.
"""

import datetime
import email
import email.header
import email.policy
import email.utils
import hashlib
import html
import html.parser
import json
import os
import re

ITEM_DIR = re.compile(r"(Message|Appointment|Contact|Meeting|Note|Task|Activity|"
                      r"DistributionList|Document|Conflict|Post|Item)(\d{5})")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def decode_bytes(data, charset=None):
    """Text from bytes: the declared charset, else UTF-8, else windows-1252."""
    for cs in ([charset] if charset else []) + ["utf-8"]:
        try:
            return data.decode(cs)
        except (LookupError, UnicodeDecodeError):
            pass
    return data.decode("cp1252", errors="replace")


def norm_text(s):
    """Body text as comparable words: NULs, BOMs, line ends, non-breaking and
    other whitespace runs are one space; leading/trailing space dropped."""
    if s is None:
        return None
    s = s.replace("\ufeff", "").replace("\x00", "").replace("\u00a0", " ")
    return " ".join(s.split())


class _HTMLText(html.parser.HTMLParser):
    """The text a browser would show, roughly: data outside <script>,
    <style>, <head> and comments, entities decoded."""

    SKIP = {"script", "style", "head", "title", "xml"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "td", "table"):
            self.out.append(" ")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_text(s):
    if s is None:
        return None
    p = _HTMLText()
    try:
        p.feed(s)
        p.close()
    except (AssertionError, ValueError):
        return norm_text(re.sub(r"<[^>]*>", " ", html.unescape(s)))
    return norm_text("".join(p.out))


def html_charset(data):
    m = re.search(rb"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", data[:4096], re.I)
    return m.group(1).decode("ascii").lower() if m else None


_RTF_TOKEN = re.compile(rb"\\([a-zA-Z]+)(-?\d+)? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|[\r\n]+|([^\\{}\r\n]+)",
                        re.S)
_RTF_SKIP = {b"fonttbl", b"colortbl", b"stylesheet", b"info", b"pict", b"object",
             b"header", b"footer", b"headerl", b"headerr", b"footerl", b"footerr",
             b"listtable", b"listoverridetable", b"themedata", b"datastore",
             b"latentstyles", b"rsidtbl", b"xmlnstbl", b"generator", b"filetbl",
             b"revtbl", b"pgdsctbl", b"mmathPr", b"colorschememapping", b"fldinst"}


def rtf_text(data):
    """The visible text of an RTF document (also HTML encapsulated in RTF:
    \\htmlrtf regions and \\*\\htmltag groups left out), as norm_text()."""
    if data is None:
        return None
    cp = "cp1252"
    out = []
    stack = []
    skip = False
    htmlrtf = False
    uc = 1
    pending_skip = 0
    first_in_group = False
    for m in _RTF_TOKEN.finditer(data):
        word, arg, hexb, sym, brace, text = m.groups()
        if brace == b"{":
            stack.append((skip, htmlrtf, uc))
            first_in_group = True
            continue
        if brace == b"}":
            if stack:
                skip, htmlrtf, uc = stack.pop()
            first_in_group = False
            continue
        starts = first_in_group
        first_in_group = False
        if word is not None:
            if starts and word in _RTF_SKIP:
                skip = True
            elif word == b"ansicpg" and arg:
                cp = f"cp{int(arg)}"
            elif word == b"htmlrtf":
                htmlrtf = arg != b"0"
            elif word == b"uc" and arg:
                uc = int(arg)
            elif word == b"u" and arg and not (skip or htmlrtf):
                n = int(arg)
                out.append(chr(n + 65536 if n < 0 else n))
                pending_skip = uc
                continue
            elif word in (b"par", b"line", b"sect", b"row", b"cell") and not (skip or htmlrtf):
                out.append("\n")
            elif word == b"tab" and not (skip or htmlrtf):
                out.append("\t")
            pending_skip = 0
            continue
        if sym is not None:
            if sym == b"*" and starts:
                skip = True
            elif sym in (b"{", b"}", b"\\") and not (skip or htmlrtf):
                out.append(sym.decode())
            elif sym == b"~" and not (skip or htmlrtf):
                out.append(" ")
            pending_skip = 0
            continue
        if hexb is not None:
            if pending_skip:
                pending_skip -= 1
                continue
            if not (skip or htmlrtf):
                out.append(bytes([int(hexb, 16)]).decode(cp, errors="replace"))
            continue
        if text is not None and not (skip or htmlrtf):
            if pending_skip:
                text = text[pending_skip:]
                pending_skip = 0
            try:
                out.append(text.decode(cp))
            except (LookupError, UnicodeDecodeError):
                out.append(text.decode("cp1252", errors="replace"))
    return norm_text("".join(out))


# ---- pffexport --------------------------------------------------------------

PFF_TIME = "%b %d, %Y %H:%M:%S"
MAX_DEPTH_PATH = 200   # path components: bounds the walk into nested Attachment dirs


def pff_time(v):
    """'Jun 13, 2017 16:19:12.000000000 UTC' -> aware datetime (seconds)."""
    m = re.match(r"([A-Z][a-z]{2} \d{2}, \d{4} \d{2}:\d{2}:\d{2})(\.\d+)? UTC$", v or "")
    if not m:
        return None
    try:
        return datetime.datetime.strptime(m.group(1), PFF_TIME).replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def pff_fields(path):
    """The 'Message:' section of OutlookHeaders.txt / <Kind>.txt as a dict."""
    fields = {}
    try:
        with open(path, "rb") as f:
            text = decode_bytes(f.read())
    except OSError:
        return fields
    section = None
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line and not line.startswith("\t") and line.endswith(":") and "\t" not in line:
            section = line[:-1]
            continue
        if section != "Message" or ":" not in line:
            continue
        k, v = line.split(":", 1)
        fields.setdefault(k.strip(), v.strip("\t "))
    return fields


class Item:
    """One message-like item as one tool exported it."""

    def __init__(self, tool, folder, where):
        self.tool = tool
        self.folder = folder
        self.where = where          # directory, file or eml path: for messages
        self.kind = None            # pff: Message/Appointment/...; pstream: class
        self.subject = None         # MAPI subject (pff: OutlookHeaders; ours: report.json)
        self.hdr_subject = None     # Subject header (pff: InternetHeaders; ours: .eml)
        self.hdr_from = None        # (name, addr) from a From header
        self.hdr_date = None        # aware datetime from a Date header
        self.sender = {}            # pff MAPI sender fields
        self.times = {}             # pff MAPI times
        self.text = None            # plain body (raw string)
        self.html = None            # HTML body (raw string)
        self.rtf = None             # pff: raw RTF bytes (only when no text/HTML)
        self.attachments = []       # sha256 of each top-level by-value attachment
        self.att_names = []         # and its file name, for messages
        self.embedded = 0           # top-level embedded messages
        self.children = []          # those embedded messages, as Items

    def date(self):
        """The date a reader shows for the item: the Date header when the
        transport headers have one, else the MAPI times in the order a
        MIME renderer uses them."""
        if self.hdr_date:
            return self.hdr_date
        for k in ("Client submit time", "Delivery time", "Creation time"):
            if self.times.get(k):
                return self.times[k]
        return None

    def label(self):
        d = self.date()
        return f"{self.where!s} (subject {self.subject!r}, date {d.isoformat() if d else None})"


class Folder:
    def __init__(self, path):
        self.path = path
        self.items = []
        self.count = 0              # readpst: number of item files
        self.attachments = []       # sha256, every top-level attachment of the folder's items
        self.fai = 0
        self.nid = None
        self.claimed = None         # readpst: items its log says it wrote


def _parse_headers(item, raw):
    """Subject/From/Date of a header block (InternetHeaders.txt or a file)."""
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    subj = msg.get("Subject")
    if subj is not None:
        item.hdr_subject = header_str(subj)
    frm = msg.get("From")
    if frm is not None:
        v = header_str(frm)
        group = re.fullmatch(r'\s*(.*?)\s*:\s*;\s*', v)
        if group:
            # "Name":; - an empty RFC 5322 group: a sender known by name only
            item.hdr_from = (email.utils.unquote(group.group(1).strip('"')), "")
        elif "@" not in v:
            item.hdr_from = (v.strip().strip('"'), "")
        else:
            item.hdr_from = email.utils.parseaddr(v)
    dt = msg.get("Date")
    if dt is not None:
        try:
            d = email.utils.parsedate_to_datetime(str(dt))
            if d.tzinfo is None:
                d = d.replace(tzinfo=datetime.timezone.utc)
            item.hdr_date = d.astimezone(datetime.timezone.utc)
        except (TypeError, ValueError, IndexError):
            item.hdr_date = None


def header_str(v):
    """A header value as text, RFC 2047 words decoded, folding removed."""
    try:
        parts = email.header.decode_header(str(v))
    except (ValueError, LookupError):
        return " ".join(str(v).split())
    out = []
    for s, cs in parts:
        out.append(decode_bytes(s, cs) if isinstance(s, bytes) else s)
    return " ".join("".join(out).split())


def _pff_item(kind, d, folder):
    it = Item("pffexport", folder, d)
    it.kind = kind
    names = os.listdir(d)
    fpath = os.path.join(d, "OutlookHeaders.txt")
    if not os.path.isfile(fpath):
        fpath = os.path.join(d, f"{kind}.txt")
    f = pff_fields(fpath)
    it.subject = f.get("Subject")
    for k in ("Client submit time", "Delivery time", "Creation time"):
        it.times[k] = pff_time(f.get(k))
    it.sender = {k: f.get(k) for k in ("Sender name", "Sender email address",
                                       "Sent representing name",
                                       "Sent representing email address")}
    if "InternetHeaders.txt" in names:
        with open(os.path.join(d, "InternetHeaders.txt"), "rb") as fh:
            _parse_headers(it, decode_bytes(fh.read()))
    if "Message.txt" in names:
        with open(os.path.join(d, "Message.txt"), "rb") as fh:
            it.text = decode_bytes(fh.read())
    elif kind == "Note" and f"{kind}.txt" in names:
        with open(os.path.join(d, "Note.txt"), "rb") as fh:
            t = decode_bytes(fh.read())
        m = re.search(r"\nBody:\n\n(.*)\Z", t, re.S)
        it.text = m.group(1) if m else None
    if "Message.html" in names:
        with open(os.path.join(d, "Message.html"), "rb") as fh:
            raw = fh.read()
        it.html = decode_bytes(raw, html_charset(raw))
    if "Message.rtf" in names:
        with open(os.path.join(d, "Message.rtf"), "rb") as fh:
            it.rtf = fh.read()
    ad = os.path.join(d, "Attachments")
    if os.path.isdir(ad):
        for a in sorted(os.listdir(ad), key=_pff_att_order):
            p = os.path.join(ad, a)
            if os.path.isdir(p) and re.fullmatch(r"Attachment\d{5}", a):
                it.embedded += 1
                subs = [e for e in sorted(os.listdir(p)) if ITEM_DIR.fullmatch(e)]
                if subs and len(it.where.split(os.sep)) < MAX_DEPTH_PATH:
                    k = ITEM_DIR.fullmatch(subs[0]).group(1)
                    it.children.append(_pff_item(k, os.path.join(p, subs[0]), folder))
            elif os.path.isfile(p):
                it.attachments.append(sha256_file(p))
                it.att_names.append(re.sub(r"^\d+_", "", a))
    return it


def _pff_att_order(name):
    m = re.match(r"(?:Attachment)?(\d+)", name)
    return (int(m.group(1)) if m else 1 << 30, name)


def read_pffexport(export_dir):
    """{folder path: Folder} of a pffexport -f all export directory."""
    folders = {}
    for root, dirs, files in os.walk(export_dir):
        rel = os.path.relpath(root, export_dir)
        if rel == ".":
            dirs.sort()
            continue
        parts = rel.split(os.sep)
        if any(ITEM_DIR.fullmatch(p) for p in parts):
            dirs[:] = []  # inside an item: its Attachments belong to it
            continue
        folder = "/".join(parts)
        fo = folders.setdefault(folder, Folder(folder))
        keep = []
        for name in sorted(dirs):
            m = ITEM_DIR.fullmatch(name)
            if m:
                it = _pff_item(m.group(1), os.path.join(root, name), folder)
                fo.items.append(it)
                fo.attachments.extend(it.attachments)
            else:
                keep.append(name)
        dirs[:] = keep
        fo.count = len(fo.items)
    return folders


# ---- readpst ----------------------------------------------------------------

def read_readpst(out_dir):
    """(store dir name, {folder path relative to the IPM subtree: Folder}).
    Items are the files named by a number; N-name files are attachments."""
    tops = [d for d in os.listdir(out_dir) if os.path.isdir(os.path.join(out_dir, d))]
    if not tops:
        return None, {}
    if len(tops) > 1:
        raise ValueError(f"readpst wrote {len(tops)} top directories in {out_dir}: {tops}")
    top = os.path.join(out_dir, tops[0])
    folders = {}
    for root, dirs, files in os.walk(top):
        dirs.sort()
        rel = os.path.relpath(root, top)
        folder = "" if rel == "." else rel.replace(os.sep, "/")
        fo = folders.setdefault(folder, Folder(folder))
        for name in sorted(files):
            p = os.path.join(root, name)
            if re.fullmatch(r"\d+", name):
                fo.count += 1
                it = Item("readpst", folder, p)
                with open(p, "rb") as fh:
                    head = fh.read(65536)
                it.kind = _readpst_kind(head)
                fo.items.append(it)
            elif re.fullmatch(r"\d+-.*", name, re.S):
                fo.attachments.append(sha256_file(p))
    return tops[0], folders


def readpst_claims(log):
    """{folder name: [items done, ...]} from readpst's progress lines
    '\t"NAME" - N items done, M items skipped.' (N counts sub-folders too;
    the top folder is named after the store)."""
    out = {}
    for m in re.finditer(r'^\t"(.*)" - (\d+) items done, (\d+) items skipped\.$', log, re.M):
        out.setdefault(m.group(1), []).append(int(m.group(2)))
    return out


def _readpst_kind(head):
    for marker, kind in ((b"BEGIN:VCALENDAR", "calendar"), (b"BEGIN:VCARD", "contact"),
                         (b"BEGIN:VJOURNAL", "journal")):
        if head.startswith(marker):
            return kind
    return "message"


# ---- pstream ----------------------------------------------------------------

def _eml_parts(msg, it):
    """Bodies, attachments and embedded messages of one rendered message,
    not descending into message/rfc822 parts."""
    stack = [msg]
    while stack:
        p = stack.pop(0)
        ctype = p.get_content_type()
        disp = p.get("Content-Disposition")
        if ctype == "message/rfc822":
            it.embedded += 1
            inner = p.get_payload()
            if isinstance(inner, list) and inner:
                child = Item(it.tool, it.folder, f"{it.where} > message/rfc822 #{it.embedded}")
                _parse_headers(child, "".join(f"{k}: {v}\n" for k, v in inner[0].items()))
                child.subject = child.hdr_subject
                _eml_parts(inner[0], child)
                it.children.append(child)
            continue
        if p.is_multipart():
            stack[0:0] = p.get_payload()
            continue
        data = p.get_payload(decode=True) or b""
        if disp is None and ctype in ("text/plain", "text/html"):
            text = decode_bytes(data, p.get_content_charset())
            if ctype == "text/plain" and it.text is None:
                it.text = text
            elif ctype == "text/html" and it.html is None:
                it.html = text
            continue
        it.attachments.append(hashlib.sha256(data).hexdigest())
        it.att_names.append(p.get_filename())


def read_pstream(out_dir):
    """(report dict, {folder path: Folder}) of DIR/<basename>/ as written by
    `pstream export`."""
    with open(os.path.join(out_dir, "report.json")) as f:
        rep = json.load(f)
    folders = {}
    by_nid = {}
    for fo in rep.get("folders", []):
        f = folders.setdefault(fo["path"], Folder(fo["path"]))
        f.nid = fo.get("nid")
        f.fai = fo.get("fai", 0)
        by_nid[f.nid] = f
    for m in rep.get("messages", []):
        if m.get("orphan"):
            continue
        path = os.path.join(out_dir, m["eml"])
        folder = os.path.dirname(m["eml"])
        fo = by_nid.get(m.get("folder_nid")) or folders.setdefault(folder, Folder(folder))
        it = Item("pstream", fo.path, path)
        it.kind = m.get("class")
        it.subject = m.get("subject")
        it.report = m
        with open(path, "rb") as fh:
            msg = email.message_from_binary_file(fh, policy=email.policy.compat32)
        _parse_headers(it, "".join(f"{k}: {v}\n" for k, v in msg.items()))
        _eml_parts(msg, it)
        fo.items.append(it)
        fo.attachments.extend(it.attachments)
    for fo in folders.values():
        fo.count = len(fo.items)
    return rep, folders
