"""Training examples: rows -> chat-formatted token ids with the prompt masked, then packed or length-grouped rows.

Owns: reading a task's rows (the interview bank through tutor.features.interview_bank; tutor rows from the
Q&A pipeline's export, training/data/qa/qa-<run>-vN.jsonl, through training/tutor_rows.py), the split,
applying the model's own chat template, masking the prompt so the loss covers only the answer tokens (and
the end-of-turn token, so the adapter learns to stop), and the three ways of batching that the pipeline and
its benchmark compare:

- packed: examples concatenated into rows of ``pack_len`` tokens by first-fit-decreasing; position ids
  restart at 0 for each example and no attention mask is passed, so transformers builds a block-diagonal
  causal mask (masking_utils.find_packed_sequence_indices) and no token attends across examples;
- grouped: one example per row, rows of similar length batched together, padded to the batch's longest;
- naive (benchmark baseline only): one example per row, every row padded to the longest example.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, Sequence

from training.tutor_rows import from_qa_row, is_qa_row
from tutor.features.interview_bank import RowProblem, interview_messages, load_bank, split_of
from tutor.types import Message

if TYPE_CHECKING:
    from training.config import DataConfig

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label value the loss skips (torch CrossEntropyLoss ignore_index)
Split = Literal["train", "validation", "test"]
TUTOR_FIELDS = ("id", "question", "answer", "context", "source")
NoteLookup = Callable[[], Mapping[str, str]]  # () -> chunk id -> note text (built only when a row needs it)


@dataclass(frozen=True)
class Example:
    """One prompt -> answer pair, before tokenization."""
    id: str
    messages: tuple[Message, ...]  # system + user; the answer is the assistant turn
    answer: str
    key_points: tuple[str, ...] = ()
    question: str = ""


@dataclass(frozen=True)
class Dataset:
    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]
    problems: tuple[RowProblem, ...]


@dataclass(frozen=True)
class Tokenized:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    prompt_len: int
    truncated: bool = False


class DataError(ValueError):
    """The data folder gives nothing to train on; the message says why."""


# ---------------------------------------------------------------- rows


def tutor_messages(question: str, notes: Sequence[str]) -> tuple[Message, ...]:
    """The grounded-tutor prompt exactly as the app builds it (tutor/prompting.py): the system prompt with
    the numbered course notes, then the question."""
    from tutor.prompting import grounded_system_prompt

    return (Message("system", grounded_system_prompt(notes)), Message("user", question.strip()))


def row_notes(row: dict[str, Any]) -> list[str]:
    """A row's notes: "notes" (several notes, e.g. the app's retrieved top-k for the question), or the single
    "context" (the source note)."""
    notes = row.get("notes")
    if isinstance(notes, list) and notes and all(isinstance(n, str) and n.strip() for n in notes):
        return [n.strip() for n in notes]
    return [row["context"].strip()]


def jsonl_files(path: Path) -> list[Path]:
    """`data.path` is one *.jsonl file (a versioned export) or a folder of them."""
    path = Path(path)
    return [path] if path.is_file() else sorted(path.glob("*.jsonl"))


def _tutor_row(row: Any, notes: Callable[[], Mapping[str, str]]) -> dict[str, Any] | str:
    """A usable tutor row, or why not. Q&A export rows get their note from the knowledge base."""
    if not isinstance(row, dict):
        return "expected a JSON object"
    if is_qa_row(row):
        return from_qa_row(row, notes())
    missing = [k for k in TUTOR_FIELDS if not isinstance(row.get(k), str) or not row[k].strip()]
    if missing:
        return f"missing or empty field{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    return row


def load_tutor_rows(path: Path, notes: NoteLookup | None = None) -> tuple[list[tuple[dict[str, Any], str]],
                                                                       list[RowProblem]]:
    """(row, split) pairs from a *.jsonl file or folder, and the rows that were unusable.

    Rows are the Q&A pipeline's export (question, answer, source_chunk_id, kind: the note is looked up by
    `notes`, which maps the app's chunk ids to note text) or self-contained rows (question, answer, context)."""
    rows: list[tuple[dict[str, Any], str]] = []
    problems: list[RowProblem] = []
    cache: dict[str, Mapping[str, str]] = {}

    def lookup() -> Mapping[str, str]:
        if "notes" not in cache:
            if notes is None:
                raise DataError("Q&A export rows name their source chunk: the knowledge base is needed to read them.")
            cache["notes"] = notes()
        return cache["notes"]

    for file in jsonl_files(path):
        for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(RowProblem(str(file), n, f"not valid JSON ({e.msg} at column {e.colno})"))
                continue
            row = _tutor_row(raw, lookup)
            if isinstance(row, str):
                problems.append(RowProblem(str(file), n, row))
                continue
            rows.append((row, split_of(row["question"])))
    return rows, problems


