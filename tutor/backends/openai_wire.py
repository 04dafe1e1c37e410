"""The chat-completions wire format, as pure functions: addresses, request bodies, server-sent events,
model and adapter listings. No I/O here, so every rule is unit-tested without a server; the backend
that sends these lives in tutor/backends/openai_compat.py.

Dialects covered: vLLM and SGLang (adapter = the request's `model`, `repetition_penalty`), llama.cpp's
llama-server (adapter = `lora: [{id, scale}]`, `repeat_penalty`, adapters listed at /lora-adapters),
TGI and Ollama (base model only). Fields a server does not know are ignored by all of them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Mapping

from tutor.errors import GenerationError
from tutor.types import GenerationRequest

DONE = object()  # the `data: [DONE]` event that ends an OpenAI stream
ADAPTER_MODES = ("model", "lora", "none")


@dataclass(frozen=True)
class Endpoints:
    root: str  # http://host:port (where llama-server's /tokenize and /lora-adapters live, and vLLM's /tokenize)
    api: str  # root + /v1 (chat completions, models)


def endpoints(base_url: str) -> Endpoints:
    """Accept the address with or without /v1 (vLLM docs give .../v1, llama-server docs the bare host)."""
    root = base_url.strip().rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return Endpoints(root=root, api=f"{root}/v1")


def check_schema(schema: Mapping[str, Any]) -> None:
    """A schema the server could not enforce fails here, before any call, with a sentence."""
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        raise GenerationError(f"The JSON schema for the reply is not valid: {e.message}") from e


def request_body(request: GenerationRequest, model: str, mode: str, adapter_ids: Mapping[str, int]) -> dict:
    """The streaming chat-completions body for `request`.

    mode "model": `model` is the adapter's name (vLLM --lora-modules name) or the base model;
    mode "lora": every adapter with an explicit scale, every time (llama.cpp#26207: a request naming
    none would reuse a prompt cache computed with another request's adapter); mode "none": no adapter.
    """
    p = request.params
    body: dict[str, Any] = {
        "model": request.adapter if (mode == "model" and request.adapter) else model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},  # the server's own token counts in the last chunk
        "max_tokens": max(1, int(p.max_new_tokens)),
        "temperature": max(0.0, float(p.temperature)),
        "top_p": float(p.top_p),
    }
    penalty = float(p.repetition_penalty or 1.0)
    if penalty != 1.0:
        body["repetition_penalty"] = penalty  # vLLM, SGLang, TGI
        body["repeat_penalty"] = penalty  # llama-server
    if mode == "lora" and adapter_ids:
        body["lora"] = [{"id": i, "scale": 1.0 if name == request.adapter else 0.0}
                        for name, i in sorted(adapter_ids.items(), key=lambda kv: kv[1])]
    if p.seed is not None:
        body["seed"] = int(p.seed)
    stops = [s for s in p.stop if s]
    if stops:
        body["stop"] = stops[:4]  # the OpenAI API allows 4; the rest are applied locally by StopScanner
    if request.json_schema is not None:
        check_schema(request.json_schema)
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "reply", "schema": dict(request.json_schema),
                                                   "strict": True}}
    return body


def parse_event(line: str) -> dict | object | None:
    """One line of a server-sent-event stream: a chunk dict, DONE, or None (blank, comment, other field).
    Raises ValueError for a data line that is not JSON (the caller names the server)."""
    line = line.strip()
    if not line.startswith("data:"):
        return None
    data = line[len("data:"):].strip()
    if data == "[DONE]":
        return DONE
    chunk = json.loads(data)
    if not isinstance(chunk, dict):
        raise ValueError(f"expected a JSON object, got {data[:80]!r}")
    return chunk


def error_text(payload: Any) -> str:
    """The server's own error message from an error body ({"error": {"message"}} or {"detail"} or text)."""
    if isinstance(payload, dict):
        err = payload.get("error", payload.get("detail", payload.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return str(err)[:300]
    return str(payload)[:300]


def model_ids(listing: Any) -> list[dict]:
    """The entries of GET /v1/models ({"data": [{"id", "parent"?}]}); ValueError when it is not that."""
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list) or not all(isinstance(d, dict) and "id" in d for d in data):
        raise ValueError("no model list ({'data': [{'id': ...}]})")
    return data


def pick_model(entries: list[dict], configured: str) -> str:
    """The configured model name, or else the first base model listed (vLLM lists adapters with a parent)."""
    if configured:
        return configured
    bases = [d["id"] for d in entries if not d.get("parent")]
    if not bases:
        raise ValueError("the server lists no model")
    return bases[0]


def adapters_from_models(entries: list[dict], model: str) -> dict[str, int]:
    """Mode "model": every listed id that is a LoRA of `model` (vLLM: parent == model) or, for servers
    that list no parents, every id but the model itself."""
    if any(d.get("parent") for d in entries):
        names = [d["id"] for d in entries if d.get("parent") and d["id"] != model]
    else:
        names = [d["id"] for d in entries if d["id"] != model]
    return {name: i for i, name in enumerate(names)}


def adapters_from_lora_list(listing: Any) -> dict[str, int]:
    """Mode "lora": llama-server's GET /lora-adapters ([{"id", "path"}]); an adapter is named after its
    folder when the file is adapters/<name>/adapter.gguf, else after the file."""
    if not isinstance(listing, list):
        raise ValueError("no adapter list ([{'id': ..., 'path': ...}])")
    out: dict[str, int] = {}
    for d in listing:
        if not isinstance(d, dict) or "id" not in d:
            raise ValueError("no adapter list ([{'id': ..., 'path': ...}])")
        path = PurePosixPath(str(d.get("path", "")).replace("\\", "/"))
        name = path.parent.name if path.name == "adapter.gguf" and path.parent.name else path.stem
        out[name or str(d["id"])] = int(d["id"])
    return out
