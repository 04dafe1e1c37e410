"""How a spoken answer was delivered: speaking pace and filler words, with advice an interviewer would give.

Pure logic over a multimodal Transcript (word timestamps); the interview tab shows the result beside the
transcribed answer. The rubric score never depends on it: delivery is coaching, not content.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tutor.features.multimodal.results import Transcript

# Words per minute. Conversational English runs at roughly 120-160; an answer much slower than 100 sounds
# hesitant, one over 170 is hard to follow when the content is technical.
SLOW_BELOW = 100.0
FAST_ABOVE = 170.0
# Fillers per 100 words above which they start to distract.
FILLERS_PER_100_MAX = 3.0
# Too little speech to judge a pace from (a single sentence, or a test click on the microphone).
MIN_WORDS = 12
MIN_SPEAKING_S = 5.0


@dataclass(frozen=True)
class Delivery:
    words: int
    speaking_s: float
    words_per_minute: float
    fillers: tuple[str, ...]  # the filler words as said, in order

    @property
    def fillers_per_100_words(self) -> float:
        return 100.0 * len(self.fillers) / self.words if self.words else 0.0

    @property
    def enough_to_judge(self) -> bool:
        return self.words >= MIN_WORDS and self.speaking_s >= MIN_SPEAKING_S


@dataclass(frozen=True)
class SpokenAnswer:
    """What the interview tab's voice hook returns: the text for the answer box and how it was said."""
    text: str
    delivery: Delivery


def delivery_of(t: Transcript) -> Delivery:
    return Delivery(words=len(t.words), speaking_s=round(t.speaking_s, 2),
                    words_per_minute=round(t.words_per_minute, 1),
                    fillers=tuple(w.text.strip(" ,.!?").lower() for w in t.fillers()))


def spoken_answer(t: Transcript) -> SpokenAnswer:
    return SpokenAnswer(t.text, delivery_of(t))


def pace_advice(wpm: float) -> str:
    if wpm < SLOW_BELOW:
        return "slow: fine while you think, but keep pauses short and lead with the main idea"
    if wpm > FAST_ABOVE:
        return "fast: slow down so the interviewer can follow the technical steps"
    return "a comfortable pace"


def delivery_markdown(d: Delivery) -> str:
    """One short paragraph for the tab. Whisper tends to drop "um" and "uh" from its transcripts, so the
    filler count is a lower bound, and the text says so."""
    if not d.enough_to_judge:
        return (f"**Delivery:** {d.words} word(s) in {d.speaking_s:.0f} s — too short to judge pace; "
                "record a full answer for feedback on pace and filler words.")
    lines = [f"**Delivery:** {d.words_per_minute:.0f} words/min over {d.speaking_s:.0f} s — "
             f"{pace_advice(d.words_per_minute)}."]
    if d.fillers:
        counts = ", ".join(f"“{w}” ×{n}" for w, n in Counter(d.fillers).most_common())
        rate = d.fillers_per_100_words
        verdict = ("more than the listener will ignore; a silent pause reads better than a filler"
                   if rate > FILLERS_PER_100_MAX else "few enough not to distract")
        lines.append(f"Filler words: {counts} ({rate:.1f} per 100 words) — {verdict}.")
    else:
        lines.append("No filler words heard.")
    lines.append("_(Speech recognition often leaves out “um” and “uh”, so fillers may be undercounted.)_")
    return "  \n".join(lines)
