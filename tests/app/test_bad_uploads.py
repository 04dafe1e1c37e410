"""Bad uploads through the UI handlers (issue 14, part 5): every file in the table is refused or handled
with a sentence, and nothing else is lost: the index, its manifest and the knowledge-base folder are
unchanged, and the other documents are still found."""
from __future__ import annotations

import gradio as gr
import pytest

from app.tabs import library
from app.tabs import multimodal as tab
from tests.tutor.bad_uploads import AUDIO_CASES, DOCUMENT_CASES, IMAGE_CASES, BadFile, make
from tests.tutor.features.fakes import fake_engines
from tests.tutor.test_service import make_cfg
from tutor.backends.fake import FakeBackend
from tutor.features.multimodal import MediaService
from tutor.retrieval import HashEmbedder
from tutor.services import build_services


@pytest.fixture
def services(tmp_path):
    cfg = make_cfg(tmp_path)
    cfg = cfg.replace(server=cfg.server.replace(admin_user="teach", admin_password="pw"))
    s = build_services(cfg, backend=FakeBackend(), embedder=HashEmbedder(), engines=fake_engines())
    assert s.tutor.warm_up().ready
    return s


def index_state(tutor) -> tuple:
    """What must not change when an upload is refused: chunk count, manifest, the files of the folder."""
    ing = tutor.ingestor
    files = sorted(p.relative_to(ing.kb_dir).as_posix() for p in ing.kb_dir.rglob("*") if p.is_file())
    return ing.store.count(), ing.manifest_path.read_text(), tuple(files)


def still_answers(tutor) -> bool:
    return any("chain" in h.chunk.text.lower() for h in tutor.retrieve("chain rule derivative").hits)


@pytest.mark.parametrize("case", AUDIO_CASES, ids=lambda c: c.id)
def test_bad_recording(services, tmp_path, case: BadFile):
    tutor = services.tutor
    media = MediaService(tutor.cfg, fake_engines())
    before = index_state(tutor)
    question, info = tab.transcribe_audio(media, str(make(case, tmp_path / "up")), "ann")
    assert case.expect in info
    assert "Traceback" not in info and "Something went wrong" not in info
    if case.refused:
        assert question == gr.skip(), "a refused recording leaves the learner's question box alone"
    else:
        assert question == "What does the chain rule say?"
    assert index_state(tutor) == before and still_answers(tutor)


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda c: c.id)
def test_bad_image(services, tmp_path, case: BadFile):
    tutor = services.tutor
    ocr = fake_engines().ocr
    media = MediaService(tutor.cfg, fake_engines(ocr=ocr))
    before = index_state(tutor)
    text, caption, info = tab.read_image(media, str(make(case, tmp_path / "up")), "ann")
    assert case.expect in info and (text, caption) == ("", "")
    assert ocr.calls == 0, "a refused image never reaches the OCR model"
    assert index_state(tutor) == before and still_answers(tutor)


@pytest.mark.parametrize("case", DOCUMENT_CASES, ids=lambda c: c.id)
def test_bad_document_upload(services, tmp_path, case: BadFile):
    tutor = services.tutor
    before = index_state(tutor)
    good = tmp_path / "up" / "heaps.md"
    good.parent.mkdir(parents=True)
    good.write_text("# Heaps\n\nA binary heap keeps the smallest item on top.\n")
    bad = make(case, tmp_path / "up")
    out = library.add_documents(tutor, services.users, [str(bad)], "teach", "pw")
    assert f"**Skipped** `{case.name}`" in out and case.expect in out
    assert index_state(tutor) == before and still_answers(tutor)
    # In one upload with a good file: the good one is added, the bad one still refused.
    out = library.add_documents(tutor, services.users, [str(bad), str(good)], "teach", "pw")
    assert "Added" in out and "uploads/heaps.md" in out and case.expect in out
    assert tutor.retrieve("binary heap smallest item").hits[0].chunk.title == "Heaps" and still_answers(tutor)


def test_voice_and_photo_are_named_for_programs(services):
    """bench/soak.py drives them through gradio_client; the learner id stays server-side state."""
    from app import main as app_main

    api = app_main.build_app(services).get_api_info()["named_endpoints"]
    assert [p["parameter_name"] for p in api["/transcribe"]["parameters"]] == ["p"]
    assert len(api["/read_image"]["parameters"]) == 1 and len(api["/ask_with_media"]["parameters"]) == 3
