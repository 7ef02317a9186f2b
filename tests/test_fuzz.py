"""Fuzz a running `ossbox server` with malformed requests over raw sockets: mutated SDK-style
signed requests (paths, queries, numbers, headers, XML bodies, signatures) and protocol garbage
(request lines, framing, chunked encoding, other transfer codings, truncation).

Asserted: no 5xx (501 NotImplemented with an OSS XML body, OSS's answer for an unsupported
sub-resource, is an answer, not a failure), no hang (every request is answered or its connection
closed within a per-request timeout), the server process alive with no internal-error traceback,
and canary objects written before (a plain, an appendable and a multipart object) byte-identical
after. The default suite sends a few hundred requests; the slow one at least 10,000.

Deterministic: the seed is printed; OSSBOX_FUZZ_SEED replays a run, OSSBOX_FUZZ_REQUESTS sets the
slow run's size.
"""
from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import os
import random
import socket
import time
from collections import Counter
from urllib.parse import quote, unquote

import oss2
import pytest

from ossbox.auth import SignedRequest
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess
from signing import presign_v1, presign_v4, sign_v1_header, sign_v4_header

SEED = int(os.environ.get("OSSBOX_FUZZ_SEED", "20261130"))
QUICK_REQUESTS = 500
FULL_REQUESTS = max(10_000, int(os.environ.get("OSSBOX_FUZZ_REQUESTS", "10000")))
TIMEOUT = 10.0          # a request not answered (or its connection not closed) by then is a hang
MAX_HANGS = 10         # then the run stops early
AMBIGUOUS_WAIT = 1.5    # framing the server may read as "more body to come": then we half-close
PLAY, CANARY = "fuzz-play", "fuzz-canary"
WRONG_SECRET = "not-the-secret-0000000000"

WEIRD_NUMBERS = ["", "-1", "+1", " 1", "1 ", "0x10", "1e3", "1.5", "\u00b2", "\u0663", "1\u00b2",
                 "9" * 5000, "0" * 3000 + "7", "18446744073709551616", "9223372036854775808",
                 "99999999999999999999", "-0", "1_000", "abc", "%00", "0" * 40, "4294967296", "65536"]
NUMERIC_HEADERS = ["range", "x-oss-traffic-limit", "x-oss-hash-crc64ecma", "x-oss-copy-source-range"]
NUMERIC_QUERY = ["max-keys", "partNumber", "position", "max-parts", "part-number-marker", "max-uploads",
                 "x-oss-traffic-limit", "x-oss-expires", "Expires"]
ODD_KEYS = ["a%00b", "%FF%FE", "..%2F..%2Fetc%2Fpasswd", "a//b", "%2F", "\\x", "k" * 1100,
            quote("\u2603/\U0001F600"), "%C0%AF", "a%", "%zz", "...", ".", "a?b", "a#b", quote("\u0000")]
ODD_HEADERS = [("x-oss-meta-big", "v" * 9000), ("x-oss-meta-\u00ff", "x"), ("content-md5", "%%%"),
               ("content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="), ("x-oss-storage-class", "Nope"),
               ("x-oss-object-acl", "bogus"), ("x-oss-tagging", "a=%zz"), ("x-oss-tagging", "&" * 200),
               ("x-oss-server-side-encryption", "ROT13"), ("x-oss-copy-source", "/nope/x"),
               ("x-oss-copy-source", "garbage"), ("x-oss-copy-source", "/" + CANARY + "/c/plain"),
               ("x-oss-range-behavior", "standard"), ("if-modified-since", "yesterday"),
               ("if-match", '"' + "f" * 500 + '"'), ("x-oss-forbid-overwrite", "maybe"),
               ("x-oss-security-token", "t" * 300), ("content-type", "\xff\xfe"),
               ("x-oss-callback", base64.b64encode(b'{"callbackUrl":"http://127.0.0.1:1/"}').decode()),
               ("x-oss-date", "20000101T000000Z"), ("date", "Thu, 01 Jan 1970 00:00:00 GMT"),
               ("expect", "100-continue"), ("transfer-encoding", "gzip"), ("x-oss-request-payer", "nobody"),
               ("transfer-encoding", "gzip, chunked"), ("transfer-encoding", "chunked, gzip"),
               ("transfer-encoding", "identity"), ("transfer-encoding", "chunked;q=1")]
