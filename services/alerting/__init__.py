"""The alerting service: alert rules, streaming evaluation and the alerts API (issue #5)."""
