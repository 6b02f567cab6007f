"""Why a delivery did not happen; channel adapters raise these, the dispatcher records them."""

from __future__ import annotations


class DeliveryFailed(Exception):
    """A channel refused or could not take a message.

    `retryable` failures (timeouts, 5xx, throttling) are tried again when the event is redelivered;
    permanent ones (an unregistered push token, a 4xx from a webhook, a refused address) are final.
    """

    def __init__(self, message: str, *, retryable: bool, attempts: int = 1):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.attempts = attempts


class DeliveriesIncomplete(Exception):
    """Raised after a dispatch in which some deliveries failed in a way worth retrying, so that the bus
    redelivers the event; rows already sent or suppressed are skipped on the next pass."""

    def __init__(self, delivery_ids: list[str]):
        super().__init__(f"{len(delivery_ids)} deliveries failed and may succeed later: {', '.join(delivery_ids)}")
        self.delivery_ids = delivery_ids
