"""JSON-Schema-constrained decoding for the transformers backend, on llguidance.

Owns the bridge between a request's `json_schema` and `model.generate`: a logits processor that
masks every token the schema forbids at each step, so even the 135M model can only write JSON
that parses and validates (MODELS.md: its free-text plans degenerate into lists).

Why llguidance (measured on the embedded model, 2 shared CPU cores, Nov 2026; see bench/quiz.py
for the end-to-end ratio against plain generation):
- lm-format-enforcer 0.11.3: its transformers integration fails to import on transformers 5.x
  (`transformers.tokenization_utils.PreTrainedTokenizerBase` moved);
- xgrammar 0.2.8: installs triton 3.9 (hundreds of MB) even for CPU use;
- outlines 1.3: a framework around outlines-core; more than this one processor needs;
- llguidance 1.9.1: one wheel, reads the HF tokenizer, ~0.1 ms per token to compute the mask.
  Its generic `apply_token_bitmask_inplace` took ~150 ms per token on CPU, so the mask is applied
  here with numpy instead (~0.05 ms): the constraint then costs well under 1% of a ~30 ms token.

llguidance is imported inside functions: importing this module stays light.
"""
from __future__ import annotations

import functools
import json
import threading
from typing import Any, Mapping

from tutor.errors import GenerationError

# Compact JSON (no free whitespace): the small model otherwise fills strings' gaps with blank lines.
_GRAMMAR_DEFAULTS = {"whitespace_flexible": False}

_tok_lock = threading.Lock()
_tok_cache: dict[int, Any] = {}


def _ll_tokenizer(tokenizer: Any) -> Any:
    """llguidance's view of an HF tokenizer, built once per tokenizer (~0.5 s)."""
    with _tok_lock:
        key = id(tokenizer)
        if key not in _tok_cache:
            import llguidance.hf

            _tok_cache[key] = (tokenizer, llguidance.hf.from_tokenizer(tokenizer))
        return _tok_cache[key][1]


@functools.lru_cache(maxsize=64)
def _grammar(schema_json: str) -> str:
    import llguidance

    return llguidance.LLMatcher.grammar_from_json_schema(schema_json, defaults=_GRAMMAR_DEFAULTS)


def make_logits_processor(tokenizer: Any, schema: Mapping[str, Any], prompt_len: int) -> Any:
    """A fresh (per request) logits processor enforcing `schema`. Raises GenerationError for a
    schema llguidance cannot compile."""
    import llguidance
    import llguidance.torch as lt
    import numpy as np
    import torch

    ll_tok = _ll_tokenizer(tokenizer)
    try:
        grammar = _grammar(json.dumps(schema, sort_keys=True))
        matcher = llguidance.LLMatcher(ll_tok, grammar)
    except Exception as e:  # noqa: BLE001 - llguidance raises plain ValueError/RuntimeError
        raise GenerationError(f"The answer format (JSON schema) could not be compiled: {e}") from e
    if matcher.is_error():
        raise GenerationError(f"The answer format (JSON schema) could not be compiled: {matcher.get_error()}")
    bitmask = lt.allocate_token_bitmask(1, ll_tok.vocab_size)

    class SchemaLogitsProcessor:
        """Runs in the generation thread; one instance per request, so no shared state."""

        def __init__(self) -> None:
            self.seen = prompt_len
            self.done = False

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            n = int(input_ids.shape[1])
            if n > self.seen:
                for tok in input_ids[0, self.seen:n].tolist():
                    if not matcher.consume_token(int(tok)):
                        break
                self.seen = n
            if matcher.is_stopped() or matcher.is_error():
                # Finished (or lost): only end-of-sequence may follow.
                eos = ll_tok.eos_token
                masked = torch.full_like(scores, float("-inf"))
                masked[:, eos] = 0.0
                return masked
            lt.fill_next_token_bitmask(matcher, bitmask, 0)
            allowed = np.unpackbits(bitmask.numpy().view(np.uint8), bitorder="little")[: scores.shape[-1]]
            forbid = torch.from_numpy(allowed == 0)
            if forbid.shape[0] < scores.shape[-1]:  # model vocab larger than the tokenizer's
                forbid = torch.cat([forbid, torch.ones(scores.shape[-1] - forbid.shape[0], dtype=torch.bool)])
            scores = scores.clone()
            scores[:, forbid.to(scores.device)] = float("-inf")
            return scores

    return SchemaLogitsProcessor()


def validate(instance: Any, schema: Mapping[str, Any]) -> str | None:
    """None when `instance` matches `schema`, else a short reason (for the fake backend and checks)."""
    import jsonschema

    try:
        jsonschema.validate(instance, dict(schema))
    except jsonschema.ValidationError as e:
        return e.message
    return None


def parse(text: str, schema: Mapping[str, Any]) -> tuple[Any, str | None]:
    """(parsed JSON, None) or (None, why it is not a valid reply)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"not JSON ({e.msg})"
    why = validate(value, schema)
    return (value, None) if why is None else (None, why)


def llguidance_grammar(schema: Mapping[str, Any]) -> str:
    """`schema` as an llguidance grammar for llama.cpp's `grammar` request field (the llama.cpp backend).

    llama.cpp's own `json_schema` path writes indented JSON (more tokens, and blank lines from the small
    model); this grammar keeps the compact JSON the transformers path writes. llama.cpp silently
    decodes unconstrained when a grammar does not compile, so it is validated here first and a bad
    schema raises GenerationError at the call.
    """
    import llguidance

    options = {**_GRAMMAR_DEFAULTS, **dict(schema.get("x-guidance") or {})}
    grammar = "%llguidance {}\nstart: %json " + json.dumps({**dict(schema), "x-guidance": options})
    error = llguidance.LLMatcher.validate_grammar(grammar)
    if error:
        raise GenerationError(f"The answer format (JSON schema) could not be compiled: {error.strip()}")
    return grammar
