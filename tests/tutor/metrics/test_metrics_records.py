"""Record constructors: what a Completion or an exception becomes, and what is never kept."""
from __future__ import annotations

import pytest

from tutor.errors import GenerationError
from tutor.metrics import Feedback, ModelCall, StoredCall
from tutor.types import Completion, Usage


def _completion(**kw) -> Completion:
    values = dict(text="The derivative of x^2 is 2x.", model="smollm2", adapter="calculus",
                  usage=Usage(prompt_tokens=40, completion_tokens=11), ttft_s=0.5, latency_s=1.5)
    values.update(kw)
    return Completion(**values)


def test_from_completion_copies_measurements():
    call = ModelCall.from_completion(_completion(), operation="ask", user="ada", started_at=123.0)
    assert call == ModelCall(
        model="smollm2", adapter="calculus", operation="ask", user="ada", started_at=123.0, ttft_s=0.5,
        latency_s=1.5, prompt_tokens=40, completion_tokens=11, tokens_per_s=10.0, success=True,
        error_type=None, quality=None,
    )
    assert not any("derivative" in str(v) for v in vars(call).values())


def test_from_completion_unmeasurable_speed_is_none_not_zero():
    one_token = _completion(usage=Usage(prompt_tokens=3, completion_tokens=1))
    assert ModelCall.from_completion(one_token, "ask", "ada", 0.0).tokens_per_s is None


def test_from_completion_error_finish_is_a_failure():
    call = ModelCall.from_completion(_completion(finish_reason="error"), "quiz", "ada", 0.0, quality=0.2)
    assert (call.success, call.error_type, call.quality) == (False, "finish_reason=error", 0.2)


def test_failure_keeps_the_class_name_never_the_message():
    err = GenerationError("model crashed while answering 'my secret homework question'")
    call = ModelCall.failure("smollm2", None, "ask", "ada", started_at=5.0, latency_s=0.25, error=err)
    assert (call.success, call.error_type, call.latency_s, call.ttft_s, call.tokens_per_s) == (
        False, "GenerationError", 0.25, None, None)
    assert not any("secret" in str(v) for v in vars(call).values())


@pytest.mark.parametrize("value", [0, 2, -2, True, 1.0])
def test_feedback_value_must_be_plus_or_minus_one(value):
    with pytest.raises(ValueError, match="thumbs"):
        Feedback(call_id=1, user="ada", value=value)


def test_stored_call_is_a_model_call_with_id_and_feedback():
    call = ModelCall.failure("m", None, "ask", "ada", 0.0, 1.0, TimeoutError())
    stored = StoredCall(**vars(call), id=7, feedback=-1)
    assert isinstance(stored, ModelCall) and stored.id == 7 and stored.feedback == -1
