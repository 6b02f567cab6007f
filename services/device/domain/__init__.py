"""Devices, their rules and use cases: pure Python that imports only the kernel and its own ports."""
