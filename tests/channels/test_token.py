"""Signed, expiring tokens: round trips, expiry, and every way to be refused."""
import math
import re
import time
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beamish.channels import ExpiredToken, InvalidToken, TokenError, sign, verify
from beamish.channels import _token

SECRET = "a" * 64
SALT = "user socket"


@pytest.mark.parametrize("data", [42, "alice", None, True, 1.5, [1, "two", None], {"user_id": 7, "roles": ["admin"]},
                                  {"name": "Zoë ☃ 😀"}])
def test_verify_returns_the_signed_data(data):
    assert verify(SECRET, SALT, sign(SECRET, SALT, data)) == data


def test_tuples_come_back_as_lists_as_in_json():
    assert verify(SECRET, SALT, sign(SECRET, SALT, (1, 2))) == [1, 2]


def test_tokens_are_url_safe_without_padding():
    for data in [{"user_id": 7}, "x" * 100, list(range(50))]:
        token = sign(SECRET, SALT, data)
        assert re.fullmatch(r"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token), token


def test_signing_is_deterministic_for_the_same_instant():
    assert sign(SECRET, SALT, {"a": 1}, signed_at=1000) == sign(SECRET, SALT, {"a": 1}, signed_at=1000)
    assert sign(SECRET, SALT, {"a": 1}, signed_at=1000) != sign(SECRET, SALT, {"a": 1}, signed_at=1001)


def test_str_and_bytes_secrets_and_salts_are_the_same_key():
    token = sign(SECRET, SALT, 1)
    assert verify(SECRET.encode(), SALT.encode(), token) == 1


# -- expiry ------------------------------------------------------------------


def test_a_token_older_than_max_age_is_expired():
    token = sign(SECRET, SALT, 1, signed_at=time.time() - 100)
    with pytest.raises(ExpiredToken, match="max_age is 50 s"):
        verify(SECRET, SALT, token, max_age=50)
    assert verify(SECRET, SALT, token, max_age=200) == 1


def test_default_max_age_is_one_day():
    with pytest.raises(ExpiredToken):
        verify(SECRET, SALT, sign(SECRET, SALT, 1, signed_at=time.time() - 86400 - 60))
    assert verify(SECRET, SALT, sign(SECRET, SALT, 1, signed_at=time.time() - 86400 + 60)) == 1


def test_a_token_is_valid_up_to_exactly_max_age(monkeypatch):
    token = sign(SECRET, SALT, 1, signed_at=1000.0)
    monkeypatch.setattr(_token, "time", types.SimpleNamespace(time=lambda: 1060.0))
    assert verify(SECRET, SALT, token, max_age=60) == 1
    monkeypatch.setattr(_token, "time", types.SimpleNamespace(time=lambda: 1060.001))
    with pytest.raises(ExpiredToken):
        verify(SECRET, SALT, token, max_age=60)


def test_infinite_max_age_accepts_any_age():
    assert verify(SECRET, SALT, sign(SECRET, SALT, 1, signed_at=0), max_age=math.inf) == 1


def test_a_tampered_expired_token_is_invalid_not_expired():
    token = sign(SECRET, SALT, 1, signed_at=0)
    with pytest.raises(ExpiredToken):
        verify(SECRET, SALT, token)
    with pytest.raises(InvalidToken):
        verify(SECRET, SALT, token[:-1] + ("A" if token[-1] != "A" else "B"))


# -- refusals ----------------------------------------------------------------


def test_a_wrong_secret_is_refused():
    with pytest.raises(InvalidToken, match="signature does not match"):
        verify("b" * 64, SALT, sign(SECRET, SALT, 1))


def test_a_wrong_salt_is_refused():
    with pytest.raises(InvalidToken, match="signature does not match"):
        verify(SECRET, "password reset", sign(SECRET, SALT, 1))


def flip(text, index):
    return text[:index] + ("B" if text[index] == "A" else "A") + text[index + 1:]


def test_a_tampered_payload_is_refused():
    token = sign(SECRET, SALT, {"user_id": 7})
    for index in range(3, token.rindex(".")):
        with pytest.raises(InvalidToken):
            verify(SECRET, SALT, flip(token, index))


def test_a_tampered_signature_is_refused():
    token = sign(SECRET, SALT, {"user_id": 7})
    for index in range(token.rindex(".") + 1, len(token)):
        with pytest.raises(InvalidToken):
            verify(SECRET, SALT, flip(token, index))


def test_a_payload_swapped_from_another_token_is_refused():
    mine, theirs = sign(SECRET, SALT, {"user_id": 7}), sign(SECRET, SALT, {"user_id": 1})
    forged = theirs.rpartition(".")[0] + "." + mine.rpartition(".")[2]
    with pytest.raises(InvalidToken):
        verify(SECRET, SALT, forged)


@pytest.mark.parametrize("token", [
    "", "v1", "v1.", "v1..", "v1.a.b.c", "v2.eyJ9.abc", "eyJ9.abc", "v1.é.x", "v1.\x00.x", None, 42,
    b"v1.a.b",
])
def test_malformed_tokens_are_invalid(token):
    with pytest.raises(InvalidToken):
        verify(SECRET, SALT, token)


def test_both_refusals_are_token_errors():
    assert issubclass(InvalidToken, TokenError) and issubclass(ExpiredToken, TokenError)
    assert not issubclass(InvalidToken, ExpiredToken) and not issubclass(ExpiredToken, InvalidToken)


@settings(max_examples=300)
@given(st.text() | st.text(alphabet="v1.AZaz09-_", max_size=80))
def test_verify_of_arbitrary_strings_raises_only_invalid_token(token):
    with pytest.raises(InvalidToken):
        verify(SECRET, SALT, token)


# -- misuse by the signer ----------------------------------------------------


def test_an_empty_secret_is_refused():
    with pytest.raises(ValueError, match="secret must not be empty"):
        sign("", SALT, 1)
    with pytest.raises(ValueError):
        verify(b"", SALT, "v1.a.b")


def test_data_json_cannot_carry_is_refused_at_signing():
    with pytest.raises(TypeError):
        sign(SECRET, SALT, object())
    with pytest.raises(ValueError):
        sign(SECRET, SALT, float("nan"))
