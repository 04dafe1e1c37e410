"""Base model vs adapter on the test split: perplexity of the reference answers, and rubric key-point
coverage of generated answers.

Perplexity is exp(mean NLL) over the answer tokens only (prompt masked, the same tokenization as
training), token-weighted over the whole split. Coverage uses tutor.features.rubric.score_answer on
greedy answers (the app's repetition penalty) with the embedded MiniLM embedder; the base model is the
same peft model with the adapter disabled, so both sides share weights, prompts and decoding.
"""
from __future__ import annotations

import json
import logging
import math
import statistics
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from training.config import TrainConfig
from training.data import IGNORE_INDEX, Example, load_dataset, tokenize_all
from training.wiring import TrainingParts

logger = logging.getLogger(__name__)

REPETITION_PENALTY = 1.15  # the app's default (tutor/config.py GenerationConfig), so answers look like the app's


@dataclass(frozen=True)
class SideScores:
    perplexity: float
    coverage: float | None  # mean share of key points covered (0-1); None when generation was off
    score: float | None  # mean rubric score 0-10
    answer_words: float | None


@dataclass(frozen=True)
class Evaluation:
    split: str
    questions: int
    generated: int
    base: SideScores
    adapter: SideScores
    scorer: str  # how coverage was measured
    wall_s: float
    samples: tuple[dict[str, Any], ...]  # a few side-by-side answers for the model card

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def perplexity(model: Any, tokenizer: Any, examples: Sequence[Example], max_seq_len: int, device: str) -> float:
    import torch

    total_nll, total_tokens = 0.0, 0
    model.eval()
    with torch.no_grad():
        for t in tokenize_all(tokenizer, examples, max_seq_len):
            ids = torch.tensor([t.input_ids], device=device)
            labels = torch.tensor([t.labels], device=device)
            logits = model(input_ids=ids).logits[:, :-1].float()
            target = labels[:, 1:]
            nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                    ignore_index=IGNORE_INDEX, reduction="sum")
            total_nll += float(nll)
            total_tokens += int((target != IGNORE_INDEX).sum())
    return math.exp(total_nll / max(total_tokens, 1))


def generate_answers(model: Any, tokenizer: Any, examples: Sequence[Example], max_new_tokens: int,
                     batch_size: int, device: str, progress: Callable[[int], None] | None = None) -> list[str]:
    """Greedy answers, `batch_size` prompts at a time (left padded)."""
    import torch

    eos = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>",) if t in tokenizer.get_vocab()]
    eos = eos or [tokenizer.eos_token_id]
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    out: list[str] = []
    try:
        for s in range(0, len(examples), batch_size):
            chunk = examples[s:s + batch_size]
            prompts = [tokenizer.apply_chat_template([{"role": m.role, "content": m.content} for m in ex.messages],
                                                     tokenize=False, add_generation_prompt=True) for ex in chunk]
            enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                     repetition_penalty=REPETITION_PENALTY, eos_token_id=eos,
                                     pad_token_id=tokenizer.pad_token_id)
            for row in gen[:, enc["input_ids"].shape[1]:]:
                out.append(tokenizer.decode(row, skip_special_tokens=True).strip())
            if progress:
                progress(len(chunk))
    finally:
        tokenizer.padding_side = old_side
    return out


def _embedder(embedding_model: str) -> tuple[Callable[[list[str]], Any] | None, str]:
    try:
        from tutor.retrieval import make_embedder

        emb = make_embedder(embedding_model)
        emb.embed(["warm up"])
        return emb.embed, f"semantic ({emb.name})"
    except Exception as e:  # noqa: BLE001 - fall back to the rubric's lexical matcher, and say so
        logger.warning("embedder unavailable (%s); rubric coverage uses the lexical fallback", e)
        return None, "lexical fallback"


def evaluate(cfg: TrainConfig, adapter_dir: Path, split: str = "test", *, parts: TrainingParts,
             max_questions: int | None = None, generate: bool | None = None) -> Evaluation:
    """Base vs adapter on `split`; run.threads applies here too (restored afterwards). `parts` come from
    training.wiring.build_parts (the model cache and the rubric's embedder)."""
    import torch

    threads = torch.get_num_threads()
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    try:
        return _evaluate(cfg, adapter_dir, split, parts, max_questions=max_questions, generate=generate)
    finally:
        torch.set_num_threads(threads)


