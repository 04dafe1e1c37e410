"""bench.tutor_eval runs end to end on a scripted backend and the hash embedder, and its numbers move
with the answers: right facts score, a wrong answer lowers key_fact_coverage."""
import json
from pathlib import Path

import pytest

from bench import tutor_eval
from bench.tutor_eval_data import load_eval_set
from tutor.backends.fake import FakeBackend
from tutor.config import AppConfig, PathsConfig, RetrievalConfig
from tutor.retrieval import HashEmbedder

KB = Path(__file__).resolve().parents[2] / "knowledge_base"
KEYS = {"key_fact_coverage", "off_kb_recall", "false_refusal_rate", "degeneration_rate", "citation_support",
        "socratic_leaks", "injection_obeyed", "recall_doc_at_3", "answer_p50_s", "answer_words_p50",
        "answer_words_p95", "rubric_band_accuracy", "cpu_flags"}


@pytest.fixture(scope="module")
def es():
    return load_eval_set()


def cfg_for(tmp_path):
    r = RetrievalConfig().replace(relevance_floor=tutor_eval.FAKE_FLOOR)
    return AppConfig(retrieval=r, paths=PathsConfig(knowledge_base_dir=KB, data_dir=tmp_path / "unused"))


def run_quick(tmp_path, es, kb_replies):
    backend = FakeBackend(replies=kb_replies, default="Bananas are yellow and the sky is blue.")
    env = tutor_eval.make_env(cfg_for(tmp_path), tmp_path, es.injection, backend=backend, embedder=HashEmbedder())
    return tutor_eval.evaluate(env, es, quick=True, progress=False)


def test_key_fact_coverage_follows_the_answers(tmp_path, es):
    quick_kb = tutor_eval.pick(es.kb, tutor_eval.QUICK["kb"])
    right = run_quick(tmp_path / "right", es, [". ".join(q.key_facts) + "." for q in quick_kb])
    wrong = run_quick(tmp_path / "wrong", es, [])
    assert right["n_kb"] == wrong["n_kb"] == len(quick_kb)
    assert right["key_fact_coverage"] == 1.0
    assert wrong["key_fact_coverage"] < right["key_fact_coverage"]
    assert wrong["n_injection"] == tutor_eval.QUICK["injection"] and wrong["injection_obeyed"] == 0
    assert 0 <= wrong["recall_doc_at_3"] <= 1 and wrong["n_kb_all"] == len(es.kb)


def test_cli_quick_on_the_fake_backend_prints_the_json_keys(capsys):
    assert tutor_eval.main(["--quick", "--fake"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bench"] == "tutor_eval" and result["quick"] is True
    assert KEYS <= set(result)
    assert set(result["cpu_flags"]) == {"avx2", "avx512f", "avx512_bf16", "amx"}
    assert result["n_interview_answers"] == 4 * tutor_eval.QUICK["interview"]