SUBRESOURCES = ["acl", "tagging", "uploads", "versions", "objectMeta", "location", "bucketInfo", "seal",
                "versioning", "policy", "encryption", "restore", "append", "delete", "symlink", "cors",
                "lifecycle", "x-ossbox-admin=ListUsers", "list-type=2", "encoding-type=url",
                "encoding-type=bogus", "continuation-token=%21%21", "marker=%FF", "versionId=null",
                "versionId=", "uploadId=nope", "delimiter=%00", "prefix=" + quote("\u2603"), "fetch-owner=true"]


# -- wire -------------------------------------------------------------------------------------------
class Wire:
    """One request as bytes: how to send it and what counts as a proper ending."""

    def __init__(self, data: bytes, method: str = "GET", incomplete: bool = False, ambiguous: bool = False,
                 label: str = ""):
        self.data, self.method, self.incomplete, self.ambiguous, self.label = (
            data, method, incomplete, ambiguous, label)
        self.initiates: str | None = None   # the key, when this is an InitiateMultipartUpload in PLAY


def exchange(port: int, wire: Wire) -> tuple[str, int | None, bytes]:
    """("answered", status, body) | ("closed", None, b"") | ("hang", None, b"")."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        try:
            sock.sendall(wire.data)
        except OSError:
            return "closed", None, b""     # the server refused the rest (e.g. a head too large)
        if wire.incomplete:
            sock.shutdown(socket.SHUT_WR)  # nothing more comes: the server must give up on it
        elif wire.ambiguous:
            sock.settimeout(AMBIGUOUS_WAIT)
        resp = http.client.HTTPResponse(sock, method=wire.method)
        try:
            resp.begin()
        except (TimeoutError, socket.timeout):
            if not wire.ambiguous:
                return "hang", None, b""
            sock.settimeout(TIMEOUT)       # it waits for body bytes that never come: end the body
            sock.shutdown(socket.SHUT_WR)
            resp = http.client.HTTPResponse(sock, method=wire.method)
            try:
                resp.begin()
            except (TimeoutError, socket.timeout):
                return "hang", None, b""
            except (http.client.HTTPException, OSError):
                return "closed", None, b""
        except (http.client.HTTPException, OSError):
            return "closed", None, b""
        sock.settimeout(TIMEOUT)
        try:
            body = resp.read()
        except (TimeoutError, socket.timeout):
            return "hang", resp.status, b""
        except (http.client.HTTPException, OSError):
            body = b""
        if wire.method == "HEAD" and resp.getheader("x-oss-err"):
            body = base64.b64decode(resp.getheader("x-oss-err"))
        return "answered", resp.status, body
    finally:
        sock.close()


def render(method: str, target: str, headers: list[tuple[str, str]], body: bytes, version="HTTP/1.1") -> bytes:
    head = f"{method} {target} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1", "replace") + body


# -- signed requests, then mutated -------------------------------------------------------------------
class Fuzzer:
    def __init__(self, rng: random.Random, port: int, canary_lengths: dict[str, int]):
        self.rng, self.port = rng, port
        self.canary_lengths = canary_lengths
        self.uploads: list[tuple[str, str]] = []   # (key, upload id) created in PLAY by earlier requests

    # building blocks
    def xml_body(self, kind: str) -> bytes:
        r = self.rng
        good = {
            "complete": b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"x\"</ETag></Part>"
                        b"</CompleteMultipartUpload>",
            "delete": b"<Delete><Quiet>true</Quiet><Object><Key>k</Key></Object></Delete>",
            "tagging": b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>",
            "restore": b"<RestoreRequest><Days>2</Days></RestoreRequest>",
            "versioning": b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
        }[kind]
        choice = r.randrange(9)
        if choice == 0:
            return good
        if choice == 1:
            return good[: r.randrange(len(good))]
        if choice == 2:
            return os.urandom(r.randint(1, 400))
        if choice == 3:
            depth = r.choice([50, 500, 3000])
            return b"<a>" * depth + b"x" + b"</a>" * depth
        if choice == 4:
            n = r.choice(WEIRD_NUMBERS).encode("utf-8")
            return good.replace(b">1<", b">" + n + b"<").replace(b">2<", b">" + n + b"<")
        if choice == 5:
            return b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
        if choice == 6:
            return good.replace(b"<", b"<\xff", 1)
        if choice == 7:
            parts = b"".join(b"<Part><PartNumber>%d</PartNumber><ETag>e</ETag></Part>" % r.randint(-5, 20000)
                             for _ in range(r.randint(0, 50)))
            return b"<CompleteMultipartUpload>" + parts + b"</CompleteMultipartUpload>"
        return good.replace(b"</", b"<", 1)

    def json_body(self) -> bytes:
        r = self.rng
        value = r.choice(['"fuzzuser"', "1e999", "9" * 5000, '"' + "9" * 5000 + '"', r'"\u00b2"', "null", "[]",
                          "{}", "true", "-1", r'"\ud800"', '"' + "x" * 70000 + '"'])
        field = r.choice(["UserName", "DurationSeconds", "Status", "AccessKeyId", "PolicyDocument", "KeyId",
                          "Policy", "PolicyName"])
        choice = r.randrange(6)
        if choice == 0:
            return b'{"' + field.encode() + b'": ' + value.encode() + b"}"
        if choice == 1:
            depth = r.choice([10, 900, 30000])   # 30000 deep still fits the 64 KiB admin body
            return (b'{"UserName": "u", "Policy": ' + b"[" * depth + b"]" * depth + b"}")
        if choice == 2:
            return b'{"UserName": "u", "DurationSeconds": ' + value.encode() + b"}"
        if choice == 3:
            return os.urandom(r.randint(1, 200))
        if choice == 4:
            return b'{"UserName": "u", "PolicyName": "p", "PolicyDocument": ' + \
                b'"{\\"Version\\":\\"1\\",\\"Statement\\":' + b"[" * r.choice([5, 3000, 60000]) + b'"}'
        return b'{"UserName": "fuzz' + str(r.randrange(5)).encode() + b'"'

    def operation(self, bucket: str):
        """(method, key, query pairs, headers, body) of a plausible request on `bucket`."""
        r = self.rng
        key = r.choice(["k", "dir/sub/obj", "app.log", "m", "\u00fcn\u00ef/\u2713"])
        if bucket == CANARY:
            key = r.choice(sorted(self.canary_lengths))
            kind = r.choice(["get", "head", "meta", "list", "list2", "versions", "acl", "tagging",
                             "append-wrong", "write-wrong-key", "uploads"])
        else:
            kind = r.choice(["get", "head", "meta", "list", "list2", "versions", "put", "append", "append",
                             "initiate", "part", "complete", "delete", "multi-delete", "tagging-put",
                             "copy", "restore", "seal", "acl-put", "list-parts", "uploads", "versioning",
                             "admin"])
        q: list[tuple[str, str]] = []
        h: dict[str, str] = {}
        body = b""
        method = "GET"
        if kind == "get":
            if r.random() < 0.5:
                h["range"] = r.choice(["bytes=0-10", "bytes=-5", "bytes=3-", "bytes=5-1", "bytes=0-0,1-2"])
        elif kind == "head":
            method = "HEAD"
        elif kind == "meta":
            method, q = "HEAD", [("objectMeta", "")]
        elif kind in ("list", "list2", "versions", "uploads"):
            key = None
            q = {"list": [("prefix", "")], "list2": [("list-type", "2"), ("max-keys", "5")],
                 "versions": [("versions", "")], "uploads": [("uploads", "")]}[kind]
        elif kind == "acl":
            q = [("acl", "")]
        elif kind == "tagging":
            q = [("tagging", "")]
        elif kind == "append-wrong":
            # a validly signed append at a position the canary does not have: must be 409
            wrong = self.canary_lengths[key] + r.randint(1, 5) if r.random() < 0.5 else 0
            method, q, body = "POST", [("append", ""), ("position", str(wrong))], b"must not land"
        elif kind == "write-wrong-key":
            method, body = r.choice(["PUT", "DELETE", "POST"]), b"must not land"
            if method == "POST":
                q = [("append", ""), ("position", str(self.canary_lengths[key]))]
            return method, key, q, h, body, WRONG_SECRET
        elif kind == "put":
            method, body = "PUT", os.urandom(r.randint(0, 3000))
        elif kind == "append":
            method, q, body = "POST", [("append", ""), ("position", str(r.choice([0, 0, 1, 5, 100])))], b"ap"
        elif kind == "initiate":
            method, q = "POST", [("uploads", "")]
        elif kind in ("part", "complete", "list-parts"):
            key, upload = r.choice(self.uploads) if self.uploads else (key, "nope")
            if kind == "part":
                method, q, body = "PUT", [("partNumber", str(r.randint(1, 3))), ("uploadId", upload)], b"p" * 100
            elif kind == "complete":
                method, q, body = "POST", [("uploadId", upload)], self.xml_body("complete")
            else:
                q = [("uploadId", upload)]
        elif kind == "delete":
            method = "DELETE"
        elif kind == "multi-delete":
            key, method, q, body = None, "POST", [("delete", "")], self.xml_body("delete")
        elif kind == "tagging-put":
            method, q, body = "PUT", [("tagging", "")], self.xml_body("tagging")
        elif kind == "copy":
            method, h["x-oss-copy-source"] = "PUT", "/" + PLAY + "/" + quote(r.choice(["k", "app.log", "m"]))
        elif kind == "restore":
            method, q, body = "POST", [("restore", "")], self.xml_body("restore")
        elif kind == "seal":
            method, q = "POST", [("seal", ""), ("position", str(r.randint(0, 10)))]
        elif kind == "acl-put":
            method, q, h["x-oss-object-acl"] = "PUT", [("acl", "")], r.choice(["private", "public-read", "x"])
        elif kind == "admin":
            # the admin API (JSON bodies) as root: the bucket is not part of its address
            action = r.choice(["CreateUser", "GetUser", "CreateAccessKey", "PutUserPolicy", "AssumeRole",
                               "UpdateAccessKey", "DescribeKmsKey", "Nope", ""])
            body = self.json_body()
            # bound to what it does as the admin API requires: the action in a signed header, and
            # the body's Content-MD5
            h = {"content-type": "application/json", "x-oss-ossbox-admin": action,
                 "content-md5": base64.b64encode(hashlib.md5(body).digest()).decode()}
            return "POST", None, [("x-ossbox-admin", action)], h, body, ACCESS_KEY_SECRET
        elif kind == "versioning":
            key, method, q, body = None, "PUT", [("versioning", "")], self.xml_body("versioning")
        return method, key, q, h, body, ACCESS_KEY_SECRET

    def mutate(self, method, key, q, h, body, may_change_method=True):
        r = self.rng
        raw_key = None   # a key spelled on the wire as-is (odd percent-encodings)
        for _ in range(r.choice([0, 1, 1, 2, 3])):
            m = r.choice([0, 0, 1, 1, 2, 3, 4, 5, 6, 7])   # numbers twice as often: ossbox's 500s were there
            if m == 0:
                h[r.choice(NUMERIC_HEADERS)] = r.choice(WEIRD_NUMBERS) if r.random() < 0.5 else \
                    "bytes=" + r.choice(WEIRD_NUMBERS) + "-" + r.choice(WEIRD_NUMBERS)
            elif m == 1:
                name, value = r.choice(NUMERIC_QUERY), r.choice(WEIRD_NUMBERS)
                q = [(k, v) for k, v in q if k != name or r.random() < 0.5] + [(name, value)]
            elif m == 2:
                raw_key = r.choice(ODD_KEYS)
            elif m == 3:
                name, value = r.choice(ODD_HEADERS)
                h[name] = value
            elif m == 4:
                q = q + [tuple(r.choice(SUBRESOURCES).split("=", 1) + [""])[:2]]
            elif m == 5 and q:
                q = q[1:] if r.random() < 0.5 else q + q   # a sub-resource dropped or repeated
            elif m == 6:
                body = r.choice([b"", os.urandom(r.randint(1, 5000)), body * 2])
            elif may_change_method:
                method = r.choice(["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE"])
        return method, key, q, h, body, raw_key

    def signed(self) -> Wire:
        r = self.rng
        bucket = CANARY if r.random() < 0.2 else PLAY
        method, key, q, h, body, secret = self.operation(bucket)
        if ("x-ossbox-admin", "") not in q and any(k == "x-ossbox-admin" for k, _ in q):
            bucket = None   # the admin API lives at the service level
        # Canary objects must come out unchanged, so no validly signed request may write them: reads
        # are mutated before signing only without changing the method, writes only after signing
        # (or signed with a wrong secret, or appends at a wrong position).
        canary_write = bucket == CANARY and method not in ("GET", "HEAD")
        mutate_first = r.random() < 0.8   # mostly: a well-signed odd request reaches the operations
        raw_key = None
        if mutate_first and not canary_write:
            method, key, q, h, body, raw_key = self.mutate(method, key, q, h, body,
                                                           may_change_method=bucket != CANARY)
        version = r.choice(["v1"] * 6 + ["v4"] * 2 + ["presign-v1", "presign-v4"])
        headers = {k.lower(): v for k, v in h.items()}
        now8601 = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        if version == "v4":
            headers.setdefault("x-oss-date", now8601)
            headers["x-oss-content-sha256"] = "UNSIGNED-PAYLOAD"
        elif version == "v1":
            headers.setdefault("date", email.utils.formatdate(usegmt=True))
        if body and r.random() < 0.3:
            headers["content-md5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        if raw_key is not None:
            try:   # sign for the key the server will decode, so the odd key reaches validation
                key = unquote(raw_key, errors="strict")
            except UnicodeDecodeError:
                pass
        sreq = SignedRequest(method, bucket, key, list(q), dict(headers))
        auth = None
        try:
            if version == "v4":
                auth = sign_v4_header(sreq, ACCESS_KEY_ID, secret, "cn-hangzhou")
            elif version == "v1":
                auth = sign_v1_header(sreq, ACCESS_KEY_ID, secret)
            elif version == "presign-v1":   # expired, valid, or far in the future
                q = q + presign_v1(sreq, ACCESS_KEY_ID, secret, int(time.time()) + r.choice([-60, 600, 10 ** 11]))
            else:
                q = q + presign_v4(sreq, ACCESS_KEY_ID, secret, "cn-hangzhou", datetime_=now8601,
                                   expires=r.choice([1, 600, 604800]))
        except Exception:   # the signer itself may refuse odd input; then send it unsigned
            pass
        if auth is not None:
            headers["authorization"] = auth
        if not mutate_first:
            # after signing: what changes now must not pass the signature check (or changes nothing
            # the signature covers, e.g. an unsigned header); for a presigned URL, that includes
            # its Expires / x-oss-expires / Signature parameters
            method, key, q, h2, body, raw_key = self.mutate(method, key, q, {}, body)
            headers.update({k.lower(): v for k, v in h2.items()})
            if r.random() < 0.3 and "authorization" in headers:
                a = headers["authorization"]
                i = r.randrange(len(a))
                headers["authorization"] = a[:i] + r.choice("A=/ ,x") + a[i + 1:]
        target = "/" + (bucket + "/" if bucket else "") + (
            raw_key if raw_key is not None else quote(key or "", safe="/"))
        if q:
            target += "?" + "&".join(quote(k, safe="") + ("=" + quote(v, safe="") if v else "") for k, v in q)
        hdrs = [("Host", f"127.0.0.1:{self.port}")] + list(headers.items())
        if method not in ("GET", "HEAD") or body:
            hdrs.append(("Content-Length", str(len(body))))
        wire = Wire(render(method, target, hdrs, body), method, label=f"signed {version} {method} {target[:80]}")
        if bucket == PLAY and method == "POST" and ("uploads", "") in q and key:
            wire.initiates = key
        return wire

    # -- protocol garbage ----------------------------------------------------------------------
    def garbage(self) -> Wire:
        r = self.rng
        host = ("Host", f"127.0.0.1:{self.port}")
        p = f"/{PLAY}/g"
        choice = r.randrange(23)
        if choice == 0:
            return Wire(os.urandom(r.randint(1, 300)) + b"\r\n\r\n", ambiguous=True, label="random bytes")
        if choice == 1:
            return Wire(b"GET " + p.encode() + b" HTTP/1.1\r\n\r\n", label="no Host")
        if choice == 2:
            return Wire(render("GET", "http://127.0.0.1/" + PLAY + "/g", [host], b""), label="absolute-form")
        if choice == 3:
            return Wire(render("GET", "nolead", [host], b""), label="target without /")
        if choice == 4:
            return Wire(render(r.choice(["G@T", "", "GET GET", "\x00"]), p, [host], b""), ambiguous=True,
                        label="bad method")
        if choice == 5:
            return Wire(render("GET", p, [host], b"", version=r.choice(["HTTP/2.0", "HTTP/0.9", "HTTP/1.x", ""])),
                        ambiguous=True, label="bad version")
        if choice == 6:
            return Wire(render("PUT", p, [host, ("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
                               b"3\r\nabc\r\n0\r\n\r\n"), "PUT", ambiguous=True, label="CL + TE")
        if choice == 7:
            cl = r.choice(["-1", "\u00b2", "9" * 5000, "1, 2", "0x10", " ", "+5", "5 5"])
            return Wire(render("PUT", p, [host, ("Content-Length", cl)], b"hello"), "PUT", ambiguous=True,
                        label="bad Content-Length")
        if choice == 8:
            return Wire(render("PUT", p, [host, ("Content-Length", "3"), ("Content-Length", "7")], b"abcdefg"),
                        "PUT", ambiguous=True, label="duplicate Content-Length")
        if choice == 9:
            size = r.choice(["zz", "-1", "f" * 40, "5;ext=1", "5 ", "", "0x5"])
            return Wire(render("PUT", p, [host, ("Transfer-Encoding", "chunked")],
                               size.encode() + b"\r\nhello\r\n0\r\n\r\n"), "PUT", ambiguous=True, label="bad chunk")
        if choice == 10:
            return Wire(render("PUT", p, [host, ("Transfer-Encoding", "chunked")], b"5\r\nhel"), "PUT",
                        incomplete=True, label="truncated chunk")
        if choice == 11:
            return Wire(render("PUT", p, [host, ("Content-Length", "100000")], b"x" * r.randint(0, 5000)), "PUT",
                        incomplete=True, label="short body")
        if choice == 12:
            return Wire(f"GET {p} HTTP/1.1\r\nHost: x\r\nX-Partial: ab".encode(), incomplete=True,
                        label="truncated head")
        if choice == 13:
            return Wire(render("GET", p, [host, ("NoColon", "")], b"").replace(b"NoColon: ", b"NoColon"),
                        ambiguous=True, label="header without colon")
        if choice == 14:
            return Wire(f"GET {p} HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n".encode(), ambiguous=True,
                        label="obs-fold")
        if choice == 15:
            return Wire(f"GET {p} HTTP/1.1\nHost: x\n\n".encode(), ambiguous=True, label="bare LF")
        if choice == 16:
            return Wire(render("GET", p, [host] + [(f"X-H{i}", "v" * 50) for i in range(r.choice([100, 400]))], b""),
                        label="many headers")
        if choice == 17:
            return Wire(render("GET", p, [host, ("X-Big", "b" * r.choice([8000, 40000, 70000]))], b""),
                        ambiguous=True, label="big header")
        if choice == 18:
            return Wire(render("GET", "/" + "a" * r.choice([2000, 9000]), [host], b""), label="long target")
        if choice == 19:
            return Wire(render("GET", p, [host, ("Content-Length", "9")], b""), incomplete=True,
                        label="GET with unsent body")
        if choice == 21:
            # Transfer-Encoding other than exactly chunked, or in HTTP/1.0: 400 at once, never a wait
            te = r.choice(["gzip", "identity", "gzip, chunked", "chunked, gzip", "x-unknown", "chunked"])
            version = r.choice(["HTTP/1.1", "HTTP/1.0"]) if te == "chunked" else "HTTP/1.1"
            extra = [("Content-Length", "5")] if r.random() < 0.5 else []
            return Wire(render("PUT", p, [host, ("Transfer-Encoding", te)] + extra, b"hello", version=version),
                        "PUT", label=f"Transfer-Encoding {te} {version}")
        if choice == 20:
            return Wire(render("GET", p + "?" + "&".join(r.choice(SUBRESOURCES) for _ in range(30)),
                               [host, ("Authorization", r.choice(["OSS", "OSS :", "OSS a:b:c", "OSS4-HMAC-SHA256",
                                                                  "OSS4-HMAC-SHA256 Credential=a/b/c/d/e,Signature=x",
                                                                  "Bearer x", "OSS " + "A" * 5000]))], b""),
                        label="bad Authorization")
        return Wire(render("POST", p + "?append&position=0", [host, ("Content-Length", "2"),
                                                               ("Expect", "100-continue")], b"ab"),
                    "POST", label="expect-continue")

    def next(self) -> Wire:
        return self.signed() if self.rng.random() < 0.75 else self.garbage()


# -- the run --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    proc = ServerProcess(str(tmp_path_factory.mktemp("ossbox-fuzz"))).start()
    yield proc
    assert proc.stop() == 0, "".join(proc.output)


def _canaries(endpoint: str) -> dict[str, bytes]:
    """Write the canary objects (once per server) and return their expected bytes."""
    auth = oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    canary, play = oss2.Bucket(auth, endpoint, CANARY), oss2.Bucket(auth, endpoint, PLAY)
    rng = random.Random(SEED ^ 0xC0FFEE)
    data = {"c/plain": rng.randbytes(3000), "c/appendable": rng.randbytes(700) + rng.randbytes(300),
            "c/multi": rng.randbytes(200_000)}
    try:
        canary.create_bucket()
        play.create_bucket()
    except oss2.exceptions.ServerError:
        pass
    if not canary.object_exists("c/plain"):
        canary.put_object("c/plain", data["c/plain"])
        r = canary.append_object("c/appendable", 0, data["c/appendable"][:700])
        canary.append_object("c/appendable", r.next_position, data["c/appendable"][700:])
        up = canary.init_multipart_upload("c/multi").upload_id
        parts = [oss2.models.PartInfo(1, canary.upload_part("c/multi", up, 1, data["c/multi"][:150_000]).etag),
                 oss2.models.PartInfo(2, canary.upload_part("c/multi", up, 2, data["c/multi"][150_000:]).etag)]
        canary.complete_multipart_upload("c/multi", up, parts)
    return data


def run_fuzz(server: ServerProcess, count: int) -> None:
    data = _canaries(server.endpoint)
    crcs = {k: oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.endpoint, CANARY)
            .head_object(k).headers["x-oss-hash-crc64ecma"] for k in data}
    rng = random.Random(SEED)
    print(f"\nfuzz: seed {SEED} (OSSBOX_FUZZ_SEED replays it), {count} requests")
    fuzzer = Fuzzer(rng, server.port, {k: len(v) for k, v in data.items()})
    outcomes, statuses, failures = Counter(), Counter(), []
    started = time.monotonic()
    for i in range(count):
        wire = fuzzer.next()
        outcome, status, body = exchange(server.port, wire)
        outcomes[outcome] += 1
        if status is not None:
            statuses[status] += 1
        not_implemented = status == 501 and b"<Code>NotImplemented</Code>" in body
        if outcome == "hang" or (status is not None and status >= 500 and not not_implemented):
            failures.append((i, wire.label, outcome, status, body[:300], wire.data[:2000]))
            if outcomes["hang"] >= MAX_HANGS:
                break   # keeps a wedged server's run bounded: the verdict is already clear
        if status == 200 and wire.initiates and b"<UploadId>" in body:
            upload = body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
            fuzzer.uploads.append((wire.initiates, upload))
    elapsed = time.monotonic() - started
    print(f"fuzz: {sum(outcomes.values())} requests in {elapsed:.1f} s; outcomes {dict(outcomes)}; "
          f"statuses {dict(sorted(statuses.items()))}")
    for i, label, outcome, status, body, data in failures[:20]:
        print(f"fuzz failure #{i}: {outcome} {status} {label}\n  request: {data[:600]!r}\n  answer: {body[:200]!r}")
    assert not failures, f"{len(failures)} failures (seed {SEED}); first: {failures[:5]}"
    assert server.proc.poll() is None, "the server died"
    canary = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.endpoint, CANARY)
    for key, expected in data.items():
        assert canary.get_object(key).read() == expected, key
        assert canary.head_object(key).headers["x-oss-hash-crc64ecma"] == crcs[key], key
    assert sorted(o.key for o in oss2.ObjectIterator(canary)) == sorted(data)
    log = "".join(server.output)
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]


def test_fuzz_quick(fuzz_server):
    run_fuzz(fuzz_server, QUICK_REQUESTS)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_fuzz_full(fuzz_server):
    run_fuzz(fuzz_server, FULL_REQUESTS)
