"""loa_core.secrets: secrets at rest under the operator's key, rotation, and nothing secret in a message."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from loa_core.secrets import (
    SecretBox,
    SecretKeyInvalid,
    SecretKeyMissing,
    SecretKeyUnreadable,
    SecretUndecryptable,
    ensure_key_file,
    is_encrypted,
    new_key,
)
from loa_core.settings import CommonSettings

PLAINTEXT = "1//refresh-token-Đà-Nẵng"


def test_round_trip_hides_the_plaintext() -> None:
    box = SecretBox([new_key()])
    stored = box.encrypt(PLAINTEXT)
    assert PLAINTEXT not in stored and is_encrypted(stored)
    assert box.decrypt(stored) == PLAINTEXT
    assert box.encrypt(PLAINTEXT) != stored  # a fresh IV each time: equal secrets are not told apart at rest


def test_rotation_first_key_encrypts_every_key_decrypts() -> None:
    old, new = new_key(), new_key()
    stored_under_old = SecretBox([old]).encrypt(PLAINTEXT)
    rotated = SecretBox([new, old])
    assert rotated.decrypt(stored_under_old) == PLAINTEXT
    assert rotated.needs_reencryption(stored_under_old)
    again = rotated.reencrypt(stored_under_old)
    assert not rotated.needs_reencryption(again)
    # Once everything is re-encrypted the old key can go.
    assert SecretBox([new]).decrypt(again) == PLAINTEXT
    with pytest.raises(SecretUndecryptable):
        SecretBox([new]).decrypt(stored_under_old)
    assert SecretBox([new]).needs_reencryption(PLAINTEXT)  # a value from before encryption


def test_wrong_key_is_a_clear_bilingual_error_without_the_secret() -> None:
    stored = SecretBox([new_key()]).encrypt(PLAINTEXT)
    with pytest.raises(SecretUndecryptable) as caught:
        SecretBox([new_key()]).decrypt(stored)
    message = str(caught.value)
    assert "cannot be decrypted" in message and "Không giải mã được" in message
    assert stored not in message and PLAINTEXT not in message
    with pytest.raises(SecretUndecryptable):
        SecretBox([new_key()]).decrypt("gAAAAA-damaged")


def test_no_key_or_a_bad_key_refuses_to_start_without_repeating_it(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyMissing) as missing:
        CommonSettings().required_secret_box()
    assert "LOA_SECRET_KEY" in str(missing.value) and "Chưa có khóa" in str(missing.value)
    assert CommonSettings().secret_box() is None
    with pytest.raises(SecretKeyInvalid) as invalid:
        SecretBox([new_key(), "not-a-key-hunter2"])
    assert "number 2" in str(invalid.value) and "hunter2" not in str(invalid.value)
    with pytest.raises(SecretKeyUnreadable):
        CommonSettings(secret_key_file=tmp_path / "absent").secret_box()


def test_keys_from_variable_and_file_in_order(tmp_path: Path) -> None:
    first, second, third = new_key(), new_key(), new_key()
    key_file = tmp_path / "key"
    key_file.write_text(f"{second}\n{third}\n")
    settings = CommonSettings(secret_key=SecretStr(f" {first} ,"), secret_key_file=key_file)
    box = settings.required_secret_box()
    assert repr(box) == str(box) == "SecretBox(3 keys)"
    assert SecretBox([first]).decrypt(box.encrypt(PLAINTEXT)) == PLAINTEXT  # the first one encrypts
    assert box.decrypt(SecretBox([third]).encrypt(PLAINTEXT)) == PLAINTEXT
    for key in (first, second, third):
        assert key not in repr(settings) and key not in repr(box)


def test_key_file_is_made_once_private(tmp_path: Path) -> None:
    path = ensure_key_file(tmp_path / "run" / "secret-key")
    key = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_key_file(path).read_text() == key  # kept across `make run`s
    SecretBox([key.strip()])
