"""Folders and the signing key the engine makes are its own user's only, and the key is never seen cut short."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from payroll import checkpoints, signing
from payroll.store.db import _private_sqlite_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_checkpoint_file_in_new_nested_folders_makes_every_folder_0700(tmp_path: Path, usual_umask: None) -> None:
    key = signing.ensure_key(tmp_path / "keys" / "k.pem")
    path = tmp_path / "home" / "audit" / "deep" / "checkpoints.jsonl"
    checkpoints.append(path, key, seq=1, entry_hash="0" * 64, action="test", item="x")
    assert [_mode(p) for p in (tmp_path / "home", tmp_path / "home" / "audit", path.parent)] == [0o700] * 3
    assert _mode(path) == 0o600


def test_a_new_sqlite_database_in_new_nested_folders_makes_every_folder_0700(tmp_path: Path,
                                                                              usual_umask: None) -> None:
    db = tmp_path / "home" / "db" / "deep" / "pension.sqlite"
    _private_sqlite_file(create_engine(f"sqlite:///{db}"))
    assert [_mode(p) for p in (tmp_path / "home", tmp_path / "home" / "db", db.parent)] == [0o700] * 3
    assert _mode(db) == 0o600


def test_two_makers_of_the_key_at_once_get_the_same_key_and_no_error(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys" / "release-ed25519.pem"
    barrier = threading.Barrier(2)
    make_dir = signing.make_private_dir

    def both_past_the_check(folder: Path) -> None:  # both makers have found no key before either writes one
        barrier.wait(timeout=10)
        make_dir(folder)

    monkeypatch.setattr(signing, "make_private_dir", both_past_the_check)
    results: list[object] = [None, None]

    def make(i: int) -> None:
        try:
            results[i] = signing.ensure_key(path)
        except Exception as e:  # noqa: BLE001
            results[i] = e

    threads = [threading.Thread(target=make, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(isinstance(r, signing.Ed25519PrivateKey) for r in results), results
    ids = {signing.key_id(r.public_key()) for r in results}  # type: ignore[union-attr]
    assert ids == {signing.key_id(signing.load_private_key(path).public_key())}
    assert ids == {signing.key_id(signing.load_public_key(signing.public_key_path(path)))}
    assert _mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["release-ed25519.pem", "release-ed25519.pub.pem"]


def test_a_key_write_cut_short_leaves_no_key_and_the_next_call_makes_one(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "release-ed25519.pem"
    # a process that may write only 40 bytes to any file (a full disk, as the key file sees it)
    script = ("import resource, signal, sys; from pathlib import Path; from payroll import signing\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (40, 40))\n"
              "try:\n    signing.ensure_key(Path(sys.argv[1]))\nexcept OSError:\n    sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert not path.exists()  # not a key of 40 bytes, which every later signer would fail to read
    assert [p.name for p in path.parent.iterdir()] == []
    key = signing.ensure_key(path)
    assert signing.key_id(signing.load_private_key(path).public_key()) == signing.key_id(key.public_key())
