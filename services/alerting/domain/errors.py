"""The alerting service's errors: each one a type with the reason clients see (spec §8.2)."""

from __future__ import annotations

from services.kernel.errors import Conflict, NotFound, ValidationFailed, Violations


class RuleNotFound(NotFound):
    default_reason = "RULE_NOT_FOUND"

    def __init__(self, rule_id: str):
        super().__init__(f"Alert rule with ID '{rule_id}' not found", details={"ruleId": rule_id})


class AlertNotFound(NotFound):
    default_reason = "ALERT_NOT_FOUND"

    def __init__(self, alert_id: str):
        super().__init__(f"Alert with ID '{alert_id}' not found", details={"alertId": alert_id})


class AlertStateConflict(Conflict):
    """The alert's status forbids the transition asked for (409 with the reason)."""

    def __init__(self, alert_id: str, status: str, message: str):
        super().__init__(message, details={"alertId": alert_id, "status": status})


class AlertAlreadyAcknowledged(AlertStateConflict):
    default_reason = "ALERT_ALREADY_ACKNOWLEDGED"

    def __init__(self, alert_id: str):
        super().__init__(alert_id, "acknowledged", f"alert '{alert_id}' is already acknowledged")


class AlertNotAcknowledged(AlertStateConflict):
    default_reason = "ALERT_NOT_ACKNOWLEDGED"

    def __init__(self, alert_id: str):
        super().__init__(alert_id, "triggered", f"alert '{alert_id}' must be acknowledged before it is resolved")


class AlertAlreadyResolved(AlertStateConflict):
    default_reason = "ALERT_ALREADY_RESOLVED"

    def __init__(self, alert_id: str):
        super().__init__(alert_id, "resolved", f"alert '{alert_id}' is already resolved")


class AlertChangedConcurrently(Conflict):
    default_reason = "ALERT_CHANGED_CONCURRENTLY"

    def __init__(self, alert_id: str):
        super().__init__(f"alert '{alert_id}' was changed by someone else at the same moment; try again")


class InvalidRule(ValidationFailed):
    default_reason = "VALIDATION_ERROR"


class RuleViolations(Violations):
    error_type = InvalidRule
