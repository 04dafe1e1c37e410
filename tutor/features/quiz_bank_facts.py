"""What a bank record asks, parsed into a fact a quiz item can be built from: the course's own
sentence, the part of it a question hides, and the stem with that part blanked.

The bank's questions are open questions whose stem often repeats the answer (the pipeline keeps the
source's words on purpose). A quiz needs one right option among wrong ones of the same type, so each
kind hides one thing of its sentence:
- definition: the defined term ("A ____ measures how fast ...") -> a term;
- why / compare: the clause after the reason or comparison word ("..., because ____") -> a clause;
- apply: the blanked value of the worked step -> a number, plain arithmetic or a symbolic expression;
- true_false: nothing; the statement (the corrected one for a false item) is the source quote.
A record that does not parse gives None and is skipped; pure functions, no model, no chunk needed.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from tutor.features import quiz_checks as checks
from tutor.features.quiz_bank import BankRecord

BLANK = checks.BLANK
_DETERMINERS = {"a", "an", "the", "each", "every"}
# The verb that follows a defined term in "X is/are/measures ..." (the pipeline's definition sentences).
_DEF_VERBS = {"is", "are", "means", "refers", "describes", "measures", "denotes", "represents", "equals", "counts",
              "gives", "returns", "says", "tells", "holds", "stores", "maps", "splits", "finds", "computes"}
_TERM = re.compile(r"[A-Za-z][A-Za-z\-]*(?: [A-Za-z][A-Za-z\-]*)*")
# Words that open the clause a why / compare question hides, best first; then plain punctuation.
_CONNECTORS = {
    "why": (" because ", " so that ", ", so ", " since ", ", which is why ", ", therefore ", ", which means "),
    "compare": (", whereas ", " whereas ", ", while ", " rather than ", " instead of ", " than ", ", but ",
                " unlike ", " versus ", " compared with "),
}
_PUNCTUATION = (": ", "; ", ", ")
_CONJUNCTIONS = ("and ", "or ", "but ")
# A tail that opens with a verb was cut between a subject and its verb ("The RMSE, sqrt(MSE), | is in the
# same units ..."): not a clause a learner can match to a head.
_VERB_START = {"is", "are", "was", "were", "has", "have", "had", "can", "could", "will", "would", "does", "do",
               "did", "makes", "gives", "means", "uses", "needs"}
_VERB_AFTER_COMMA = re.compile(r", (?:" + "|".join(sorted(_VERB_START)) + r")\b", re.IGNORECASE)
_FULL = re.compile(r"^(?P<value>.+?) \(full statement: (?P<sentence>.+)\)$", re.DOTALL)
_NUMBER = re.compile(r"[-+]?\$?\d[\d,]*(?:\.\d+)?\s*(?:%|[A-Za-z]{1,12})?")
_MIN_CLAUSE_WORDS, _MAX_CLAUSE_WORDS = 4, 30
_GLUE = {"is", "are", "the", "a", "an", "of", "and", "or", "to", "for", "so", "when"}  # prose, not a formula


@dataclass(frozen=True)
class BankFact:
    record: BankRecord
    sentence: str  # the course's own sentence: the item's source quote
    answer: str  # the right option ("True"/"False" for true_false)
    prompt: str  # the sentence with the answer blanked (the statement itself for true_false)
    slot: str  # what type the answer is, so distractors match it: term | why | compare | number | arithmetic |
    # symbolic | tf
    cue: str = ""  # finer type within a slot, preferred for distractors: the connector word of a clause
    # ("because", "than"), the unit or form of a number ("%", "decimal")

    @property
    def kind(self) -> str:
        return self.record.kind

    @property
    def doc_id(self) -> str:
        return self.record.doc_id


def parse(record: BankRecord) -> BankFact | None:
    """The record as a fact, or None when its answer cannot be hidden cleanly."""
    if record.kind == "definition":
        return _definition(record)
    if record.kind in _CONNECTORS:
        return _clause(record)
    if record.kind == "apply":
        return _apply(record)
    if record.kind == "true_false":
        return _true_false(record)
    return None


def defined_term(question: str, definition: str) -> str | None:
    """The term a definition sentence defines: its first 1-4 words (after a determiner) that the question
    names and that a defining verb follows ("The ROC-AUC is ..." -> "ROC-AUC")."""
    words = definition.split()
    start = 1 if words and words[0].lower() in _DETERMINERS else 0
    best = None
    for end in range(start + 1, min(start + 4, len(words) - 1) + 1):
        phrase = " ".join(words[start:end])
        if not _TERM.fullmatch(phrase):
            break
        if checks.contains_phrase(question, phrase) and words[end].lower().strip(",:;") in _DEF_VERBS:
            best = phrase
    return best if best and len(best) >= 3 else None


def blank_term(sentence: str, term: str) -> str:
    """Every whole-word use of the term (and its plural) blanked; "A"/"An" before it would hint at its first
    letter, so it reads "A(n)"."""
    pattern = re.compile(r"(?<![\w-])" + re.escape(term) + r"(?:e?s)?(?![\w-])", re.IGNORECASE)
    out = pattern.sub(BLANK, sentence)
    return re.sub(r"\b([Aa])n? (?=" + re.escape(BLANK) + ")", r"\1(n) ", out)


def first_item(text: str) -> str:
    """The text up to a following list item (" - Assuming ..."): the pipeline's sentence splitter sometimes
    runs two bullet points together."""
    return re.split(r" - (?=[A-Z])", text, maxsplit=1)[0].strip()


def _definition(record: BankRecord) -> BankFact | None:
    sentence = first_item(record.answer)
    term = defined_term(record.question, sentence)
    if term is None:
        return None
    return BankFact(record, sentence, term, blank_term(sentence, term), "term")


def _split_at(body: str, i: int, sep: str) -> tuple[str, str, str] | None:
    head, tail = body[:i + len(sep)].rstrip(), body[i + len(sep):].strip()
    cue = sep.strip(" ,;:").lower()
    if not cue:  # punctuation: a leading "and" belongs to the head, a leading verb means a bad cut
        for conj in _CONJUNCTIONS:
            if tail.lower().startswith(conj):
                head, tail, cue = f"{head} {tail[:len(conj) - 1]}", tail[len(conj):], conj.strip()
        first = tail.split()[0].lower() if tail.split() else ""
        if not first or first in _VERB_START or _VERB_AFTER_COMMA.search(tail):
            return None  # cut inside the subject: the tail holds the sentence's main verb
    ok = len(head.split()) >= _MIN_CLAUSE_WORDS and _MIN_CLAUSE_WORDS <= len(tail.split()) <= _MAX_CLAUSE_WORDS
    return (head, tail, cue) if ok and _prose(head) and _prose(tail) else None


def _prose(text: str) -> bool:
    """Mostly words: a run of numbers ("3 < 27, 9 < 27, then 27, 38") reads as a puzzle, not a clause."""
    return sum(ch.isalpha() or ch == " " for ch in text) / max(1, len(text)) >= 0.8


def split_clause(sentence: str, kind: str) -> tuple[str, str, str] | None:
    """(head ending with its connector, hidden tail, connector word): the split at this kind's connector
    nearest the middle, else at punctuation; both sides at least 4 words."""
    body = sentence.strip().rstrip(".")
    for seps in (_CONNECTORS.get(kind, ()), _PUNCTUATION):
        splits: list[tuple[str, str, str]] = []
        for sep in seps:
            i = body.find(sep)
            while i != -1:
                made = _split_at(body, i, sep)
                if made:
                    splits.append(made)
                i = body.find(sep, i + 1)
        if splits:
            middle = len(body) / 2
            return min(splits, key=lambda s: abs(len(s[0]) - middle))
    return None


def _clause(record: BankRecord) -> BankFact | None:
    sentence = first_item(record.answer)
    made = split_clause(sentence, record.kind)
    if made is None:
        return None
    head, tail, cue = made
    return BankFact(record, sentence, tail, f"{head} {BLANK}", record.kind, cue)


def value_slot(value: str) -> tuple[str, str] | None:
    """(slot, cue) of a worked example's value: a number (cue: its unit, or "decimal"/"integer"), plain
    arithmetic ("60 / 950"), or a symbolic expression ("X w"); None for prose (the pipeline sometimes
    blanks a whole right-hand side: "0 is the decision boundary")."""
    v = value.strip()
    if _NUMBER.fullmatch(v):
        unit = re.sub(r"[-+$\d,.\s]", "", v)
        return "number", unit or ("decimal" if "." in v else "integer")
    if not re.search(r"[A-Za-z]", v):
        return "arithmetic", ""
    words = v.lower().split()
    if sum(len(w) > 3 and w.isalpha() for w in words) > 1 or len(words) > 8 or _GLUE & set(words):
        return None
    return "symbolic", ""


def balanced(text: str) -> bool:
    return all(text.count(a) == text.count(b) for a, b in ("()", "[]", "{}"))


def _apply(record: BankRecord) -> BankFact | None:
    m = _FULL.match(record.answer)
    if not m:
        return None
    value, sentence = m.group("value").strip(), m.group("sentence").strip()
    if not balanced(value) or value not in sentence:
        return None
    prompt = None
    for i in [0] + [k + 2 for k in range(len(record.question)) if record.question.startswith(": ", k)]:
        tail = record.question[i:].strip()
        if BLANK[:4] in tail and tail.replace("____", value, 1) == sentence:
            prompt = tail.replace("____", BLANK, 1)
            break
    if prompt is None:  # the pipeline's blank not found in its question: blank the last use of the value
        k = sentence.rfind(value)
        prompt = sentence[:k] + BLANK + sentence[k + len(value):]
    slot = value_slot(value)
    if slot is None or not balanced(prompt.replace(BLANK, "")):
        return None
    return BankFact(record, sentence, value, prompt, *slot)


def _true_false(record: BankRecord) -> BankFact | None:
    text = record.answer
    if text.startswith("True. "):
        sentence = text[len("True. "):].strip()
        return BankFact(record, sentence, "True", sentence, "tf")
    prefix = "False. Corrected statement: "
    if not text.startswith(prefix):
        return None
    sentence = text[len(prefix):].strip()
    # The false statement is the question after its template's ":" or "?": the tail closest to the
    # corrected one (a focus with its own ":" would otherwise cut the statement short).
    tails = [record.question[m.end():].strip() for m in re.finditer(r"[:?] ", record.question)]
    tails = [t for t in tails if t and checks.norm(t) != checks.norm(sentence)]
    if not tails:
        return None
    statement = max(tails, key=lambda t: difflib.SequenceMatcher(None, t, sentence).ratio())
    return BankFact(record, sentence, "False", statement, "tf")
