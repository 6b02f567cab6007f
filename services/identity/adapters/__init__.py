"""Adapters of the identity ports: embedded defaults (SQLite, local RS256 issuer) and AWS (DynamoDB, Cognito)."""
