"""Analytics adapters: counter stores (SQLite, PostgreSQL, memory), bus consumers and gRPC clients."""
