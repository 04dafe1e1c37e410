"""Tiny, offline models for tests (the trl `generate_tiny_models.py` recipe, without the hub).

`build_tiny_llama(dir)` saves a 2-layer Llama with a word-level tokenizer and a ChatML chat
template to a folder, so the backends' real loading path (a local folder) is what tests exercise.
`build_lora_adapter(model_dir, out_dir, seed)` saves a peft LoRA with non-zero B weights, so it
really changes the logits. Both are deterministic for a given seed and take well under a second.

Decoding the word-level tokenizer joins tokens with single spaces, so generated text looks like
"plan step rate the".
"""
from __future__ import annotations

import warnings
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
WORDS = (
    "system user assistant you are a helpful tutor the is of and to in what how why when which "
    "answer question quiz plan study week day step learn learning rate gradient descent model data "
    "loss function value math python code list loop test error example because so it this that "
    "not yes no true false first second third next end good bad big small fast slow "
    "0 1 2 3 4 5 6 7 8 9 + - = . , ? ! : ; [ ] ( )"
).split()
VOCAB: list[str] = SPECIAL_TOKENS + WORDS


def build_tokenizer():
    """A word-level PreTrainedTokenizerFast over VOCAB with the ChatML template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_llama(dir: str | Path, *, seed: int = 0, allow_special_output: bool = False,
                     hidden_size: int = 16) -> Path:
    """Save a tiny random Llama + tokenizer to `dir` and return it.

    By default the saved generation config suppresses the special tokens (so generation always
    runs to max_new_tokens with visible words); `allow_special_output=True` lets the model emit
    <|im_end|> (eos) like a real chat model. `hidden_size` lets a test build a model that an
    adapter of the default one does not fit.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    ids = {t: VOCAB.index(t) for t in SPECIAL_TOKENS}
    config = LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        # a larger init than the default 0.02 gives peaked logits, so greedy text varies by prompt
        initializer_range=0.5,
        bos_token_id=ids["<|im_start|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<pad>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    gen = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    if not allow_special_output:
        gen.suppress_tokens = sorted(ids.values())
    model.generation_config = gen
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_lora_adapter(model_dir: str | Path, out_dir: str | Path, seed: int = 1, *, rank: int = 4) -> Path:
    """Save a peft LoRA adapter for the tiny Llama in `model_dir` to `out_dir` and return it.

    `init_lora_weights=False` draws random A *and* B, so the adapter changes the logits (the
    default init has B = 0, a no-op).
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    cfg = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():  # peft 0.21 calls a method transformers 5.x deprecated
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
        peft_model = get_peft_model(base, cfg)
    out = Path(out_dir)
    peft_model.save_pretrained(out)
    return out
