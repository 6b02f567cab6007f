"""Rollouts: deployments split into batches, one job per device, progress and the decisions it drives."""
