"""Session tokens: a verified token is remembered, but never past its expiry and never for
another session; a forged one is never remembered."""

from __future__ import annotations

import time

import pytest

from openproctor.core import Secret
from openproctor.server.errors import OpenproctorError
from openproctor.server.security.keys import Keyring
from openproctor.server.web.http import status_of


@pytest.fixture
def keyring() -> Keyring:
    return Keyring((Secret("a-master-key-for-tests-0123456789abcdef"),))


def test_a_remembered_token_still_expires():
    now = [time.time()]
    keyring = Keyring((Secret("a-master-key-for-tests-0123456789abcdef"),), clock=lambda: now[0])
    token = keyring.mint_session_token("ops_a", now[0] + 60)
    assert keyring.check_session_token(token, "ops_a")["sub"] == "ops_a"
    assert token in keyring._verified  # the second use is served from memory ...
    assert keyring.check_session_token(token, "ops_a")["sub"] == "ops_a"
    now[0] += 120
    with pytest.raises(OpenproctorError) as refused:  # ... but not past its expiry
        keyring.check_session_token(token, "ops_a")
    assert refused.value.code == "token_expired"
    assert token not in keyring._verified
    fresh = Keyring(keyring.masters, clock=lambda: now[0])  # not remembered: the same verdict
    with pytest.raises(OpenproctorError, match="expired"):
        fresh.check_session_token(token, "ops_a")


def test_a_remembered_token_is_still_scoped_to_its_session(keyring):
    token = keyring.mint_session_token("ops_a", time.time() + 60)
    keyring.check_session_token(token, "ops_a")
    with pytest.raises(OpenproctorError) as refused:
        keyring.check_session_token(token, "ops_b")
    assert status_of(refused.value) == 403 and refused.value.code == "wrong_session"


def test_a_forged_token_is_never_remembered(keyring):
    other = Keyring((Secret("another-master-key-0123456789abcdef-xyz"),))
    forged = other.mint_session_token("ops_a", time.time() + 60)
    for _ in range(2):
        with pytest.raises(OpenproctorError) as refused:
            keyring.check_session_token(forged, "ops_a")
        assert refused.value.code == "invalid_token"
    assert forged not in keyring._verified
    assert "verified" not in repr(keyring) and forged not in repr(keyring)
