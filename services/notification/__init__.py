"""The notification service: email, push, SMS and webhook delivery of alerts (issue #5)."""
