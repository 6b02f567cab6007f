"""Telemetry domain: records, validation against device-type schemas, transformation, anomalies, history."""
