"""The web console's static files under /-/console/ (issue 15, docs/console.md).

The console is plain HTML, CSS and ES modules in ossbox/console/static/, shipped in the wheel. It
holds no secret and makes no request of its own kind: every data request it sends is a normal
signed OSS request under the identity the user signed in with, so these files need no credentials.

Only the files found in that directory when the first console request comes are served (a fixed
table, so no path a request names can reach outside it: `..`, encoded or not, is just a name that is
not in the table). Each answer carries a strict Content-Security-Policy (no inline script, nothing
from another origin), and the console cannot be framed.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import json
import os
from typing import Optional

from ..wire.request import Response

PATH = "/-/console"
CONFIG_FILE = "config.json"
STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "console", "static")

_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".js": "text/javascript; charset=utf-8", ".json": "application/json",
          ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8"}
_COMPRESSIBLE = (".html", ".css", ".js", ".json", ".svg", ".txt")

# connect-src 'self': the console talks to this server only; img-src blob: for image previews of
# downloaded objects. Presigned URLs carry signatures: no Referer leaves the console.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


def version() -> str:
    """ossbox's version as installed (shown in the console's footer); "" when not installed."""
    try:
        return importlib.metadata.version("ossbox")
    except importlib.metadata.PackageNotFoundError:
        return ""


class StaticFile:
    __slots__ = ("body", "gzipped", "ctype", "etag")

    def __init__(self, body: bytes, ctype: str, compress: bool):
        self.body = body
        self.ctype = ctype
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        packed = gzip.compress(body, 9, mtime=0) if compress and len(body) > 512 else None
        self.gzipped = packed if packed is not None and len(packed) < len(body) else None


def load_static(root: str = STATIC_DIR) -> dict[str, StaticFile]:
    """Relative posix path -> file, for every file of a known type under root (dot files left out)."""
    table: dict[str, StaticFile] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            ext = os.path.splitext(name)[1].lower()
            if name.startswith(".") or ext not in _TYPES:
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            with open(full, "rb") as f:
                table[rel] = StaticFile(f.read(), _TYPES[ext], ext in _COMPRESSIBLE)
    return table


class Console:
    """The console of one server: its file table (read once) and its config.json."""

    def __init__(self, region: str, metrics: Optional[str], version: str, root: str = STATIC_DIR):
        self.root = root
        self.config = json.dumps({"region": region, "metrics": metrics, "version": version}).encode()
        self._files: Optional[dict[str, StaticFile]] = None

    @property
    def loaded(self) -> bool:
        return self._files is not None

    def files(self) -> dict[str, StaticFile]:
        if self._files is None:
            self._files = load_static(self.root)
        return self._files

    def answer(self, path: str, method: str, headers: dict) -> Response:
        """The response to a GET/HEAD of `path` (which starts with PATH)."""
        rest = path[len(PATH):]
        if rest == "":   # relative URLs in index.html resolve against the directory
            return _plain(301, b"", {"location": PATH + "/", "cache-control": "no-store"})
        if not rest.startswith("/"):
            return _not_found()
        if method not in ("GET", "HEAD"):
            return _plain(405, b"method not allowed\n", {"allow": "GET, HEAD"})
        rel = rest[1:] or "index.html"
        if rel == CONFIG_FILE:
            return Response(200, {"content-type": "application/json", "cache-control": "no-store",
                                  **SECURITY_HEADERS}, self.config)
        found = self.files().get(rel)
        if found is None:
            return _not_found()
        # No hashed file names (no build step): the browser revalidates each file by its ETag.
        out = {"content-type": found.ctype, "cache-control": "no-cache", "etag": found.etag, **SECURITY_HEADERS}
        if found.gzipped is not None:
            out["vary"] = "Accept-Encoding"
        if found.etag in [t.strip() for t in headers.get("if-none-match", "").split(",")]:
            return Response(304, {k: v for k, v in out.items() if k != "content-type"}, b"")
        body = found.body
        if found.gzipped is not None and _accepts_gzip(headers.get("accept-encoding", "")):
            body, out["content-encoding"] = found.gzipped, "gzip"
        return Response(200, out, body)


def _accepts_gzip(value: str) -> bool:
    for item in value.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _plain(status: int, body: bytes, headers: dict) -> Response:
    return Response(status, {"content-type": "text/plain; charset=utf-8", **headers, **SECURITY_HEADERS}, body)


def _not_found() -> Response:
    return _plain(404, b"not found\n", {"cache-control": "no-store"})