def load_dataset(task: str, folder: Path, notes: NoteLookup | None = None) -> Dataset:
    """Examples of `task` from `folder` (a folder, or for tutor also one *.jsonl file), split 70/15/15 by the
    question hash. Bad rows are reported, not fatal. `notes`: chunk id -> note, for Q&A export rows."""
    folder = Path(folder)
    splits: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
    if task == "interview":
        bank = load_bank(folder)
        problems = list(bank.problems)
        for q in bank.questions:
            splits[split_of(q.question)].append(
                Example(q.id, interview_messages(q.question), q.answer, q.key_points, q.question))
    elif task == "tutor":
        rows, problems = load_tutor_rows(folder, notes)
        for row, split in rows:
            kp = tuple(p for p in row.get("key_points", []) if isinstance(p, str) and p.strip())
            splits[split].append(Example(row["id"], tutor_messages(row["question"], row_notes(row)),
                                         row["answer"].strip(), kp, row["question"]))
    else:
        raise DataError(f"Unknown task {task!r}; use interview or tutor.")
    for p in problems:
        logger.warning("skipped dataset row %s", p)
    ds = Dataset(tuple(splits["train"]), tuple(splits["validation"]), tuple(splits["test"]), tuple(problems))
    if not ds.train:
        detail = f" ({len(problems)} bad rows, first: {problems[0]})" if problems else ""
        raise DataError(f"No usable training rows in {folder}{detail}.")
    if not ds.validation:
        raise DataError(f"The validation split of {folder} is empty: add rows (the split is 70/15/15 by question).")
    return ds


# ---------------------------------------------------------------- tokenization


def tokenize_example(tokenizer: Any, ex: Example, max_seq_len: int) -> Tokenized | None:
    """Prompt and answer rendered by the tokenizer's chat template; labels = IGNORE_INDEX over the prompt.

    The completion is the template's text after the generation prompt (answer + end-of-turn), tokenized
    separately and appended, so the prompt/answer boundary is exact whatever the tokenizer merges.
    Too long: the answer is cut at the end; None when the prompt alone leaves no room for an answer.
    """
    msgs = [{"role": m.role, "content": m.content} for m in ex.messages]
    prompt = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(msgs + [{"role": "assistant", "content": ex.answer}], tokenize=False)
    if not full.startswith(prompt):
        raise DataError("The tokenizer's chat template renders the prompt differently with and without the answer; "
                        "cannot mask the prompt.")
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    if len(p_ids) + 8 > max_seq_len:
        return None
    truncated = len(p_ids) + len(c_ids) > max_seq_len
    c_ids = c_ids[: max_seq_len - len(p_ids)]
    ids = tuple(p_ids) + tuple(c_ids)
    labels = (IGNORE_INDEX,) * len(p_ids) + tuple(c_ids)
    return Tokenized(ids, labels, len(p_ids), truncated)


def tokenize_all(tokenizer: Any, examples: Sequence[Example], max_seq_len: int) -> list[Tokenized]:
    out, dropped, cut = [], 0, 0
    for ex in examples:
        t = tokenize_example(tokenizer, ex, max_seq_len)
        if t is None:
            dropped += 1
            logger.warning("example %s dropped: its prompt alone is longer than data.max_seq_len=%d",
                           ex.id, max_seq_len)
            continue
        cut += t.truncated
        out.append(t)
    if cut:
        logger.warning("%d examples longer than data.max_seq_len=%d had their answer cut", cut, max_seq_len)
    return out


# ---------------------------------------------------------------- batching


@dataclass(frozen=True)
class Row:
    """One training row: one example, or several packed (position ids restart per example)."""
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    position_ids: tuple[int, ...]
    num_examples: int


def single_rows(items: Iterable[Tokenized]) -> list[Row]:
    return [Row(t.input_ids, t.labels, tuple(range(len(t.input_ids))), 1) for t in items]


def pack_rows(items: Sequence[Tokenized], pack_len: int) -> list[Row]:
    """First-fit-decreasing bin packing into rows of at most pack_len tokens (deterministic)."""
    order = sorted(range(len(items)), key=lambda i: (-len(items[i].input_ids), i))
    bins: list[list[int]] = []
    room: list[int] = []
    for i in order:
        n = len(items[i].input_ids)
        for b, free in enumerate(room):
            if n <= free:
                bins[b].append(i)
                room[b] -= n
                break
        else:
            bins.append([i])
            room.append(pack_len - n)
    rows = []
    for b in bins:
        ids: list[int] = []
        labels: list[int] = []
        pos: list[int] = []
        for i in b:
            t = items[i]
            ids += t.input_ids
            labels += t.labels
            pos += range(len(t.input_ids))
        rows.append(Row(tuple(ids), tuple(labels), tuple(pos), len(b)))
    return rows


