"""Adapters of the firmware service: embedded defaults and production backends behind services/firmware/ports.py."""
