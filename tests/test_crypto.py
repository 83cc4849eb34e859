"""Encryption of stored secrets: keys outside the database, rotation-ready."""

import os
import stat

import pytest
from cryptography.fernet import Fernet

from smtpconfig import crypto
from smtpconfig.exceptions import EncryptionKeyMissing, InvalidEncryptionKey, SecretUnreadable


def test_round_trip_keeps_unicode_and_punctuation():
    secret = "p@ss:wörd/Ключ;!"
    token = crypto.encrypt(secret)
    assert secret not in token
    assert crypto.decrypt(token) == secret


def test_the_same_secret_encrypts_differently_each_time():
    assert crypto.encrypt("same") != crypto.encrypt("same")


def test_first_key_encrypts_and_every_key_decrypts(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SMTPCONFIG = {"ENCRYPTION_KEYS": [old_key]}
    token_under_old_key = crypto.encrypt("secret")

    settings.SMTPCONFIG = {"ENCRYPTION_KEYS": [new_key, old_key]}
    assert crypto.decrypt(token_under_old_key) == "secret"
    token_under_new_key = crypto.encrypt("secret")
    assert Fernet(new_key).decrypt(token_under_new_key.encode()) == b"secret"


def test_keys_may_be_one_comma_separated_string(settings):
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SMTPCONFIG = {"ENCRYPTION_KEYS": f"{first}, {second}"}
    assert crypto.configured_keys() == [first, second]


def test_keys_default_to_the_environment_variable(settings, monkeypatch):
    key = Fernet.generate_key().decode()
    settings.SMTPCONFIG = {}
    monkeypatch.setenv("SMTPCONFIG_ENCRYPTION_KEYS", key)
    assert crypto.configured_keys() == [key]
    assert crypto.decrypt(crypto.encrypt("x")) == "x"


def test_missing_key_is_a_configuration_error_that_says_what_to_do(settings, monkeypatch):
    settings.SMTPCONFIG = {}
    monkeypatch.delenv("SMTPCONFIG_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(EncryptionKeyMissing, match="smtp_generate_key"):
        crypto.encrypt("secret")


def test_invalid_key_error_names_its_position_not_its_value(settings):
    good = Fernet.generate_key().decode()
    settings.SMTPCONFIG = {"ENCRYPTION_KEYS": [good, "not-a-real-key-value"]}
    with pytest.raises(InvalidEncryptionKey) as excinfo:
        crypto.encrypt("secret")
    assert "number 2" in str(excinfo.value)
    assert "not-a-real-key-value" not in str(excinfo.value)


def test_token_from_another_key_is_unreadable_without_leaking(settings):
    token = Fernet(Fernet.generate_key()).encrypt(b"hunter2").decode()
    with pytest.raises(SecretUnreadable) as excinfo:
        crypto.decrypt(token)
    assert "hunter2" not in str(excinfo.value)
    assert excinfo.value.__cause__ is None
    assert crypto.can_decrypt(token) is False


def test_key_file_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / "keys" / "encryption.key"
    assert crypto.write_key_file(path) is True
    first = path.read_text()
    Fernet(first.strip())  # a valid key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert crypto.write_key_file(path) is False
    assert path.read_text() == first
