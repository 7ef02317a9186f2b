"""GetObject bodies sent with os.sendfile (http/protocol.py _sendfile): used exactly when the bytes
go out as stored, and the answers stay right -- ranges, keep-alive, slow readers; encrypted,
gzip-coded and throttled downloads still go through the body iterator."""
from __future__ import annotations

import asyncio
import email.utils
import os
import shutil
import socket
import time

import oss2
import pytest

from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess
from signing import sign_v1_header

AK, SK = "LTAItestSendfileKeyId01", "testSendfileSecret000000000001"


async def _in_process(calls: list, scenario):
    """Run `scenario(request)` against an in-process Server whose connections offer sendfile:
    scope[SENDFILE] records (offset, count) and returns the bytes from the fd it is given."""
    import tempfile

    from ossbox.auth import SignedRequest
    from ossbox.config import ServerConfig
    from ossbox.http.app import Server
    from ossbox.storage.records import BucketRecord
    from ossbox.wire.request import SENDFILE

    data_dir = tempfile.mkdtemp(prefix="ossbox-sendfile-")
    srv = Server(ServerConfig(data_dir=data_dir, durability="none", access_key_id=AK, access_key_secret=SK))
    await srv.startup()
    await srv._recovered_event.wait()
    try:
        await srv.engine.meta.write(lambda t: t.insert_bucket(BucketRecord(
            name="bkt", owner=srv.root.principal, created=time.time(), region="cn-hangzhou", acl="private")))

        async def request(method: str, key: str, body: bytes = b"", headers: dict | None = None,
                          sendfile: bool = True):
            h = {"date": email.utils.formatdate(usegmt=True), "host": "127.0.0.1:9000",
                 "content-type": "text/plain", **(headers or {})}
            if body:
                h["content-length"] = str(len(body))
            h["authorization"] = sign_v1_header(SignedRequest(method, "bkt", key, [], h), AK, SK)
            got = {"via_sendfile": b""}

            async def fake_sendfile(fd, offset, count):
                calls.append((offset, count))
                got["via_sendfile"] = os.pread(fd, count, offset)
                return count
            scope = {"type": "http", "method": method, "path": f"/bkt/{key}", "raw_path": f"/bkt/{key}".encode(),
                     "query_string": b"", "scheme": "http", "client": ("127.0.0.1", 50000),
                     "headers": [(k.encode(), v.encode()) for k, v in h.items()]}
            if sendfile:
                scope[SENDFILE] = fake_sendfile
            messages = [{"type": "http.request", "body": body, "more_body": False}]
            sent = []

            async def receive():
                return messages.pop(0)

            async def send(message):
                sent.append(message)
            await srv(scope, receive, send)
            head = dict((k.decode(), v.decode()) for k, v in sent[0]["headers"])
            data = b"".join(m.get("body", b"") for m in sent[1:])
            return sent[0]["status"], head, data + got["via_sendfile"], bool(got["via_sendfile"])

        return await scenario(request)
    finally:
        await srv.shutdown()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_sendfile_only_for_bytes_sent_as_stored():
    data = os.urandom(300_000)
    calls: list = []

    async def scenario(request):
        assert (await request("PUT", "plain", data))[0] == 200
        assert (await request("PUT", "enc", data, {"x-oss-server-side-encryption": "AES256"}))[0] == 200

        status, head, body, used = await request("GET", "plain")
        assert (status, body, used) == (200, data, True)
        assert head["content-length"] == str(len(data))
        status, head, body, used = await request("GET", "plain", headers={"range": "bytes=1000-199999"})
        assert (status, body, used) == (206, data[1000:200000], True)
        assert calls == [(0, len(data)), (1000, 199000)]
        # the same download without a connection that offers it: the body iterator
        assert (await request("GET", "plain", sendfile=False))[2:] == (data, False)

        calls.clear()
        status, head, body, used = await request("GET", "enc")        # decrypted on the way
        assert (status, body, used) == (200, data, False)
        status, _, body, used = await request("GET", "enc", headers={"range": "bytes=5-99"})
        assert (status, body, used) == (206, data[5:100], False)
        status, head, body, used = await request("GET", "plain", headers={"accept-encoding": "gzip"})
        assert (status, head.get("content-encoding"), used) == (200, "gzip", False)
        import gzip
        assert gzip.decompress(body) == data
        status, _, body, used = await request("GET", "plain", headers={"x-oss-traffic-limit": str(100 * 1024 * 8 * 100)})
        assert (status, body, used) == (200, data, False)
        assert calls == []
    asyncio.run(_in_process(calls, scenario))


# -- over a real connection (uvloop's transport) ------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(str(tmp_path_factory.mktemp("sendfile"))).start()
    yield srv
    srv.stop()


def _get_request(bucket: oss2.Bucket, key: str, extra: str = "") -> bytes:
    req = oss2.http.Request("GET", bucket._make_url(bucket.bucket_name, key))
    bucket.auth._sign_request(req, bucket.bucket_name, key)
    lines = [f"GET /{bucket.bucket_name}/{key} HTTP/1.1", f"Host: {req.url.split('/')[2]}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items()]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def _read_response(sock: socket.socket, buf: bytearray, pace: float = 0.0) -> tuple[int, dict, bytes]:
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    end = buf.index(b"\r\n\r\n")
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers["content-length"])
    del buf[:end + 4]
    while len(buf) < length:
        chunk = sock.recv(16384)
        assert chunk, "connection closed mid-body"
        buf += chunk
        if pace:
            time.sleep(pace)
    body = bytes(buf[:length])
    del buf[:length]
    return status, headers, body


def test_sendfile_keeps_the_connection_and_serves_ranges_and_slow_readers(server):
    bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.endpoint, "sendfile-bkt")
    bucket.create_bucket()
    data = os.urandom(6 * 1024 * 1024 + 12345)
    bucket.put_object("big", data)
    bucket.put_object("small", b"hello")
    sock = socket.create_connection(("127.0.0.1", server.port))
    # a small receive buffer and a reader that sleeps: the server's socket fills up many times,
    # so the pieces that go through the transport (EAGAIN) are interleaved with sendfile's
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    buf = bytearray()
    try:
        sock.sendall(_get_request(bucket, "big"))
        status, headers, body = _read_response(sock, buf, pace=0.0005)
        assert (status, len(body)) == (200, len(data))
        assert body == data
        # two pipelined requests on the same connection after it: the framing held
        sock.sendall(_get_request(bucket, "big", "Range: bytes=4000000-4099999\r\n")
                     + _get_request(bucket, "small"))
        status, headers, body = _read_response(sock, buf)
        assert (status, headers["content-range"], body) == (206, f"bytes 4000000-4099999/{len(data)}",
                                                            data[4000000:4100000])
        assert _read_response(sock, buf)[::2] == (200, b"hello")
    finally:
        sock.close()
    # a client that goes away mid-download leaves the server serving
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.sendall(_get_request(bucket, "big"))
    sock.recv(1000)
    sock.close()
    assert bucket.get_object("big").read() == data