class RowDataset:
    """A torch-style map dataset over Rows (no `datasets` dependency)."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows = list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        r = self.rows[i]
        return {"input_ids": r.input_ids, "labels": r.labels, "position_ids": r.position_ids,
                "num_examples": r.num_examples}


@dataclass(frozen=True)
class Collator:
    """Rows -> tensors. `pad_to` = None pads to the batch's longest row; an int pads every row to it.

    Packed rows (or a batch of one) need no padding: they are passed without attention_mask so
    transformers derives the block-diagonal mask from position_ids. Padded batches get a right-padded
    attention mask and position ids 0..n-1 per row.
    """
    pad_id: int
    pad_to: int | None = None
    flatten: bool = False  # packed mode: a batch of several rows becomes one long row (no padding, no leak)

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        if self.flatten and len(batch) > 1:
            batch = [{
                "input_ids": tuple(x for b in batch for x in b["input_ids"]),
                "labels": tuple(x for b in batch for x in b["labels"]),
                "position_ids": tuple(x for b in batch for x in b["position_ids"]),
                "num_examples": sum(b["num_examples"] for b in batch),
            }]
        longest = max(len(b["input_ids"]) for b in batch)
        width = max(longest, self.pad_to or 0)
        needs_pad = any(len(b["input_ids"]) != width for b in batch)
        ids, labels, pos, mask = [], [], [], []
        for b in batch:
            n = len(b["input_ids"])
            pad = width - n
            ids.append(list(b["input_ids"]) + [self.pad_id] * pad)
            labels.append(list(b["labels"]) + [IGNORE_INDEX] * pad)
            # a padded tail continues the position count, so it never looks like a new packed sequence
            last = b["position_ids"][-1]
            pos.append(list(b["position_ids"]) + list(range(last + 1, last + 1 + pad)))
            mask.append([1] * n + [0] * pad)
        out = {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "position_ids": torch.tensor(pos, dtype=torch.long),
            "num_examples": torch.tensor([b["num_examples"] for b in batch], dtype=torch.long),
            # transformers builds the packed (block-diagonal) mask only without a KV cache: LlamaModel makes a
            # DynamicCache whenever use_cache is on (the default, even in training), and with a cache the
            # packed rows would attend across examples (tests/training/test_data.py checks this)
            "use_cache": False,
        }
        if needs_pad:
            if any(b["num_examples"] > 1 for b in batch):
                raise ValueError("packed rows of different lengths cannot be padded into one batch")
            out["attention_mask"] = torch.tensor(mask, dtype=torch.long)
        return out


def build_rows(items: Sequence[Tokenized], mode: Literal["packed", "grouped", "naive"], pack_len: int) -> list[Row]:
    if mode == "packed":
        return pack_rows(items, pack_len)
    return single_rows(items)


def count_tokens(rows: Sequence[Row]) -> tuple[int, int]:
    """(all tokens, answer tokens) in rows."""
    total = sum(len(r.input_ids) for r in rows)
    answer = sum(sum(1 for x in r.labels if x != IGNORE_INDEX) for r in rows)
    return total, answer


@dataclass(frozen=True)
class TrainRows:
    """One run's tokenized data as the Trainer gets it."""

    mode: str  # how training rows are built: packed | grouped | naive
    train_rows: list[Row]
    val_rows: list[Row]
    pad_to: int | None  # naive: every row padded to the longest example
    train_examples: int
    validation_examples: int


def prepare_rows(tokenizer: Any, ds: Dataset, data_cfg: DataConfig, mode: str | None = None) -> TrainRows:
    """Tokenize both splits and build rows; `mode` overrides the config's (the benchmark's "naive" baseline).
    Validation rows are always built the configured way, so every mode is scored on the same rows."""
    mode = mode or ("packed" if data_cfg.packing else "grouped")
    train_tok = tokenize_all(tokenizer, ds.train, data_cfg.max_seq_len)
    val_tok = tokenize_all(tokenizer, ds.validation, data_cfg.max_seq_len)
    train_rows = build_rows(train_tok, mode, data_cfg.pack_len)
    val_rows = build_rows(val_tok, "packed" if data_cfg.packing else "grouped", data_cfg.pack_len)
    pad_to = max(len(t.input_ids) for t in train_tok) if mode == "naive" else None
    tokens, answer_tokens = count_tokens(train_rows)
    logger.info("%d train examples -> %d %s rows (%d tokens, %d answer tokens); %d validation examples",
                len(train_tok), len(train_rows), mode, tokens, answer_tokens, len(val_tok))
    return TrainRows(mode, train_rows, val_rows, pad_to, len(train_tok), len(val_tok))
