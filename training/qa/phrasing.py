"""Questions phrased by the model: one JSON-schema request per candidate, with retries, backoff and a breaker.

The request goes through the backend it is given (the app's metered backend, CallMeta("qa", user)), so the
embedded model, a larger local one or a server all work and every call is recorded. A reply that is not
the schema's JSON, a timeout, or an open circuit is a Problem with its reason, and the candidate keeps its
template question ("template"); a model question is used only when it follows the asked form.

Retries: tenacity (exponential backoff) for transient errors. Circuit breaker: pybreaker (thread-safe, with
the half-open probe built in, which a hand-written one would have to get right): after `breaker_fail_max`
failed requests in a row every later candidate skips the model at once until `breaker_reset_s` passes,
so a dead server costs seconds, not retries x timeout per candidate.
"""
from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter

import pybreaker
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from tutor.backends.base import LLMBackend
from tutor.errors import GenerationError, TutorError
from tutor.types import CallMeta, Completion, GenerationParams, GenerationRequest, Message
from training.qa.checks import content_words, technical_terms
from training.qa.config import QAConfig
from training.qa.records import Candidate, Pair, Problem

QUESTION_SCHEMA = {"type": "object", "properties": {"question": {"type": "string", "maxLength": 240}},
                   "required": ["question"], "additionalProperties": False}
SYSTEM = ("You write one clear exam question for a course quiz. The answer is given; write the question it "
          "answers. Reply only with JSON: {\"question\": \"...\"}.")
KIND_HINT = {"definition": "asks what the term means", "why": "asks for the reason",
             "compare": "asks how the two things compared differ"}


class InvalidReply(ValueError):
    """The model's reply is not the JSON the schema asks for (not retried: greedy decoding repeats it)."""


def make_breaker(cfg: QAConfig) -> pybreaker.CircuitBreaker:
    return pybreaker.CircuitBreaker(fail_max=cfg.breaker_fail_max, reset_timeout=cfg.breaker_reset_s,
                                    exclude=[InvalidReply])


def request_for(c: Candidate, cfg: QAConfig, user: str) -> GenerationRequest:
    prompt = (f"Topic: {c.focus}\nAnswer: {c.sentence}\n\nWrite a question that {KIND_HINT.get(c.kind, 'it answers')}."
              f" Start it with the word \"{c.opener}\", name \"{c.focus}\" in it, end it with a question mark, "
              f"and do not copy the answer into it.")
    return GenerationRequest(messages=(Message("system", SYSTEM), Message("user", prompt)),
                             params=GenerationParams(max_new_tokens=cfg.max_new_tokens, temperature=0.0),
                             json_schema=QUESTION_SCHEMA, meta=CallMeta("qa", user))


def _run(backend: LLMBackend, request: GenerationRequest, timeout_s: float) -> Completion:
    """Stream to the end; past the timeout, stop the stream (the backend cancels it) and raise TimeoutError."""
    t0 = time.monotonic()
    stream = backend.stream(request)
    try:
        for item in stream:
            if isinstance(item, Completion):
                return item
            if timeout_s and time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"no complete reply within {timeout_s:g} s")
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    raise GenerationError("the backend stream ended without a completion")


def parse_question(text: str) -> str:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidReply(f"the reply is not JSON ({e.msg} at character {e.pos}): {text[:80]!r}") from e
    if not isinstance(data, dict) or not isinstance(data.get("question"), str):
        raise InvalidReply(f"the reply has no string 'question' field: {text[:80]!r}")
    return " ".join(data["question"].split())


class FirstWords:
    """The run's question openers, so a model question that does not start with the asked word is still used
    while its first word stays under `max_first_word_share` of the run (the model prefers "What").

    Starts from the template openers of every candidate (and the first words of pairs already logged); a
    model question that replaces a template moves one count from the template's opener to its own."""

    def __init__(self, openers: list[str], cap_share: float) -> None:
        self.counts = Counter(w.lower() for w in openers)
        self.cap = max(1, math.floor(cap_share * len(openers)))
        self._lock = threading.Lock()

    def take(self, word: str, instead_of: str) -> bool:
        word, instead_of = word.lower(), instead_of.lower()
        with self._lock:
            if word == instead_of:
                return True
            if self.counts[word] + 1 > self.cap:
                return False
            self.counts[word] += 1
            self.counts[instead_of] -= 1
            return True


