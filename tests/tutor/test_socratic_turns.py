"""Socratic turns through Tutor.ask (scripted backend, hash embedder, real Chroma and SQLite): the hint names
the concept and quotes the course's rule without its worked result; the follow-up checks the learner's
attempt against the course before the explanation; answers are bounded and end at a sentence end."""
from tutor import prompting
from tutor.backends.fake import FakeBackend
from tutor.retrieval import HashEmbedder
from tutor.service import build_tutor
from tutor.socratic import CHECK_LABEL, HINT_LABEL
from tutor.types import Answer, Message

from tests.tutor.test_service import make_cfg

SIGMOID = ("---\ntitle: Sigmoid\nsubject: Calculus\nlevel: beginner\n---\n# Sigmoid\n\n## The sigmoid derivative\n"
           "The derivative of the sigmoid is sigma(x) * (1 - sigma(x)), which follows from the chain rule. "
           "The sigmoid derivative is largest at x = 0, where it equals 0.5 * 0.5 = 0.25.\n")


def tutor_with_sigmoid(tmp_path):
    cfg = make_cfg(tmp_path)
    (cfg.paths.knowledge_base_dir / "calculus" / "sigmoid.md").write_text(SIGMOID)
    t = build_tutor(cfg, backend=FakeBackend(), embedder=HashEmbedder())
    assert t.warm_up().ready
    return t


def answer(t, q, **kw) -> Answer:
    return list(t.ask(q, **kw))[-1]


def test_hint_names_the_concept_without_the_worked_result(tmp_path):
    t = tutor_with_sigmoid(tmp_path)
    t.backend.enqueue(["Use the identity for the sigmoid derivative [1]."])
    hint = answer(t, "What is the sigmoid derivative at x = 0?", socratic=True)
    assert hint.text.startswith(HINT_LABEL) and "*The sigmoid derivative*" in hint.text
    assert "sigma(x) * (1 - sigma(x))" in hint.text and "0.25" not in hint.text
    system = t.backend.requests[-1].messages[0].content
    assert "0.25" not in system  # the model is not handed the result either


def test_follow_up_checks_the_attempt_against_the_course_first(tmp_path):
    t = tutor_with_sigmoid(tmp_path)
    problem = "What is the sigmoid derivative at x = 0?"
    history = (Message("user", problem), Message("assistant", "Hint: use the identity."))
    t.backend.enqueue(["Right: sigma(0) is 0.5, so the derivative is 0.25 [1]."])
    full = answer(t, "is it 0.25, using sigma(x) * (1 - sigma(x))?", history=history, socratic=True)
    assert full.text.startswith(CHECK_LABEL)
    check = full.text.split("\n\n", 1)[0]
    assert "*sigmoid*" in check or "*derivative*" in check
    assert "0.25" in check and "also appears in the course text" in check
    assert full.text.index(CHECK_LABEL) < full.text.index("**From the course") < full.text.index("Right:")
    assert "has now tried" in t.backend.requests[-1].messages[0].content


def test_explanations_are_bounded_and_end_at_a_sentence(tmp_path):
    t = tutor_with_sigmoid(tmp_path)
    long = ("The chain rule handles a function inside another function. You differentiate the outer part first "
            "and keep the inner part unchanged. Then you multiply by the derivative of the inner part. This works "
            "for any depth of nesting, one layer at a time. Backpropagation applies it through every layer of a "
            "network. Each layer contributes its local derivative to the product. Deep networks therefore multiply "
            "many small factors together. That product can shrink towards zero in long chains.")
    t.backend.enqueue([long])
    ans = answer(t, "What does the chain rule say?")
    params = t.backend.requests[-1].params
    assert params.stop_after_words == prompting.GROUNDED_WORDS and params.repetition_context
    written = ans.completion.text
    assert prompting.GROUNDED_WORDS <= len(written.split()) < prompting.GROUNDED_WORDS + 15
    assert written.rstrip().endswith(".") and ans.completion.finish_reason == "stop"
    assert len(written) < len(long) and prompting.REPETITION_NOTE not in ans.text
