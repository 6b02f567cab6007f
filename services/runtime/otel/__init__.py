"""OpenTelemetry for the mesh: traces across gRPC and the bus, the spec's metrics, ids in the log lines.

Off unless the standard OTEL_* variables ask for it (config.py). Hot paths consult `hooks`, which imports no
OpenTelemetry code: with nothing configured they pay one module-attribute read. docs/observability.md.
"""
