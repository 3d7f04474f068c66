"""Reading a PNG file's header: enough to tell a real image of the expected size."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of the PNG at ``path``; AssertionError when it is not a complete PNG
    (signature, a CRC-valid IHDR first, IEND last)."""
    data = path.read_bytes()
    assert data[:8] == SIGNATURE, "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    (crc,) = struct.unpack(">I", data[29:33])
    assert zlib.crc32(data[12:29]) == crc, "IHDR CRC mismatch"
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", "no IEND chunk at the end"
    width, height = struct.unpack(">II", data[16:24])
    return width, height
