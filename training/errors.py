"""The training package's error: a run cannot start or continue, and the message says what to change."""
from __future__ import annotations

from tutor.errors import TutorError


class TrainingError(TutorError):
    """A run cannot start or continue; the message says what to change."""
