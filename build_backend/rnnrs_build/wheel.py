"""Writing a wheel file (PEP 427): a zip archive whose .dist-info/RECORD lists every other
member with its sha256 digest and size."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from pathlib import Path

# A fixed timestamp (the zip format's earliest) makes the same sources give the same wheel.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_wheel(path: Path, members: list[tuple[str, bytes]], dist_info: str) -> None:
    """Write `members` (archive name, content) and then `dist_info`/RECORD to `path`.

    Put the .dist-info files last in `members`: PEP 427 recommends them at the archive's end.
    """
    record = io.StringIO()
    rows = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in members:
            _add(wheel, name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            rows.writerow([name, f"sha256={digest.decode()}", len(data)])
        record_name = f"{dist_info}/RECORD"
        rows.writerow([record_name, "", ""])
        _add(wheel, record_name, record.getvalue().encode())


def _add(wheel: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.external_attr = 0o644 << 16  # rw-r--r--, whatever the source tree's modes
    info.compress_type = zipfile.ZIP_DEFLATED
    wheel.writestr(info, data)
