"""Analytics domain: dashboard counters, trends and the sensor-data query's rules (pure Python)."""
