"""Immutable files under PENSION_HOME, written atomically (temp file, fsync, rename).

Raw branch files and normalized rows are content-addressed by SHA-256, so a stored object never
changes under a hash recorded in the database; a crash leaves at worst an unreferenced temp file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

_CHUNK = 1 << 20


def source_info(location: str | Path) -> tuple[str, int]:
    """(file name, size in bytes) of a file given as a local path or an fsspec URL (``s3://bucket/B01/
    list.csv``, ``memory://...``, ``file://...``): where branch files live when several workers share an
    object store. FileNotFoundError when there is no such file."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(str(location))
    info = fs.info(path)  # FileNotFoundError when missing
    if info.get("type") != "file":
        raise FileNotFoundError(str(location))
    return path.rstrip("/").rsplit("/", 1)[-1], int(info["size"])


def read_source(location: str | Path) -> bytes:
    """The bytes of a local path or an fsspec URL."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(str(location))
    data: bytes = fs.cat_file(path)
    return data


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dir(path: Path) -> None:
    """Create `path` and its missing parents 0700 (the folders it makes; an existing folder keeps its mode):
    what the engine keeps holds national ids, names and accounts, for its own user only."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` all or nothing, 0600 (mkstemp's mode; the rename keeps it), in a 0700 folder if new."""
    make_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def object_path(home: Path, kind: str, sha256: str, suffix: str) -> Path:
    return home / "objects" / kind / sha256[:2] / f"{sha256}{suffix}"


def put_object(home: Path, kind: str, data: bytes, suffix: str) -> tuple[Path, str]:
    """Store bytes under their SHA-256; storing the same bytes twice is a no-op."""
    sha = sha256_bytes(data)
    path = object_path(home, kind, sha, suffix)
    if not path.exists():
        write_atomic(path, data)
    return path, sha


def put_table(home: Path, kind: str, table: pa.Table) -> tuple[Path, str]:
    """Write a table as Parquet, content-addressed by the Parquet bytes."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return put_object(home, kind, sink.getvalue().to_pybytes(), ".parquet")


def stored_file_problem(path: Path, expected_sha256: str | None) -> str | None:
    """Why the stored file at `path` is not the one recorded (unreadable, or other bytes), or None."""
    try:
        actual = sha256_file(path)
    except OSError as e:
        return str(e)
    if actual != expected_sha256:
        return f"{path} has sha256 {actual}, recorded {expected_sha256}"
    return None


def read_table_verified(path: Path, expected_sha256: str) -> pa.Table:
    """Read a stored Parquet object, refusing it if its bytes are not the ones recorded."""
    data = Path(path).read_bytes()
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        raise ValueError(f"{path}: stored content changed (sha256 {actual}, recorded {expected_sha256})")
    return pq.read_table(pa.BufferReader(data))


def replace_dir_atomic(staging: Path, final: Path) -> None:
    """Move a fully written staging directory into place; an older copy of `final` is replaced."""
    for p in staging.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())
    if final.exists():
        trash = final.with_name(f".{final.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(final, trash)
        os.replace(staging, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, final)
    _fsync_dir(final.parent)
