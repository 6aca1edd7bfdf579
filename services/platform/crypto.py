"""Encryption of secrets at rest (Fernet). Ciphertext is stored as `str`, never bytes."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, key: str):
        self._fernet = Fernet(key.encode() if isinstance(key, str) else key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "a stored secret could not be decrypted: is TOKEN_ENCRYPTION_KEY the same as before?") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()


def load_or_create_key(path: Path) -> str:
    """The embedded mode's key: generated once, kept beside the data, readable by the owner only.

    The file is created with mode 0600 (and its folder 0700), so it is never readable by others, not even
    for the moment between writing and a chmod; O_EXCL makes two processes starting together agree on one key.
    """
    if path.exists():
        return path.read_text().strip()
    make_private_dir(path.parent)
    key = generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(key)
    return key


def make_private_dir(path: Path) -> None:
    """A folder only its owner can enter; one we create starts that way, one we find is tightened."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if path.stat().st_uid == os.getuid():
            path.chmod(0o700)
    except OSError:
        pass
