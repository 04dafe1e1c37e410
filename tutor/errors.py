"""Exception hierarchy of the core. The UI edge catches TutorError and shows `str(e)`,
so every message here is a sentence a learner or admin can act on."""


class TutorError(Exception):
    """Base class of every error the core raises on purpose."""


class ConfigError(TutorError):
    """A setting is invalid; the message names the setting."""


class BackendUnavailable(TutorError):
    """A backend cannot run here (missing library, wrong platform); says how to fix it."""


class ModelLoadError(TutorError):
    """Weights or tokenizer could not be loaded."""


class GenerationError(TutorError):
    """A model call failed mid-way."""


class UnknownAdapter(TutorError):
    """A request named an adapter that is not loaded."""


class RetrievalError(TutorError):
    """The vector store or embedder failed."""


class DocumentError(TutorError):
    """A document could not be parsed or is not an accepted type/size."""


class InputError(TutorError):
    """The user's own input is unusable (empty, too large, wrong type)."""


class ServerBusy(TutorError):
    """Every engine slot is taken and the waiting line is full, or a request waited longer than allowed."""

    MESSAGE = "The tutor is busy right now — please try again in a moment."

    def __init__(self, reason: str = "full") -> None:
        super().__init__(self.MESSAGE)
        self.reason = reason  # "full" (the line was full on arrival) | "timeout" (waited serving.max_wait_s)
