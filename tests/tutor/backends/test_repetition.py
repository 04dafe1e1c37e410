"""The repetition guard (tutor/backends/repetition.py) and StopScanner(guard=True), on real course text."""
from __future__ import annotations

import pytest

from tutor.backends.repetition import clean_cut, find_degeneration
from tutor.backends.stopping import StopScanner

# knowledge_base/calculus/derivatives.md
KB = ("A derivative measures how fast a function's output changes when its input changes by a tiny amount. "
      "In machine learning, derivatives tell a model which direction to adjust its parameters so that the loss "
      "goes down, so the derivative is the single most important idea from calculus for training models. ")
LOOP = "The derivative of the loss is the derivative of the loss is the derivative of the loss is the"

CASES = [
    # (text, expected reason or None)
    (KB, None),
    (KB + "It uses limits [1]. The chain rule covers compositions [2][3].", None),
    (KB + "```\nx = x - lr * grad\nx = x - lr * grad\nx = x - lr * grad\n```\n", None),  # code repeats on purpose
    (KB + "| a | b |\n|---|---|\n", None),  # a markdown table rule is not a punctuation run
    (KB + LOOP, "repeated n-gram"),
    (KB + "The limit is the slope [1] [1] of the tangent.", "repeated markers"),
    (KB + "It is important [1][2][3][1] to know.", "repeated markers"),
    (KB + "Derivatives are great!!!!!!", "punctuation run"),
    (KB + "Limits make the derivative well defined. Limits make the derivative well defined.", "repeated sentence"),
]


@pytest.mark.parametrize("text,reason", CASES)
def test_find_degeneration_table(text, reason):
    d = find_degeneration(text)
    assert (d.reason if d else None) == reason
    if d:
        assert d.cut >= len(KB) - 1  # the course sentences before the loop are kept


def test_clean_cut_ends_on_a_whole_sentence_after_what_was_shown():
    text = KB + LOOP
    d = find_degeneration(text)
    end = clean_cut(text, d.cut)
    assert text[:end].rstrip().endswith(".")
    assert clean_cut(text, d.cut, floor=len(text) - 5) == len(text) - 5  # never takes back shown text


def feed_words(scanner: StopScanner, text: str) -> tuple[str, bool]:
    shown, stopped = [], False
    for i, w in enumerate(text.split(" ")):
        out, stopped = scanner.feed(w if i == 0 else " " + w)
        shown.append(out)
        if stopped:
            break
    if not stopped:
        shown.append(scanner.flush())
    return "".join(shown), stopped


@pytest.mark.parametrize("text,reason", CASES)
def test_scanner_with_guard_stops_cleanly(text, reason):
    sc = StopScanner((), guard=True)
    shown, stopped = feed_words(sc, text)
    assert sc.degenerate == reason and stopped == (reason is not None)
    assert shown == sc.text
    if reason is None:
        assert shown == text
    else:
        assert find_degeneration(shown) is None  # what the learner saw does not loop
        assert shown.startswith(KB.rstrip())


def test_scanner_guard_endless_loop_stops_early():
    sc = StopScanner((), guard=True)
    shown, stopped = feed_words(sc, KB + " ".join(["the gradient of the loss"] * 200))
    assert stopped and sc.degenerate == "repeated n-gram"
    assert len(shown) < len(KB) + 120


def test_scanner_without_guard_is_unchanged():
    sc = StopScanner((), guard=False)
    shown, stopped = feed_words(sc, KB + LOOP)
    assert not stopped and sc.degenerate is None and shown == KB + LOOP


def test_stop_string_still_wins_and_guard_respects_it():
    sc = StopScanner(("\n\n",), guard=True)
    shown, stopped = feed_words(sc, KB + "\n\n" + LOOP)
    assert stopped and sc.degenerate is None and shown == KB


# The quoted extract the learner already sees (knowledge_base/calculus/derivatives.md).
EXTRACT = ("The derivative of f at x is the limit of the slope of secant lines as h goes to 0. "
           "Geometrically, it is the slope of the tangent line to the graph of f at x.")

CONTEXT_CASES = [
    # (model text after the extract, cut reason or None)
    ("It tells how steep the function is at one point [1].", None),
    ("The derivative of f at x is the limit of the slope of secant lines as h goes to 0 [1].", "repeated sentence"),
    ("In short, it is the slope of the tangent line, the slope of the tangent line.", "repeated n-gram"),
]


