"""A one-message request for backend tests: greedy and short unless a test says otherwise."""
from tutor.types import GenerationParams, GenerationRequest, Message


def one_message(text: str, adapter: str | None = None, schema=None, **params) -> GenerationRequest:
    params.setdefault("max_new_tokens", 24)
    params.setdefault("temperature", 0.0)
    return GenerationRequest((Message("user", text),), GenerationParams(**params), adapter=adapter,
                             json_schema=schema)
