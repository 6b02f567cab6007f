"""The REST gateway: a generic HTTP/JSON ↔ gRPC transcoder driven by the protos' google.api.http rules.

Entry point: gateway.app.create_app. Nothing here knows a particular RPC; adding an annotated RPC to a
proto is enough for it to be served, documented in /openapi.json and checked by the tests.
"""
