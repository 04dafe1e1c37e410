"""Captions on a tiny BLIP built from a config and saved to a folder (the real loading path), and the
"no caption model configured" state."""

import pytest
from PIL import Image

from tutor.config import AppConfig, MediaConfig
from tutor.errors import ModelLoadError
from tutor.features.multimodal.caption import NOT_CONFIGURED, Captioner

WORDS = "a the graph of function curve line plot diagram with axis point red blue".split()


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory):
    import torch
    from transformers import (BertTokenizerFast, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor,
                              BlipProcessor)

    out = tmp_path_factory.mktemp("tiny-blip")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True)
    tok.bos_token = "[CLS]"
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    torch.manual_seed(0)
    config = BlipConfig(
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=16),
        text_config=dict(vocab_size=len(WORDS) + 5, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, encoder_hidden_size=16, max_position_embeddings=64,
                         bos_token_id=2, sep_token_id=3, pad_token_id=0, eos_token_id=3),
        projection_dim=16,
    )
    BlipForConditionalGeneration(config).save_pretrained(out)
    processor.save_pretrained(out)
    return out


def test_tiny_blip_captions_an_image_deterministically(tiny_blip):
    cap = Captioner(str(tiny_blip))
    red = Image.new("RGB", (64, 48), (220, 20, 20))
    first = cap.caption(red)
    assert isinstance(first, str) and first.strip()
    assert set(first.split()) <= set(WORDS), first  # words of the tiny vocabulary only
    assert cap.caption(red) == first, "greedy captions are deterministic"
    assert cap.load() == 0.0, "loaded once"


def test_missing_caption_model_is_a_clear_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="SMARTLEARN_MEDIA_CAPTION_MODEL"):
        Captioner(str(tmp_path / "no-such-model")).load()


def test_not_configured_is_a_normal_state(tmp_path):
    from tests.tutor.test_service import make_cfg
    from tutor.backends.fake import FakeBackend
    from tutor.features.multimodal.service import make_engines
    from tutor.retrieval import HashEmbedder
    from tutor.services import build_services

    cfg = AppConfig()
    assert cfg.media.caption_model == "" and make_engines(cfg).captioner is None
    assert "SMARTLEARN_MEDIA_CAPTION_MODEL" in NOT_CONFIGURED
    with_model = make_cfg(tmp_path).replace(media=MediaConfig(caption_model="/some/blip"))
    services = build_services(with_model, backend=FakeBackend(), embedder=HashEmbedder())
    captioner = services.media.engines.captioner
    assert captioner is not None and not captioner._loaded.loaded  # created by the composition root, not loaded
