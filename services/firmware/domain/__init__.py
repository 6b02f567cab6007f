"""Firmware domain: the catalog of images (upload, validation) and rollouts (deployments, device jobs)."""
