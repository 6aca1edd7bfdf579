"""Encryption of secrets at rest (Fernet). Ciphertext is stored as `str`, never bytes."""

from __future__ import annotations

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
    """The embedded mode's key: generated once, kept beside the data, readable by the owner only."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    path.write_text(key)
    path.chmod(0o600)
    return key
