"""The consumer side of a transformers stream: the prompt and `generate` kwargs for a request, the streamer
that counts and times tokens, the stopping criteria that end `generate` on a stop string or when the consumer
left, the relay of decoded pieces through the stop-string scanner, and the finish reason."""
from __future__ import annotations

import functools
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

from tutor.backends.hf_load import LoadedModel
from tutor.backends.stopping import StopScanner
from tutor.errors import GenerationError
from tutor.types import GenerationParams, GenerationRequest

_POLL_S = 0.2  # how often a waiting consumer checks that the worker is still alive


@dataclass
class GenerationJob:
    """One request's generate kwargs and the objects the consumer reads while the worker generates."""

    gen_kwargs: dict
    streamer: Any  # CountingStreamer
    criteria: Any  # StopCriteria
    cancel: threading.Event  # set by the consumer: the worker stops at its next token
    prompt_len: int


def sampling_kwargs(params: GenerationParams) -> dict:
    """generate() kwargs for the sampling part of a request (temperature 0 = greedy)."""
    kw: dict[str, Any] = {"max_new_tokens": max(1, int(params.max_new_tokens))}
    if params.temperature > 0:
        kw.update(do_sample=True, temperature=float(params.temperature), top_p=float(params.top_p))
    else:
        # explicit Nones override sampling values a model's generation_config may carry
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    if params.repetition_penalty and params.repetition_penalty != 1.0:
        kw["repetition_penalty"] = float(params.repetition_penalty)
    return kw


def prepare_generation(state: LoadedModel, request: GenerationRequest) -> GenerationJob:
    """The chat prompt encoded, and generate's kwargs. Runs in the consumer, so a conversation the chat
    template rejects, or a bad JSON schema, raises at the call and not in the worker."""
    from transformers import StoppingCriteriaList

    counting_streamer, stop_criteria = _lazy_classes()
    tok = state.tokenizer
    try:
        prompt = tok.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in request.messages],
            add_generation_prompt=True, tokenize=False,
        )
    except Exception as e:  # noqa: BLE001 - jinja errors, e.g. a template without a system role
        raise GenerationError(f"The model's chat template rejected this conversation: {e}") from e
    # The template already wrote every special token; adding BOS again would double it.
    enc = tok(prompt, add_special_tokens=False, return_tensors="pt")
    input_ids = enc["input_ids"].to(state.device)
    prompt_len = int(input_ids.shape[1])
    cancel = threading.Event()
    streamer = counting_streamer(tok, skip_prompt=True, timeout=_POLL_S, skip_special_tokens=True)
    criteria = stop_criteria(tok, prompt_len, tuple(s for s in request.params.stop if s), cancel)
    gen_kwargs = dict(
        input_ids=input_ids,
        attention_mask=enc["attention_mask"].to(state.device),
        streamer=streamer,
        stopping_criteria=StoppingCriteriaList([criteria]),
        eos_token_id=list(state.eos_ids) or None,
        pad_token_id=state.pad_id,
        **sampling_kwargs(request.params),
    )
    if request.json_schema is not None:
        from transformers import LogitsProcessorList

        from tutor.backends.json_schema import make_logits_processor

        gen_kwargs["logits_processor"] = LogitsProcessorList(
            [make_logits_processor(tok, request.json_schema, prompt_len)])
    return GenerationJob(gen_kwargs, streamer, criteria, cancel, prompt_len)


def relay(job: GenerationJob, worker: Any, scanner: StopScanner) -> Iterator[str]:
    """The worker's decoded pieces, through the stop-string scanner, until generate ends or a stop string is
    seen; `worker` is the worker's future (a consumer waiting on an empty queue checks it is still running)."""
    streamer = job.streamer
    while True:
        try:
            piece = next(streamer)
        except StopIteration:
            break
        except queue.Empty:
            if not worker.done() or not streamer.text_queue.empty():
                continue
            break  # the worker died without signalling the end (should not happen)
        if not piece:
            continue
        out, stopped = scanner.feed(piece)
        if out:
            yield out
        if stopped:
            job.cancel.set()  # the worker's criteria normally stopped on the same token
            break


def finish_reason(job: GenerationJob, scanner: StopScanner, eos_ids: tuple[int, ...],
                  max_new_tokens: int) -> str:
    """"stop" (a stop string, an end-of-answer token, or the consumer stopped it), "length", or
    "repetition" (the scanner's repetition guard cut it)."""
    streamer = job.streamer
    if scanner.degenerate:
        return "repetition"
    if scanner.stopped or job.criteria.hit:
        return "stop"
    if streamer.last_token is not None and streamer.last_token in eos_ids:
        return "stop"
    if streamer.n_generated >= max_new_tokens:
        return "length"
    return "stop"


@functools.cache
def _lazy_classes() -> tuple[type, type]:
    """transformers subclasses, defined on first use so importing this module stays light."""
    import torch
    from transformers import StoppingCriteria, TextIteratorStreamer

    class CountingStreamer(TextIteratorStreamer):
        """TextIteratorStreamer that also counts generated tokens and times the first one."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.n_generated = 0
            self.first_token_at: float | None = None
            self.last_token: int | None = None

        def put(self, value: Any) -> None:
            if not (self.skip_prompt and self.next_tokens_are_prompt):
                flat = value.reshape(-1)
                if flat.numel():
                    if self.first_token_at is None:
                        self.first_token_at = time.perf_counter()
                    self.n_generated += int(flat.numel())
                    self.last_token = int(flat[-1])
            super().put(value)

    class StopCriteria(StoppingCriteria):
        """Stops generate() when the decoded answer contains a stop string, or the consumer left.

        Checked in the worker on every token, so the token count is exact even when the consumer
        is slow to notice. Only a window of recent tokens is decoded, keeping each check cheap.
        """

        def __init__(self, tokenizer: Any, prompt_len: int, stops: tuple[str, ...],
                     cancel: threading.Event) -> None:
            self.tokenizer = tokenizer
            self.prompt_len = prompt_len
            self.stops = stops
            self.cancel = cancel
            self.window = max(32, 4 * max((len(s) for s in stops), default=0))
            self.hit = False

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = self.cancel.is_set()
            if not done and self.stops:
                start = max(self.prompt_len, int(input_ids.shape[1]) - self.window)
                text = self.tokenizer.decode(input_ids[0, start:], skip_special_tokens=True)
                if any(s in text for s in self.stops):
                    self.hit = done = True
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return CountingStreamer, StopCriteria
