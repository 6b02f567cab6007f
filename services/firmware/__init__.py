"""The firmware service: firmware upload and over-the-air rollouts (issue #6)."""
