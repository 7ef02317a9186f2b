"""OSS Select's framed response body.

Every frame: Version (1 byte, 1) | Frame-Type (3 bytes) | Payload Length (4) | Header Checksum (4,
always 0) | Payload | Payload Checksum (4: CRC-32 of the payload), integers big-endian. Payloads
start with the 8-byte offset: how many bytes of the object were scanned so far (clients report it
as progress). Types (oss2 select_response.py, the Go SDK's select_object_type.go):
data 0x800001 (offset, data), continuous 0x800004 (offset only: keeps a long scan alive),
end 0x800005 (offset, total scanned bytes, HTTP status, "Code.Message" on error),
CSV meta end 0x800006 (offset, scanned, status, splits, rows, columns, error),
JSON meta end 0x800007 (offset, scanned, status, splits, rows, error).
"""
from __future__ import annotations

import struct
import zlib

VERSION = 1
DATA = 0x800001
CONTINUOUS = 0x800004
END = 0x800005
CSV_META_END = 0x800006
JSON_META_END = 0x800007


def frame(ftype: int, payload: bytes) -> bytes:
    head = struct.pack(">II I", (VERSION << 24) | ftype, len(payload), 0)
    return head + payload + struct.pack(">I", zlib.crc32(payload) & 0xFFFFFFFF)


def data(offset: int, chunk: bytes) -> bytes:
    return frame(DATA, struct.pack(">Q", offset) + chunk)


def continuous(offset: int) -> bytes:
    return frame(CONTINUOUS, struct.pack(">Q", offset))


def end(offset: int, scanned: int, status: int, error: str = "") -> bytes:
    return frame(END, struct.pack(">QQI", offset, scanned, status) + error.encode("utf-8"))


def csv_meta_end(offset: int, scanned: int, status: int, splits: int, rows: int, columns: int,
                 error: str = "") -> bytes:
    return frame(CSV_META_END, struct.pack(">QQIIQI", offset, scanned, status, splits, rows, columns)
                 + error.encode("utf-8"))


def json_meta_end(offset: int, scanned: int, status: int, splits: int, rows: int,
                  error: str = "") -> bytes:
    return frame(JSON_META_END, struct.pack(">QQIIQ", offset, scanned, status, splits, rows)
                 + error.encode("utf-8"))