@pytest.mark.parametrize("text,reason", CONTEXT_CASES)
def test_guard_counts_what_the_extract_already_said(text, reason):
    d = find_degeneration(text, context=EXTRACT)
    assert (d.reason if d else None) == reason
    assert find_degeneration(text) is None  # alone, each of these reads as a clean answer
    sc = StopScanner((), guard=True, context=EXTRACT)
    shown, stopped = feed_words(sc, text)
    # mid-stream the n-gram check may see a copied sentence before it ends: either way it is cut
    assert stopped == (reason is not None) and bool(sc.degenerate) == (reason is not None)
    assert find_degeneration(shown, context=EXTRACT) is None


SOFT_CASES = [
    # (words budget, text, shown)
    (8, KB, KB.split(". ")[0] + "."),  # ends at the first sentence end after 8 words
    (20, KB, KB),  # the budget falls in the second sentence: it is finished
    (0, KB, KB),  # off
    (5, "```\nx = 1. y = 2. z = 3.\n``` Done here now.", "```\nx = 1. y = 2. z = 3.\n``` Done here now."),
    # a code block that opens past the budget ends the answer before it (it held no sentence end, so the
    # answer ran to the token limit); a lead-in "...:" goes with it
    (10, "Await pauses a coroutine until its result is ready. This allows more code:\n```python\nimport asyncio\n"
         "async def f():\n    await g()\n", "Await pauses a coroutine until its result is ready."),
    (10, "Await pauses a coroutine until its result is ready. Then it runs on\n```python\nx = 1\n",
     "Await pauses a coroutine until its result is ready. Then it runs on"),
]


@pytest.mark.parametrize("words,text,shown", SOFT_CASES)
def test_soft_length_ends_at_a_sentence_end(words, text, shown):
    sc = StopScanner((), guard=True, soft_words=words)
    got, stopped = feed_words(sc, text)
    assert got.strip() == shown.strip()
    assert sc.degenerate is None
    if got.strip() != text.strip():
        assert stopped


def test_a_copy_of_the_extract_is_held_back_and_never_shown_in_part():
    sc = StopScanner((), guard=True, context=EXTRACT)
    copy = "The derivative of f at x is the limit of the slope of secant lines as h goes to 0. It is steep."
    shown, stopped = feed_words(sc, copy)
    assert stopped and shown == "" and sc.degenerate
    sc = StopScanner((), guard=True, context=EXTRACT)
    own = "The derivative of f tells how steep f is there. It is a rate."
    shown, stopped = feed_words(sc, own)
    assert not stopped and shown == own  # it started like the extract, then said something else


def test_an_answer_long_in_code_ends_at_a_line_end_with_its_block_closed():
    # a block opened before the soft length never holds a sentence end; it ran to the token limit
    prose = "Await pauses a coroutine until the awaited task is done, so other tasks run meanwhile:\n"
    code = "```python\n" + "".join(f"    await asyncio.sleep({i})  # step {i} waits here\n" for i in range(40))
    sc = StopScanner((), guard=True, soft_words=45)
    shown, stopped = feed_words(sc, prose + code)
    assert stopped and sc.degenerate is None
    assert shown.startswith(prose) and shown.endswith("\n```\n") and shown.count("```") == 2
    assert len(shown) < len(prose + code)  # it ended well before the code did
    body = shown[len(prose):].splitlines()[1:-1]
    assert body and all(line.startswith("    await asyncio.sleep(") for line in body)  # whole lines only
    # the same words in prose still end at a sentence end, not at a line end
    words = ("Await pauses a coroutine until the awaited task is done. Meanwhile the event loop runs other "
             "tasks that are ready.\nA coroutine is defined with async def and returns a coroutine object when "
             "called. Nothing runs until the loop schedules it, for example with asyncio.run or create_task.\n"
             "Tasks wrap coroutines so several can make progress while each one waits on input or output, and "
             "gather collects their results in order. Blocking calls such as time.sleep stall every task at "
             "once.\nUse asyncio.sleep instead.")
    sc = StopScanner((), guard=True, soft_words=45)
    shown, stopped = feed_words(sc, words)
    assert stopped and shown.rstrip().endswith(".") and "```" not in shown
