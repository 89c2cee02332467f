"""Ed25519 signatures of release manifests (``cryptography``).

The institution's release key is configuration: ``PENSION_SIGNING_KEY_FILE`` names a PEM (PKCS#8)
Ed25519 private key; empty means ``$PENSION_HOME/keys/release-ed25519.pem``, created on first use with
mode 0600 (a real installation provisions its own key and keeps it off the application host's disk
backups). The public key is written beside it (``release-ed25519.pub.pem``) for the banks and auditors.

A manifest names the key it was signed with (``key_id``: the first 16 hex digits of the SHA-256 of the
raw public key). The signature is detached, in ``manifest.json.sig``: base64 of the 64-byte Ed25519
signature of the manifest file's exact bytes. Ed25519 signatures are deterministic (RFC 8032), so a
re-release produces the same signature byte for byte.

Once a release is signed, its key id is on record (in the manifest, whose hash the database keeps): a
missing key is then an error (SIGNING_KEY_MISSING), never replaced by a new pair, which would overwrite
the public key the banks verify the earlier releases with. Only the first release may create the key.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from payroll.errors import Refused
from payroll.store.files import make_private_dir, write_atomic

SIGNATURE_SUFFIX = ".sig"


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name.removesuffix(".pem") + ".pub.pem")


def verification_key_path(private_path: Path) -> Path | None:
    """The file to verify the institution's signatures with: the private key when it is on this host,
    else its public half beside it (``.pub.pem``: the private key kept offline), else None."""
    private_path = Path(private_path)
    if private_path.exists():
        return private_path
    public = public_key_path(private_path)
    return public if public.exists() else None


def load_verification_key(private_path: Path) -> Ed25519PublicKey | None:
    """The public key to verify the institution's signatures with (verification_key_path), or None when
    neither the private key nor its ``.pub.pem`` is there. An unreadable key file raises ValueError."""
    path = verification_key_path(private_path)
    return load_public_key(path) if path is not None else None


def ensure_key(path: Path, on_record: str | None = None) -> Ed25519PrivateKey:
    """The private key at `path`; created (0600, in a 0700 folder, whole or not at all) with its public key
    beside it when there is none and no release was signed yet. `on_record`: the key id a release on record was signed
    with; then a missing key is refused (SIGNING_KEY_MISSING), never made anew."""
    if path.exists():
        return load_private_key(path)
    if on_record is not None:
        raise Refused("SIGNING_KEY_MISSING", f"the release signing key {path} is missing, and releases on record "
                      f"were signed with key {on_record}: restore that key from its backup (or point "
                      "PENSION_SIGNING_KEY_FILE at it); a new key is never made in its place, since the banks "
                      "verify the earlier releases with its public half", key_path=str(path), key_id=on_record)
    make_private_dir(path.parent)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    # written whole to a temporary file (0600) and then linked to its name: nobody ever reads a key cut
    # short (a crash, a full disk), and of two processes making the key at once one links it and the
    # other, finding the name taken, uses that key (link never replaces a file, unlike rename)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            key = load_private_key(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    write_atomic(public_key_path(path), public_pem(key.public_key()))
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a readable unencrypted PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: the release key must be Ed25519, got {type(key).__name__}")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a PEM file, or the public half of a private key file."""
    data = Path(path).read_bytes()
    try:
        if b"PRIVATE KEY" in data:
            return load_private_key(path).public_key()
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a PEM public key ({e})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: the release key must be Ed25519, got {type(key).__name__}")
    return key


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """The detached signature file's content for `data`."""
    return base64.b64encode(key.sign(data)) + b"\n"


def verify(public: Ed25519PublicKey, data: bytes, signature_file: bytes) -> bool:
    try:
        raw = base64.b64decode(signature_file.strip(), validate=True)
        public.verify(raw, data)
    except (InvalidSignature, ValueError):
        return False
    return True