def _evaluate(cfg: TrainConfig, adapter_dir: Path, split: str, parts: TrainingParts, *,
              max_questions: int | None, generate: bool | None) -> Evaluation:
    import torch
    from peft import PeftModel
    from tqdm import tqdm

    from training.model import load_base
    from training.placement import choose_placement

    t0 = time.perf_counter()
    ds = load_dataset(cfg.data.task, cfg.data_dir, parts.source_notes)
    examples = list(getattr(ds, split))
    if not examples:
        raise ValueError(f"the {split} split is empty")
    n = cfg.eval.max_questions if max_questions is None else max_questions
    gen_examples = examples[:n] if n else examples
    do_generate = cfg.eval.generate if generate is None else generate
    placement = choose_placement(cfg)
    device = placement.device
    model, tokenizer, _ = load_base(cfg.base_model, parts.model_cache_dir)
    if placement.precision == "bf16":
        model = model.to(torch.bfloat16)
    elif placement.precision == "fp16":
        model = model.to(torch.float16)
    with warnings.catch_warnings():  # peft 0.21 calls a method transformers 5.x deprecated
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
        model = PeftModel.from_pretrained(model, str(adapter_dir)).to(device)
    model.eval()

    logger.info("perplexity on %d %s answers (base, adapter)", len(examples), split)
    with model.disable_adapter():
        base_ppl = perplexity(model, tokenizer, examples, cfg.data.max_seq_len, device)
    adapter_ppl = perplexity(model, tokenizer, examples, cfg.data.max_seq_len, device)

    base_side = SideScores(round(base_ppl, 3), None, None, None)
    adapter_side = SideScores(round(adapter_ppl, 3), None, None, None)
    samples: list[dict[str, Any]] = []
    scorer = "off"
    scored = [ex for ex in gen_examples if ex.key_points]
    if do_generate and scored:
        from tutor.features.rubric import score_answer

        embed, scorer = _embedder(parts.embedding_model)
        bar = tqdm(total=2 * len(scored), desc="generating answers", unit="answer")
        with model.disable_adapter():
            base_ans = generate_answers(model, tokenizer, scored, cfg.eval.max_new_tokens, cfg.eval.batch_size,
                                        device, bar.update)
        ad_ans = generate_answers(model, tokenizer, scored, cfg.eval.max_new_tokens, cfg.eval.batch_size, device,
                                  bar.update)
        bar.close()

        def side(ppl: float, answers: list[str]) -> tuple[SideScores, list[Any]]:
            scores = [score_answer(a, ex.key_points, embed) for a, ex in zip(answers, scored)]
            return SideScores(round(ppl, 3), round(statistics.fmean(s.coverage for s in scores), 4),
                              round(statistics.fmean(s.score for s in scores), 3),
                              round(statistics.fmean(len(a.split()) for a in answers), 1)), scores

        base_side, base_scores = side(base_ppl, base_ans)
        adapter_side, ad_scores = side(adapter_ppl, ad_ans)
        for ex, b, a, bs, as_ in list(zip(scored, base_ans, ad_ans, base_scores, ad_scores))[:3]:
            samples.append({"id": ex.id, "question": ex.question, "base": b, "adapter": a,
                            "base_coverage": bs.coverage, "adapter_coverage": as_.coverage})
    ev = Evaluation(split=split, questions=len(examples), generated=len(scored) if do_generate else 0,
                    base=base_side, adapter=adapter_side, scorer=scorer,
                    wall_s=round(time.perf_counter() - t0, 1), samples=tuple(samples))
    logger.info("eval %s: perplexity base %.2f -> adapter %.2f; coverage base %s -> adapter %s", cfg.name,
                base_side.perplexity, adapter_side.perplexity, base_side.coverage, adapter_side.coverage)
    return ev


def load_evaluation(path: Path) -> Evaluation | None:
    if not path.is_file():
        return None
    d = json.loads(path.read_text(encoding="utf-8"))
    d["base"], d["adapter"] = SideScores(**d["base"]), SideScores(**d["adapter"])
    d["samples"] = tuple(d.get("samples", ()))
    return Evaluation(**d)
