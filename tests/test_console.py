"""The web console's files under /-/console/ (issue 15, docs/console.md): served by `ossbox server`
without credentials, with the right types, a strict Content-Security-Policy and no way out of
the console's directory; `--no-console` (OSSBOX_NO_CONSOLE, key `no-console`) turns it off. The
console itself is tested in a real browser by tests/test_console_browser.py."""
from __future__ import annotations

import fnmatch
import http.client
import os
import re
import tomllib

import pytest
import requests

from ossbox.http import console
from serverproc import ServerProcess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATIC = os.path.join(ROOT, "ossbox", "console", "static")


def static_files() -> list[str]:
    out = []
    for dirpath, _, files in os.walk(STATIC):
        out += [os.path.relpath(os.path.join(dirpath, f), STATIC).replace(os.sep, "/") for f in files]
    return sorted(out)


def raw_get(endpoint: str, path: str, method: str = "GET", headers=None) -> tuple[int, dict, bytes]:
    """A request with the path exactly as given (requests would normalize `..` away)."""
    host, port = endpoint.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def check_security_headers(headers) -> None:
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


def test_index_and_assets_are_served_with_their_types_and_headers(server):
    resp = requests.get(server.endpoint + "/-/console/", timeout=30)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    check_security_headers(resp.headers)
    assert resp.headers["cache-control"] == "no-cache" and resp.headers["etag"]
    assert '<script type="module" src="js/app.js"></script>' in resp.text
    assert requests.get(server.endpoint + "/-/console/index.html", timeout=30).content == resp.content
    types = {"css/console.css": "text/css; charset=utf-8", "js/app.js": "text/javascript; charset=utf-8",
             "js/views/objects.js": "text/javascript; charset=utf-8", "favicon.svg": "image/svg+xml"}
    for path, ctype in types.items():
        r = requests.get(f"{server.endpoint}/-/console/{path}", timeout=30)
        assert (r.status_code, r.headers["content-type"]) == (200, ctype), path
        check_security_headers(r.headers)
        with open(os.path.join(STATIC, path), "rb") as f:
            assert r.content == f.read(), path
    # every file in the directory is one the server serves (a file of an unknown type would be a 404)
    for path in static_files():
        assert requests.head(f"{server.endpoint}/-/console/{path}", timeout=30).status_code == 200, path


def test_no_credentials_needed_and_a_signature_changes_nothing(server):
    r = requests.get(server.endpoint + "/-/console/js/app.js", headers={"Authorization": "OSS x:y"}, timeout=30)
    assert r.status_code == 200


def test_the_directory_without_slash_redirects(server):
    status, headers, _ = raw_get(server.endpoint, "/-/console")
    assert status == 301 and headers["location"] == "/-/console/"
    assert raw_get(server.endpoint, "/-/consolex")[0] == 404


