"""Adapters of the alerting ports: stores (memory, SQLite, PostgreSQL), gRPC peers and the event bus."""
