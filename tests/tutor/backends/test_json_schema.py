"""JSON-schema-constrained decoding: a random tiny model (byte-level BPE, so it can spell JSON) still
writes JSON that validates, through the real TransformersBackend; the fake and mlx backends' rules."""
from __future__ import annotations

import json

import pytest

from tests.tiny_models import CHAT_TEMPLATE
from tutor.backends.base import generate
from tutor.backends.fake import FakeBackend
from tutor.backends.hf import TransformersBackend
from tutor.backends.json_schema import parse
from tutor.errors import BackendUnavailable, GenerationError
from tutor.features.schemas import QUESTION_SCHEMA, WEEK_SCHEMA
from tutor.types import GenerationParams, GenerationRequest, Message

from .conftest import model_cfg

SPECIAL = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
CORPUS = ["What is the chain rule? It multiplies derivatives.", '{"question": "Why?", "theme": "Week one"}',
          "Gradient descent takes a step against the gradient.", "Binary search halves the interval."] * 20


def build_byte_level_llama(out, seed):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                   bos_token="<|im_start|>", eos_token="<|im_end|>")
    fast.chat_template = CHAT_TEMPLATE
    ids = {t: tok.token_to_id(t) for t in SPECIAL}
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                      initializer_range=0.5, bos_token_id=ids["<|im_start|>"], eos_token_id=ids["<|im_end|>"],
                      pad_token_id=ids["<pad>"], tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    model.generation_config = GenerationConfig(bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id,
                                               pad_token_id=cfg.pad_token_id)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def byte_models(tmp_path_factory):
    return [build_byte_level_llama(tmp_path_factory.mktemp("bl0"), 0)]


def request(schema, max_new_tokens=160, temperature=0.0, seed=None):
    return GenerationRequest(
        messages=(Message("user", "Write a quiz question as JSON."),),
        params=GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed),
        json_schema=schema,
    )


@pytest.mark.parametrize("schema, settings", [
    (QUESTION_SCHEMA, ((0.0, None), (1.0, 7))), (WEEK_SCHEMA, ((0.0, None),))], ids=["question", "week"])
def test_random_model_output_always_validates(byte_models, tmp_path, schema, settings):
    for i, model_dir in enumerate(byte_models):
        backend = TransformersBackend(model_cfg(model_dir), tmp_path / "cache")
        for temperature, seed in settings:
            done = generate(backend, request(schema, temperature=temperature, seed=seed))
            value, why = parse(done.text, schema)
            assert why is None, f"model {i}: {done.text!r}: {why}"
            assert done.finish_reason == "stop"


def test_unconstrained_random_model_is_not_json(byte_models, tmp_path):
    backend = TransformersBackend(model_cfg(byte_models[0]), tmp_path / "cache")
    done = generate(backend, request(None, max_new_tokens=40))
    assert parse(done.text, QUESTION_SCHEMA)[1] is not None  # the constraint is what makes it valid


def test_bad_schema_is_a_generation_error(byte_models, tmp_path):
    backend = TransformersBackend(model_cfg(byte_models[0]), tmp_path / "cache")
    with pytest.raises(GenerationError, match="JSON schema"):
        generate(backend, request({"type": "object", "properties": {"a": {"type": "no-such-type"}}}))


def test_fake_backend_checks_scripted_replies_against_the_schema():
    fake = FakeBackend([json.dumps({"question": "What is a gradient?"}), "not json"])
    assert json.loads(generate(fake, request(QUESTION_SCHEMA)).text)["question"] == "What is a gradient?"
    with pytest.raises(GenerationError, match="does not match"):
        generate(fake, request(QUESTION_SCHEMA))
    lenient = FakeBackend(["not json"], strict_json=False)
    assert generate(lenient, request(QUESTION_SCHEMA)).text == "not json"


def test_mlx_says_constrained_decoding_is_not_available(tmp_path):
    from tutor.backends.mlx import MLXBackend

    backend = MLXBackend(model_cfg(tmp_path), tmp_path)
    with pytest.raises(BackendUnavailable, match="JSON-schema"):
        next(iter(backend.stream(request(QUESTION_SCHEMA))))
