"""The alerting domain: rules, alerts and the use cases on them (pure Python, no I/O)."""
