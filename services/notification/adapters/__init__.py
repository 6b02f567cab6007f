"""Adapters of the notification ports: delivery logs, channel senders, templates, identity, the bus."""
