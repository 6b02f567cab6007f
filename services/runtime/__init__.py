"""Shared infrastructure of every service and the gateway: settings, logging, auth, gRPC server and clients."""