def first_word(question: str) -> str:
    return question.split()[0].strip(",:;?").lower() if question.split() else ""


def follows_form(question: str, c: Candidate, cfg: QAConfig) -> str | None:
    """Why a model question is not used (None: it is): it names the topic, is about the answer sentence, is a
    question within the length bounds, brings in no formula or number the answer lacks, and does not copy the
    answer. (The opener is FirstWords' business.)"""
    lo, hi = cfg.question_words
    asked = set(content_words(question))
    missing = [w for w in content_words(c.focus) if w not in asked]
    if missing or not asked:
        return f"it does not name {c.focus!r}"
    source = set(content_words(c.sentence))
    if sum(w in source for w in asked) / len(asked) < 0.6:
        return "it is not about the answer sentence (under 60% of its words are in it)"
    new_terms = [t for t in technical_terms(question.rstrip("?")) if t not in c.sentence]
    if new_terms:
        return f"it brings in terms the answer does not have ({new_terms[0]!r})"
    if not question.endswith("?"):
        return "it is not a question"
    if not lo <= len(question.split()) <= hi:
        return f"it has {len(question.split())} words (bounds {lo}-{hi})"
    if c.sentence.lower().rstrip(".") in question.lower():
        return "it copies the answer"
    return None


class Phraser:
    """Turns a Candidate into a Pair (and maybe a Problem). Safe to call from several threads."""

    def __init__(self, backend: LLMBackend | None, cfg: QAConfig, user: str = "qa-pipeline",
                 first_words: FirstWords | None = None) -> None:
        self.backend = backend
        self.cfg = cfg
        self.user = user
        self.first_words = first_words
        self.breaker = make_breaker(cfg)

    def _ask(self, c: Candidate) -> Completion:
        retrying = Retrying(stop=stop_after_attempt(self.cfg.retries), reraise=True,
                            wait=wait_exponential(multiplier=self.cfg.backoff_s, max=max(self.cfg.backoff_s * 8, 0)),
                            retry=retry_if_exception_type((GenerationError, TimeoutError, OSError)))
        return self.breaker.call(lambda: retrying(_run, self.backend, request_for(c, self.cfg, self.user),
                                                  self.cfg.request_timeout_s))

    def phrase(self, c: Candidate) -> tuple[Pair, Problem | None]:
        question, by, problem = c.template_question, "template", None
        if self.backend is not None and self.cfg.use_model and c.model_phrased:
            try:
                done = self._ask(c)
                asked = parse_question(done.text)
                why = follows_form(asked, c, self.cfg)
                if why is None and first_word(asked) != c.opener.lower() and (
                        self.first_words is None or not self.first_words.take(first_word(asked), c.opener)):
                    why = f"its first word {first_word(asked)!r} is over the run's share (asked {c.opener!r})"
                if why is None:
                    question, by = asked, done.model
                else:
                    problem = Problem(c.key, "model", c.key, f"model question not used ({why}): {asked[:80]!r}")
            except pybreaker.CircuitBreakerError:
                problem = Problem(c.key, "model", c.key, "circuit open after repeated failures: template used")
            except InvalidReply as e:
                problem = Problem(c.key, "model", c.key, f"invalid JSON: {e}; template used")
            except (TutorError, TimeoutError, OSError) as e:  # TutorError: also a model that failed to load
                problem = Problem(c.key, "model", c.key,
                                  f"{type(e).__name__} after {self.cfg.retries} attempts: {e}; template used")
        pair = Pair(key=c.key, chunk_id=c.chunk_id, doc_id=c.doc_id, kind=c.kind, focus=c.focus,
                    question=question, answer=c.answer, difficulty=c.difficulty, generated_by=by,
                    sentence=c.sentence)
        return pair, problem
