"""Alert evaluation in the stream: the engine (rules × readings → candidates) and the state it keeps."""

from services.alerting.domain.evaluation.engine import Evaluator
from services.alerting.domain.evaluation.state import DeviceRef

__all__ = ["DeviceRef", "Evaluator"]
