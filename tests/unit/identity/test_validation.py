"""Field rules: email normalisation, names, the password policy and generated passwords."""

from __future__ import annotations

import string

import pytest

from services.identity.domain.validation import (
    TEMPORARY_PASSWORD_LENGTH,
    Violations,
    check_name,
    check_password,
    generate_temporary_password,
    normalise_email,
)
from services.kernel.errors import ValidationFailed


def violations_of(check: object) -> list[tuple[str, str]]:
    violations = Violations()
    assert callable(check)
    check(violations)
    try:
        violations.raise_if_any()
    except ValidationFailed as error:
        return [(v.field, v.description) for v in error.violations]
    return []


def test_email_is_trimmed_and_lower_cased() -> None:
    violations = Violations()
    assert normalise_email("  John.Doe@Example.COM ", violations) == "john.doe@example.com"
    violations.raise_if_any()


@pytest.mark.parametrize("email", ["", "john", "john@", "@example.com", "john doe@example.com", "a@b", "a@b."])
def test_malformed_emails_are_refused(email: str) -> None:
    found = violations_of(lambda v: normalise_email(email, v))
    assert [f for f, _ in found] == ["email"]


def test_name_must_have_1_to_100_characters_after_trimming() -> None:
    assert violations_of(lambda v: check_name("x" * 100, v)) == []
    assert violations_of(lambda v: check_name("   ", v)) == [("name", "must be 1 to 100 characters, got 0")]
    assert violations_of(lambda v: check_name("x" * 101, v)) == [("name", "must be 1 to 100 characters, got 101")]


def test_password_policy() -> None:
    assert violations_of(lambda v: check_password("12345678", v)) == []
    assert violations_of(lambda v: check_password("1234567", v)) == [("password", "must be at least 8 characters")]
    assert violations_of(lambda v: check_password("x" * 257, v)) == [("password", "must be at most 256 characters")]


def test_temporary_passwords_are_long_random_and_mix_every_class() -> None:
    passwords = {generate_temporary_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) == TEMPORARY_PASSWORD_LENGTH
        assert any(c in string.ascii_uppercase for c in password)
        assert any(c in string.ascii_lowercase for c in password)
        assert any(c in string.digits for c in password)
        assert any(not c.isalnum() for c in password)
        assert violations_of(lambda v, p=password: check_password(p, v)) == []
