"""OCR line assembly (pure): split boxes of one printed line are joined, lines stay in order even when
a photo is taken at an angle. The engine itself runs in tests/integration/test_multimodal.py."""
import math

from tutor.features.multimodal.ocr import reading_order
from tutor.features.multimodal.results import OcrLine


def box(x, y, w, h, angle_deg=0.0):
    """Corners (top-left, top-right, bottom-right, bottom-left) of a w×h box at (x, y), rotated."""
    a = math.radians(angle_deg)
    pts = [(0, 0), (w, 0), (w, h), (0, h)]
    return tuple((x + px * math.cos(a) - py * math.sin(a), y + px * math.sin(a) + py * math.cos(a)) for px, py in pts)


def test_boxes_of_one_line_are_joined_left_to_right():
    pieces = [OcrLine("Solve for x:", 0.99, box(10, 10, 200, 30)), OcrLine("3x + 5 = 20", 0.95, box(230, 12, 180, 30)),
              OcrLine("Show your working.", 0.98, box(10, 60, 300, 30))]
    lines = reading_order(pieces)
    assert [ln.text for ln in lines] == ["Solve for x: 3x + 5 = 20", "Show your working."]
    assert lines[0].score == 0.95  # the weakest piece


def test_lines_of_a_tilted_photo_are_not_merged():
    # 8° tilt: each 900 px wide box spans ~155 px vertically, more than the 50 px line pitch.
    pieces = [OcrLine("Find the derivative of f(x) = sin(x^2)", 0.99, box(20, 20, 900, 32, 8)),
              OcrLine("using the chain rule.", 0.99, box(13, 70, 500, 32, 8))]
    assert [ln.text for ln in reading_order(pieces)] == [p.text for p in pieces]


def test_no_pieces():
    assert reading_order([]) == ()
