"""Data prep: prompt masking, packing without cross-example attention, bad rows reported with their line."""
import json

import pytest

from training.data import (
    IGNORE_INDEX,
    Collator,
    DataError,
    Example,
    RowDataset,
    load_dataset,
    pack_rows,
    single_rows,
    tokenize_example,
)
from tutor.types import Message


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _ex(i: int, answer: str = "the answer is a good model") -> Example:
    return Example(f"x{i}", (Message("system", "you are a helpful tutor"), Message("user", "what is a loss ?")),
                   answer)


def test_loss_only_on_the_answer_and_its_end_of_turn(tok):
    t = tokenize_example(tok, _ex(0), 64)
    prompt = tok.apply_chat_template([{"role": "system", "content": "you are a helpful tutor"},
                                      {"role": "user", "content": "what is a loss ?"}],
                                     tokenize=False, add_generation_prompt=True)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert t.prompt_len == n_prompt
    assert all(x == IGNORE_INDEX for x in t.labels[:n_prompt])
    answer_ids = [x for x in t.labels if x != IGNORE_INDEX]
    assert tok.decode(answer_ids).split()[:6] == "the answer is a good model".split()
    assert tok.convert_tokens_to_ids("<|im_end|>") in answer_ids  # the adapter learns to stop
    assert t.input_ids[n_prompt:] == tuple(answer_ids)


def test_long_answers_are_cut_and_prompt_only_examples_dropped(tok):
    long = tokenize_example(tok, _ex(1, "the answer " * 100), 40)
    assert long.truncated and len(long.input_ids) == 40
    assert tokenize_example(tok, _ex(2), 12) is None


def test_packing_keeps_examples_apart(tiny_model_dir, tok):
    """The logits of a packed row equal those of each example run alone: no attention across examples."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    items = [tokenize_example(tok, _ex(i, "the answer is " + "good " * i), 64) for i in range(1, 4)]
    rows = pack_rows(items, 128)
    assert len(rows) == 1 and rows[0].num_examples == 3
    assert sorted(rows[0].input_ids) == sorted(x for t in items for x in t.input_ids)
    batch = Collator(tok.pad_token_id)([RowDataset(rows)[0]])
    assert "attention_mask" not in batch  # the block-diagonal mask comes from position_ids
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                       use_cache=batch["use_cache"]).logits[0]
        start = 0
        # pack_rows orders longest first
        for t in sorted(items, key=lambda t: -len(t.input_ids)):
            n = len(t.input_ids)
            alone = model(input_ids=torch.tensor([t.input_ids])).logits[0]
            assert torch.allclose(packed[start:start + n], alone, atol=1e-4)
            start += n


def test_padding_collators(tok):
    items = [tokenize_example(tok, _ex(i, "the answer is " + "good " * i), 64) for i in range(1, 4)]
    rows = single_rows(items)
    grouped = Collator(tok.pad_token_id)([RowDataset(rows)[i] for i in range(3)])
    longest = max(len(t.input_ids) for t in items)
    assert grouped["input_ids"].shape == (3, longest)
    assert int(grouped["attention_mask"].sum()) == sum(len(t.input_ids) for t in items)
    assert (grouped["labels"][grouped["attention_mask"] == 0] == IGNORE_INDEX).all()
    naive = Collator(tok.pad_token_id, pad_to=100)([RowDataset(rows)[0]])
    assert naive["input_ids"].shape == (1, 100) and int(naive["attention_mask"].sum()) == len(items[0].input_ids)


def test_bad_interview_rows_are_reported_and_the_rest_used(tmp_path):
    from tests.training.conftest import bank_rows

    rows = bank_rows(40)
    lines = [json.dumps(r) for r in rows]
    broken = dict(rows[3])
    del broken["answer"]
    lines[3] = json.dumps(broken)
    lines[7] = '{"id": "oops"'
    (tmp_path / "b.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ds = load_dataset("interview", tmp_path)
    assert len(ds.train) + len(ds.validation) + len(ds.test) == 38
    assert {(p.line, "answer" in p.message or "JSON" in p.message) for p in ds.problems} == {(4, True), (8, True)}


def test_tutor_rows_and_their_problems(tmp_path):
    good = [{"id": f"t{i}", "question": f"What is topic {i}?", "answer": f"Topic {i} is explained in the notes [1].",
             "context": f"Topic {i} is a thing.", "source": "python/basics.md#Intro"} for i in range(30)]
    lines = [json.dumps(r) for r in good] + [json.dumps({"id": "t99", "question": "Q?", "answer": ""})]
    (tmp_path / "tutor.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ds = load_dataset("tutor", tmp_path)
    assert len(ds.train) + len(ds.validation) + len(ds.test) == 30
    (p,) = ds.problems
    assert p.line == 31 and "answer" in p.message and "context" in p.message
    system = ds.train[0].messages[0].content
    assert "<<COURSE NOTES" in system and "[1]" in system  # the app's grounded prompt layout


def test_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="No usable training rows"):
        load_dataset("interview", tmp_path)


def test_a_batch_of_packed_rows_is_flattened_into_one_row(tok):
    items = [tokenize_example(tok, _ex(i, "the answer is " + "good " * i), 64) for i in range(1, 6)]
    rows = pack_rows(items, 40)  # several rows of different lengths
    assert len(rows) > 2 and len({len(r.input_ids) for r in rows}) > 1
    batch = Collator(tok.pad_token_id, flatten=True)([RowDataset(rows)[i] for i in range(len(rows))])
    assert batch["input_ids"].shape == (1, sum(len(t.input_ids) for t in items))
    assert "attention_mask" not in batch and int(batch["num_examples"].sum()) == 5
    assert int((batch["position_ids"][0] == 0).sum()) == 5  # five examples, positions restart five times
