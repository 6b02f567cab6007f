"""The analytics service: dashboard stats, queries, reports, exports and scheduled jobs (issue #7)."""
