"""Field checks shared by the identity use cases; every violation names the field by its JSON name."""

from __future__ import annotations

import re
import secrets
import string

from services.kernel.errors import Violations

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
E164_PATTERN = re.compile(r"^\+[1-9]\d{1,14}$")
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
MIN_PASSWORD_LENGTH = 8
# Cognito refuses longer passwords; the embedded store follows the same rule so both behave alike.
MAX_PASSWORD_LENGTH = 256
TEMPORARY_PASSWORD_LENGTH = 16
# Symbols Cognito's default policy counts as special characters and that survive copy-paste.
_SYMBOLS = "!@#%^*-_=+"


def normalise_email(value: str, violations: Violations, field_name: str = "email") -> str:
    """Lower-case and trimmed: sign-in is by email, so one address must map to one account."""
    email = value.strip().lower()
    if not email:
        violations.add(field_name, "is required")
    elif len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(email):
        violations.add(field_name, f"must be an email address, got {value!r}")
    return email


def check_name(value: str, violations: Violations, field_name: str = "name") -> str:
    name = value.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        violations.add(field_name, f"must be 1 to {MAX_NAME_LENGTH} characters, got {len(name)}")
    return name


def check_phone_number(value: str, violations: Violations, field_name: str = "phoneNumber") -> str | None:
    """An E.164 number with spaces, dashes and parentheses removed; an empty value means no number."""
    number = re.sub(r"[\s().-]", "", value)
    if not number:
        return None
    if not E164_PATTERN.match(number):
        violations.add(field_name, f"must be an E.164 phone number such as +15555550100, got {value!r}")
    return number


def check_password(value: str, violations: Violations, field_name: str = "password") -> None:
    if len(value) < MIN_PASSWORD_LENGTH:
        violations.add(field_name, f"must be at least {MIN_PASSWORD_LENGTH} characters")
    elif len(value) > MAX_PASSWORD_LENGTH:
        violations.add(field_name, f"must be at most {MAX_PASSWORD_LENGTH} characters")


def generate_temporary_password() -> str:
    """A random password with every character class, so it passes Cognito's default policy too."""
    classes = [string.ascii_uppercase, string.ascii_lowercase, string.digits, _SYMBOLS]
    alphabet = "".join(classes)
    chars = [secrets.choice(c) for c in classes]
    chars += [secrets.choice(alphabet) for _ in range(TEMPORARY_PASSWORD_LENGTH - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)
