"""``SmartSimStatus``: the status of a launched entity, with SmartSim 0.8's values."""
from enum import Enum


class SmartSimStatus(Enum):
    """Status of a launched entity (values are the strings SmartSim prints)."""

    STATUS_RUNNING = "Running"
    STATUS_COMPLETED = "Completed"
    STATUS_CANCELLED = "Cancelled"
    STATUS_FAILED = "Failed"
    STATUS_NEW = "New"
    STATUS_PAUSED = "Paused"
    STATUS_NEVER_STARTED = "NeverStarted"
    STATUS_QUEUED = "Queued"

    def __str__(self) -> str:
        return f"SmartSimStatus.{self.name}"


TERMINAL_STATUSES = {
    SmartSimStatus.STATUS_CANCELLED,
    SmartSimStatus.STATUS_COMPLETED,
    SmartSimStatus.STATUS_FAILED,
}
LIVE_STATUSES = {
    SmartSimStatus.STATUS_RUNNING,
    SmartSimStatus.STATUS_QUEUED,
    SmartSimStatus.STATUS_PAUSED,
}
