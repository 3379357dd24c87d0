# SPDX-License-Identifier: MIT
"""azure.py - a small Azure Blob client in Python stdlib, the integration tests' oracle.

Independent of pstream's C code on purpose: it signs with Shared Key
(docs/AZURE.md §3.6, path-style canonical resource for Azurite), lists and
downloads what pstream uploaded, reads block lists, and mints service and
account SAS tokens (§3.7) for pstream to use.
"""

import base64
import datetime
import email.utils
import hashlib
import hmac
import http.client
import ssl
import urllib.parse
import xml.etree.ElementTree as ET

AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (node_modules/azurite/README.md).
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")
API_VERSION = "2021-08-06"
SAS_VERSION = "2021-08-06"


class AzureError(Exception):
    """A request answered with an unexpected status."""

    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path}: HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


def _hmac_b64(key_b64, text):
    mac = hmac.new(base64.b64decode(key_b64), text.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def _sas_time(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def quote_blob(name):
    """Percent-encode a blob name for the URL path (slashes kept)."""
    return urllib.parse.quote(name, safe="/~")


class Client:
    """Path-style Blob endpoint: SCHEME://HOST:PORT/ACCOUNT/CONTAINER/BLOB."""

    def __init__(self, host, port, *, tls=False, ca_file=None, check_hostname=True,
                 account=AZURITE_ACCOUNT, key=AZURITE_KEY, timeout=60):
        self.host = host
        self.port = port
        self.tls = tls
        self.ca_file = ca_file
        self.check_hostname = check_hostname
        self.account = account
        self.key = key
        self.timeout = timeout

    @property
    def base_url(self):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}/{self.account}"

    def container_url(self, container, sas=None):
        url = f"{self.base_url}/{container}"
        return f"{url}?{sas}" if sas else url

    def connect(self):
        """A new HTTP(S) connection to the endpoint (callers may reuse it)."""
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            ctx.check_hostname = self.check_hostname
            return http.client.HTTPSConnection(self.host, self.port, context=ctx,
                                               timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def string_to_sign(self, method, path, query, headers):
        """Shared Key string-to-sign (AZURE.md §3.6) for an already-encoded path."""
        h = {k.lower(): str(v) for k, v in headers.items()}
        length = h.get("content-length", "")
        if length == "0":
            length = ""
        fields = [method, h.get("content-encoding", ""), h.get("content-language", ""),
                  length, h.get("content-md5", ""), h.get("content-type", ""),
                  h.get("date", ""), h.get("if-modified-since", ""), h.get("if-match", ""),
                  h.get("if-none-match", ""), h.get("if-unmodified-since", ""),
                  h.get("range", "")]
        canon_headers = "".join(f"{k}:{h[k].strip()}\n"
                                for k in sorted(h) if k.startswith("x-ms-"))
        resource = f"/{self.account}{path}"
        for name in sorted(query, key=str.lower):
            resource += f"\n{name.lower()}:{query[name]}"
        return "\n".join(fields) + "\n" + canon_headers + resource

    def request(self, method, container="", blob=None, *, query=None, headers=None,
                body=b"", expect=(200, 201, 202), conn=None):
        """Signed request; returns (status, headers dict (lower-case), body bytes).
        With `conn` the request goes over that (kept-alive) connection."""
        query = dict(query or {})
        path = f"/{self.account}/{container}"
        if blob is not None:
            path += "/" + quote_blob(blob)
        hdrs = {"x-ms-date": email.utils.formatdate(usegmt=True),
                "x-ms-version": API_VERSION}
        hdrs.update(headers or {})
        if body or method in ("PUT", "POST"):
            hdrs["Content-Length"] = str(len(body))
        sts = self.string_to_sign(method, path, query, hdrs)
        hdrs["Authorization"] = f"SharedKey {self.account}:{_hmac_b64(self.key, sts)}"
        url = path
        if query:
            url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        own = conn is None
        if own:
            conn = self.connect()
        try:
            conn.request(method, url, body=body or None, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            rh = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            if own:
                conn.close()
        if expect and resp.status not in expect:
            raise AzureError(method, url, resp.status, data)
        return resp.status, rh, data

    # ---- containers -------------------------------------------------------

    def create_container(self, container):
        self.request("PUT", container, query={"restype": "container"}, expect=(201,))

    def delete_container(self, container):
        self.request("DELETE", container, query={"restype": "container"}, expect=(202, 404))

    def list_blobs(self, container, prefix=None):
        """All blobs of a container as {name: size}, following continuation markers."""
        out = {}
        marker = None
        for _ in range(10000):
            q = {"restype": "container", "comp": "list", "maxresults": "5000"}
            if prefix:
                q["prefix"] = prefix
            if marker:
                q["marker"] = marker
            _, _, data = self.request("GET", container, query=q, expect=(200,))
            root = ET.fromstring(data)
            for b in root.iter("Blob"):
                out[b.findtext("Name")] = int(b.findtext("Properties/Content-Length"))
            marker = root.findtext("NextMarker")
            if not marker:
                return out
        raise AzureError("GET", container, 0, b"listing did not terminate")

    def set_access_policy(self, container, identifier, permissions, *, hours=2):
        """Set Container ACL: one stored access policy (what an Import Service
        SAS refers to with si=)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        body = ('<?xml version="1.0" encoding="utf-8"?><SignedIdentifiers><SignedIdentifier>'
                f"<Id>{identifier}</Id><AccessPolicy>"
                f"<Start>{_sas_time(now - datetime.timedelta(minutes=5))}</Start>"
                f"<Expiry>{_sas_time(now + datetime.timedelta(hours=hours))}</Expiry>"
                f"<Permission>{permissions}</Permission></AccessPolicy></SignedIdentifier>"
                "</SignedIdentifiers>").encode()
        self.request("PUT", container, query={"restype": "container", "comp": "acl"},
                     headers={"Content-Type": "application/xml"}, body=body, expect=(200,))

    # ---- blobs ------------------------------------------------------------

    def get_blob(self, container, blob):
        return self.request("GET", container, blob, expect=(200,))[2]

    def get_blob_properties(self, container, blob):
        return self.request("HEAD", container, blob, expect=(200,))[1]

    def put_blob(self, container, blob, data):
        self.request("PUT", container, blob, headers={"x-ms-blob-type": "BlockBlob"},
                     body=data, expect=(201,))

    def get_block_list(self, container, blob, kind="all"):
        """{'committed': [(id, size)...], 'uncommitted': [...]}; 404 raises AzureError."""
        _, _, data = self.request("GET", container, blob,
                                  query={"comp": "blocklist", "blocklisttype": kind},
                                  expect=(200,))
        root = ET.fromstring(data)

        def blocks(tag):
            node = root.find(tag)
            if node is None:
                return []
            return [(b.findtext("Name"), int(b.findtext("Size"))) for b in node.iter("Block")]

        return {"committed": blocks("CommittedBlocks"),
                "uncommitted": blocks("UncommittedBlocks")}

    # ---- SAS --------------------------------------------------------------

    def service_sas(self, container, permissions, *, hours=2, blob=None, protocol=None,
                    version=SAS_VERSION, identifier=None):
        """Service SAS query string for a container (sr=c) or one blob (sr=b).
        With `identifier` (a stored access policy, si=) and permissions None, the
        permissions and times come from the policy, as in the Import Service's SAS."""
        now = datetime.datetime.now(datetime.timezone.utc)
        st = se = ""
        if permissions is not None:
            st = _sas_time(now - datetime.timedelta(minutes=5))
            se = _sas_time(now + datetime.timedelta(hours=hours))
        sr = "b" if blob is not None else "c"
        canon = f"/blob/{self.account}/{container}" + (f"/{blob}" if blob is not None else "")
        if version >= "2020-12-06":
            sts = [permissions or "", st, se, canon, identifier or "", "", protocol or "",
                   version, sr, "", "", "", "", "", "", ""]
        elif version < "2018-11-09":   # no sr, snapshot or encryption scope signed
            sts = [permissions or "", st, se, canon, identifier or "", "", protocol or "",
                   version, "", "", "", "", ""]
        else:
            raise ValueError(f"service SAS version {version} not implemented")
        sts = "\n".join(sts)
        q = {"sv": version, "sr": sr}
        if permissions is not None:
            q.update({"sp": permissions, "st": st, "se": se})
        if identifier:
            q["si"] = identifier
        if protocol:
            q["spr"] = protocol
        q["sig"] = _hmac_b64(self.key, sts)
        return urllib.parse.urlencode(q, quote_via=urllib.parse.quote)

    def account_sas(self, permissions="racwl", *, services="b", resource_types="sco",
                    hours=2, protocol=None, version=SAS_VERSION):
        """Account SAS query string (string-to-sign for sv >= 2020-12-06)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        st = _sas_time(now - datetime.timedelta(minutes=5))
        se = _sas_time(now + datetime.timedelta(hours=hours))
        sts = "\n".join([self.account, permissions, services, resource_types, st, se, "",
                         protocol or "", version, "", ""])
        q = {"sv": version, "ss": services, "srt": resource_types, "sp": permissions,
             "st": st, "se": se}
        if protocol:
            q["spr"] = protocol
        q["sig"] = _hmac_b64(self.key, sts)
        return urllib.parse.urlencode(q, quote_via=urllib.parse.quote)


def sas_signature(sas_query):
    """The decoded `sig` value of a SAS query string."""
    return urllib.parse.parse_qs(sas_query)["sig"][0]


def sas_request(method, url_with_sas, data=None, *, ca_file=None, timeout=60):
    """An unsigned request through a SAS URL (Put Blob when data is given);
    returns the HTTP status."""
    u = urllib.parse.urlsplit(url_with_sas)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout,
                                           context=ssl.create_default_context(cafile=ca_file))
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    headers = {"x-ms-version": SAS_VERSION}
    if data is not None:
        headers.update({"x-ms-blob-type": "BlockBlob", "Content-Length": str(len(data))})
    try:
        conn.request(method, f"{u.path}?{u.query}", body=data, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def sas_put(url_with_sas, data, *, ca_file=None, timeout=60):
    """Put Blob through a SAS URL (no Shared Key); returns the HTTP status."""
    return sas_request("PUT", url_with_sas, data, ca_file=ca_file, timeout=timeout)
