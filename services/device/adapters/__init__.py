"""Implementations of the device ports: embedded defaults (memory, SQLite, local CA) and AWS (DynamoDB, IoT Core)."""
