"""The device service: register, get, list, update and soft-delete devices with X.509 credentials (spec §3.1)."""