def test_config_json(server):
    r = requests.get(server.endpoint + "/-/console/config.json", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    doc = r.json()
    assert doc["region"] == "cn-hangzhou" and doc["metrics"] == "/-/metrics"
    assert set(doc) == {"region", "metrics", "version"}


@pytest.mark.parametrize("path", [
    "/-/console/../health/live", "/-/console/../../ossbox/config.py", "/-/console/%2e%2e/%2e%2e/http/console.py",
    "/-/console/js/../../../http/console.py", "/-/console/..%2f..%2fhttp%2fconsole.py", "/-/console//etc/passwd",
    "/-/console/%2fetc%2fpasswd", "/-/console/js/..", "/-/console/.gitignore", "/-/console/js%5c..%5c..%5capp.py",
    "/-/console/index.html%00.png", "/-/console/nope.html",
])
def test_paths_outside_the_directory_are_not_found(server, path):
    status, headers, body = raw_get(server.endpoint, path)
    assert status == 404, (path, body)
    assert b"import" not in body and b"root:" not in body
    check_security_headers(headers)


def test_only_get_and_head(server):
    assert raw_get(server.endpoint, "/-/console/", "HEAD")[0] == 200
    status, headers, _ = raw_get(server.endpoint, "/-/console/", "POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    assert raw_get(server.endpoint, "/-/console/js/app.js", "DELETE")[0] == 405


def test_revalidation_and_gzip(server):
    first = requests.get(server.endpoint + "/-/console/js/views/object.js", timeout=30)
    assert first.headers["content-encoding"] == "gzip" and first.headers["vary"] == "Accept-Encoding"
    status, headers, _ = raw_get(server.endpoint, "/-/console/js/views/object.js",
                                 headers={"If-None-Match": first.headers["etag"]})
    assert status == 304 and headers["etag"] == first.headers["etag"]
    status, headers, body = raw_get(server.endpoint, "/-/console/js/views/object.js",
                                    headers={"Accept-Encoding": "gzip;q=0"})
    assert status == 200 and "content-encoding" not in headers
    with open(os.path.join(STATIC, "js/views/object.js"), "rb") as f:
        assert body == f.read()


def test_no_console(tmp_path):
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--no-console"]).start()
    try:
        for path in ("/-/console/", "/-/console/config.json", "/-/console/js/app.js", "/-/console"):
            assert raw_get(srv.endpoint, path)[0] == 404, path
        assert raw_get(srv.endpoint, "/-/health/live")[0] == 200
    finally:
        assert srv.stop() == 0, "".join(srv.output)


def test_no_console_from_the_environment_and_the_config_file(tmp_path):
    from ossbox.cli.server_cmd import _switch, apply_config_file, server_parser
    from ossbox.cli.settings import UsageError

    def parsed(argv, env):
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("OSSBOX_")}
        os.environ.update(env)
        try:
            args = server_parser().parse_args(argv)
            apply_config_file(args, env)
            return _switch(args.no_console)
        finally:
            for k in env:
                del os.environ[k]
            os.environ.update(saved)
    conf = tmp_path / "c.toml"
    conf.write_text("no-console = true\n")
    assert parsed([], {}) is False
    assert parsed(["--no-console"], {}) is True
    assert parsed(["--config", str(conf)], {}) is True
    assert parsed(["--config", str(conf)], {"OSSBOX_NO_CONSOLE": "0"}) is False  # the variable wins
    for word, value in (("1", True), ("yes", True), ("TRUE", True), ("off", False), ("false", False)):
        assert parsed([], {"OSSBOX_NO_CONSOLE": word}) is value, word
    with pytest.raises(UsageError, match="OSSBOX_NO_CONSOLE='maybe'"):
        parsed([], {"OSSBOX_NO_CONSOLE": "maybe"})


def test_the_wheel_ships_every_console_file():
    """pyproject.toml's package-data globs cover every file of the console (a file they miss would
    be absent from an installed ossbox)."""
    globs = tomllib.loads(open(os.path.join(ROOT, "pyproject.toml")).read())["tool"]["setuptools"]["package-data"]["ossbox"]
    for path in static_files():
        rel = "console/static/" + path
        assert any(fnmatch.fnmatch(rel, g.replace("**/", "*")) or fnmatch.fnmatch(rel, g) for g in globs), rel


def test_no_inline_script_or_style_and_no_html_injection_sinks():
    """The CSP forbids inline scripts and style attributes; the sources must not need them, and
    object keys and metadata are put in the page as text, never as HTML."""
    html = open(os.path.join(STATIC, "index.html"), encoding="utf-8").read()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=|\sstyle=", html)
    for path in static_files():
        if path.endswith(".js"):
            text = open(os.path.join(STATIC, path), encoding="utf-8").read()
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
                assert sink not in text, (path, sink)
            assert "localStorage" not in text and "document.cookie" not in text, path


def test_console_unit_table_excludes_unknown_and_dot_files(tmp_path):
    (tmp_path / "js").mkdir()
    (tmp_path / "index.html").write_text("<p>x</p>")
    (tmp_path / "js" / "a.js").write_text("export {}")
    (tmp_path / ".secret.js").write_text("x")
    (tmp_path / "notes.py").write_text("x")
    assert sorted(console.load_static(str(tmp_path))) == ["index.html", "js/a.js"]
