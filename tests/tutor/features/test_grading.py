import dataclasses

import numpy as np

from tutor.features.grading import grade, score_markdown, score_quiz, short_answer_score
from tutor.features.schemas import QuizItem

ITEM = QuizItem(item_id="a", kind="mcq", question="Q?", options=("heap", "stack", "queue", "tree"), answer="queue",
                explanation="The course says: “BFS uses a queue.” (source: Graphs › BFS)", chunk_id="g.md::1:x",
                doc_id="g.md", topic="Graphs", section="BFS", subject="DSA", difficulty="beginner",
                source_quote="BFS uses a queue.")


class VecEmbedder:
    """Maps known strings to fixed vectors: similarity is what the test says it is."""

    def __init__(self, table):
        self.table = table

    def embed(self, texts):
        return np.array([self.table[t] for t in texts], dtype=np.float32)


def test_mcq_by_text_or_letter_with_explanation_and_source():
    g = grade(ITEM, "queue")
    assert g.correct and g.score == 1.0 and "Graphs › BFS" in g.feedback
    assert grade(ITEM, "C").correct  # third option
    bad = grade(ITEM, "heap")
    assert not bad.correct and "**queue**" in bad.feedback


def test_short_answer_rubric():
    sa = dataclasses.replace(ITEM, kind="short_answer", options=(), answer="gradient descent")
    assert grade(sa, "It's Gradient-Descent!").correct
    assert not grade(sa, "").correct
    emb = VecEmbedder({"steepest descent": [1, 0.2], "gradient descent": [1, 0], "a cat": [0, 1]})
    assert short_answer_score("steepest descent", "gradient descent", emb) > 0.9
    assert grade(sa, "steepest descent", emb, threshold=0.5).correct
    assert not grade(sa, "a cat", emb, threshold=0.5).correct


def test_score_with_topic_breakdown_counts_unanswered_as_wrong():
    other = dataclasses.replace(ITEM, item_id="b", topic="Sorting")
    third = dataclasses.replace(ITEM, item_id="c", topic="Sorting")
    s = score_quiz([ITEM, other, third], {"a": True, "b": False})
    assert (s.total, s.answered, s.correct) == (3, 2, 1)
    assert {(t.topic, t.answered, t.correct) for t in s.by_topic} == {("Graphs", 1, 1), ("Sorting", 1, 0)}
    assert "1 / 3" in score_markdown(s) and "not answered" in score_markdown(s)
