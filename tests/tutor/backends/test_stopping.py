"""Stop strings over a stream of pieces: pure, no model needed."""
from __future__ import annotations

import pytest

from tutor.backends.stopping import StopScanner, find_stop, partial_stop_len


def run(pieces, stops):
    sc = StopScanner(stops)
    shown = []
    for p in pieces:
        out, stopped = sc.feed(p)
        shown.append(out)
        if stopped:
            break
    shown.append(sc.flush())
    return shown, sc


def test_no_stops_passes_everything_through():
    shown, sc = run(["a", "b c", ""], ())
    assert "".join(shown) == sc.text == "ab c" and not sc.stopped


def test_stop_inside_one_piece():
    shown, sc = run(["Answer: 4\nQuestion: next"], ("\nQuestion:",))
    assert "".join(shown) == sc.text == "Answer: 4" and sc.stopped


def test_stop_across_pieces_is_never_shown_in_part():
    shown, sc = run(["Hello <|im", "_e", "nd|> tail"], ("<|im_end|>",))
    assert shown[0] == "Hello " and shown[1] == ""
    assert sc.text == "Hello " and sc.stopped


def test_held_back_prefix_is_released_when_it_does_not_complete():
    shown, sc = run(["x END", "ING is fine"], ("END.",))
    assert shown[0] == "x " and "".join(shown) == "x ENDING is fine" == sc.text


def test_held_back_tail_is_released_at_flush():
    shown, sc = run(["result EN"], ("END",))
    assert shown == ["result ", "EN"] and sc.text == "result EN" and not sc.stopped


def test_earliest_of_several_stops_wins():
    shown, sc = run(["one TWO three ONE"], ("ONE", "TWO"))
    assert sc.text == "one "


def test_stop_at_the_very_start_gives_empty_text():
    shown, sc = run(["STOP", "more"], ("STOP",))
    assert sc.text == "" and sc.stopped


def test_empty_stop_strings_are_ignored():
    shown, sc = run(["abc"], ("",))
    assert sc.text == "abc"


def test_feed_after_stop_returns_nothing():
    sc = StopScanner(("x",))
    assert sc.feed("axb") == ("a", True)
    assert sc.feed("more") == ("", True) and sc.flush() == "" and sc.text == "a"


@pytest.mark.parametrize("text,stops,expected", [
    ("abc", ("cde",), 1), ("abcd", ("cde",), 2), ("abc", ("xyz",), 0), ("ab", ("abc", "b"), 2),
    ("", ("abc",), 0), ("abc", ("abc",), 0),  # a whole stop string is found, not held
])
def test_partial_stop_len(text, stops, expected):
    assert partial_stop_len(text, stops) == expected


def test_find_stop():
    assert find_stop("a STOP b END", ("END", "STOP")) == 2
    assert find_stop("a STOP", ("STOP",), start=3) == -1
    assert find_stop("nothing", ("x",)) == -1
