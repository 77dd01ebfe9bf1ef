"""Secrets at rest (channel tokens, refresh tokens): encrypted with the operator's key, Fernet (AES-128-CBC and
HMAC-SHA256, with the time of encryption inside).

The key comes from LOA_SECRET_KEY or the file LOA_SECRET_KEY_FILE (a Docker or Kubernetes secret); several keys,
comma- or line-separated, rotate it: the first encrypts, every one decrypts, so an operator puts a new key first,
lets the services re-encrypt what they rewrite, and drops the old key later. `python -m loa_core.secrets` prints a
new key. Neither a key nor a plaintext is ever part of a message, a repr or a log line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# Every Fernet token starts so (version byte 0x80, base64url): how a value from before encryption is told apart.
_FERNET_PREFIX = "gAAAAA"


class SecretKeyError(Exception):
    """The operator's key is missing or unusable: a service that keeps secrets does not start (the message says
    what to set, in both languages)."""


class SecretKeyMissing(SecretKeyError):
    """The service must encrypt secrets and no key is configured."""

    def __init__(self) -> None:
        super().__init__(
            "No key to encrypt secrets with: set LOA_SECRET_KEY (one or more Fernet keys, comma-separated, the first "
            "encrypts) or LOA_SECRET_KEY_FILE (a file holding them); `python -m loa_core.secrets` prints a new key. "
            "/ Chưa có khóa mã hóa bí mật: đặt LOA_SECRET_KEY (một hoặc nhiều khóa Fernet, cách nhau bằng dấu phẩy, "
            "khóa đầu tiên dùng để mã hóa) hoặc LOA_SECRET_KEY_FILE (tệp chứa các khóa); lệnh "
            "`python -m loa_core.secrets` tạo một khóa mới."
        )


class SecretKeyInvalid(SecretKeyError):
    """A configured key is not a Fernet key (32 bytes, url-safe base64). The key itself is not repeated."""

    def __init__(self, position: int) -> None:
        super().__init__(
            f"Secret key number {position} is not a Fernet key (44 characters of url-safe base64); "
            "`python -m loa_core.secrets` prints a valid one. / Khóa bí mật thứ "
            f"{position} không phải khóa Fernet (44 ký tự base64 an toàn cho URL); lệnh "
            "`python -m loa_core.secrets` tạo một khóa hợp lệ."
        )


class SecretUndecryptable(ValueError):
    """A stored secret that none of the configured keys opens: a wrong or dropped key, or a damaged value."""

    def __init__(self) -> None:
        super().__init__(
            "A stored secret cannot be decrypted with the configured keys: the key it was encrypted with was changed "
            "or removed (keep old keys after the new one in LOA_SECRET_KEY until everything is re-encrypted), or "
            "the value is damaged. / Không giải mã được một bí mật đã lưu bằng các khóa đang cấu hình: khóa dùng để "
            "mã hóa nó đã bị đổi hoặc xóa (giữ các khóa cũ sau khóa mới trong LOA_SECRET_KEY cho đến khi mọi thứ "
            "được mã hóa lại), hoặc giá trị đã hỏng."
        )


class SecretKeyUnreadable(SecretKeyError):
    """LOA_SECRET_KEY_FILE names a file the service cannot read."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"The secret key file {path} (LOA_SECRET_KEY_FILE) cannot be read. / Không đọc được tệp khóa bí mật "
            f"{path} (LOA_SECRET_KEY_FILE)."
        )


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def ensure_key_file(path: Path) -> Path:
    """A key file made once (mode 0600) and kept: `make run` and the test stacks, where nobody configures a key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(new_key() + "\n")
    return path


def parse_keys(text: str) -> list[str]:
    """Keys separated by commas or line breaks, blanks ignored, in order (the first encrypts)."""
    return [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]


def read_keys(key: str | None, key_file: Path | None) -> list[str]:
    """The configured keys: the variable's, then the file's."""
    keys = parse_keys(key or "")
    if key_file is not None:
        try:
            keys += parse_keys(key_file.read_text())
        except (OSError, UnicodeDecodeError):
            raise SecretKeyUnreadable(key_file) from None
    return keys


class SecretBox:
    """Encrypts and decrypts secrets with the operator's keys. Its repr names how many keys, never one."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyMissing()
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise SecretKeyInvalid(position) from None
        self._fernet = MultiFernet(fernets)
        self._first = fernets[0]
        self._count = len(fernets)

    def __repr__(self) -> str:
        return f"SecretBox({self._count} key{'s' if self._count != 1 else ''})"

    __str__ = __repr__

    def encrypt(self, plaintext: str) -> str:
        """The plaintext encrypted with the first key, as url-safe ASCII."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUndecryptable() from None

    def reencrypt(self, ciphertext: str) -> str:
        """The same secret encrypted with the first key (after a key rotation)."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise SecretUndecryptable() from None

    def needs_reencryption(self, ciphertext: str) -> bool:
        """True when the value is not encrypted with the first key (an older key's, or none)."""
        if not is_encrypted(ciphertext):
            return True
        try:
            self._first.decrypt(ciphertext.encode("ascii"))
        except InvalidToken:
            return True
        return False


def is_encrypted(value: str) -> bool:
    """Whether a stored value is a Fernet token (not a plaintext from before encryption)."""
    return value.startswith(_FERNET_PREFIX)


if __name__ == "__main__":
    print(new_key())
