"""The identity service: users, roles, preferences and sign-in (spec §3.3, §7)."""
