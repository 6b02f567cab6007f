"""The telemetry service: Kinesis/MQTT/HTTP ingest, validation, anomalies, time-series store and history (issue #4)."""
