"""Extractive candidates: each pair's answer is a sentence of its own section, its kind read off the sentence.

Kinds (first rule that matches): a definition ("X is a ..."), why/cause ("... because ..."), compare
("unlike", "whereas", "than"), apply/compute (a formula or a number worked out: asked as a cloze), else
true/false (the statement, or a falsified copy whose answer gives the corrected statement).
Question templates per kind start with different words, picked by a hash of the sentence, so no opener
dominates a run; the model may rephrase the first three kinds (training/qa/phrasing.py).
"""
from __future__ import annotations

import hashlib
import re

from tutor.retrieval.chunking import SECTION_SEP, split_sentences
from training.qa.records import Candidate, Section

_CODE = re.compile(r"```.*?(```|\Z)", re.DOTALL)
_DEFINITION = re.compile(
    r"^(?:An?|The)?\s*(?P<term>[A-Za-z][\w\-'()^ ]{1,60}?)\s+(?:is|are|means|refers to|is called|measures|describes)"
    r"\s+(?:a|an|the|how|what|one|any)\b")
_WHY = re.compile(r"\b(because|so that|since|which is why|this is why|in order to|therefore)\b", re.IGNORECASE)
_COMPARE = re.compile(r"\b(unlike|whereas|while|than|compared|instead of|differs?|versus)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_VERB = re.compile(r"\s(is|are|was|were|can|has|have|makes|uses|gives|tells|means|takes|returns|computes|"
                   r"measures|describes|adds|shows|holds|needs|keeps|works|lets|turns|equals|becomes|does)\s")
# Word swaps that turn a true statement false; the corrected statement is the original sentence.
_SWAPS = (("increases", "decreases"), ("decreases", "increases"), ("larger", "smaller"), ("smaller", "larger"),
          ("higher", "lower"), ("lower", "higher"), ("more", "fewer"), ("always", "never"), ("never", "always"),
          ("positive", "negative"), ("negative", "positive"), ("maximum", "minimum"), ("minimum", "maximum"),
          ("before", "after"), ("after", "before"), ("faster", "slower"), ("slower", "faster"), ("can", "cannot"),
          (" is ", " is not "), (" are ", " are not "))
DIFFICULTY = {"definition": "easy", "true_false": "easy", "why": "medium", "compare": "medium", "apply": "hard"}
# (template, opener) per kind; {focus}, {leaf}, {clause}, {statement}, {cloze} are filled in.
TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    "definition": (("What is {focus}, in the context of {leaf}?", "What"),
                   ("Define {focus} as it is used in {leaf}.", "Define"),
                   ("How would you describe {focus} when studying {leaf}?", "How"),
                   ("In {leaf}, what does the term {focus} refer to?", "In"),
                   ("Give a one-sentence definition of {focus} ({leaf}).", "Give")),
    "why": (("Why is it that {clause}?", "Why"), ("Explain the reason that {clause}.", "Explain"),
            ("For what reason does the course say that {clause}?", "For"),
            ("According to the notes on {leaf}, what causes this: {clause}?", "According"),
            ("State the reason behind this claim: {clause}.", "State")),
    "compare": (("How does the comparison go in this point about {focus}: {clause}?", "How"),
                ("Compare the two sides of this statement on {focus}: {clause}.", "Compare"),
                ("Which difference does the course draw about {focus} here: {clause}?", "Which"),
                ("Contrast what is being compared regarding {focus}: {clause}.", "Contrast"),
                ("Describe the comparison made about {focus}: {clause}.", "Describe")),
    "apply": (("Fill in the blank ({leaf}): {cloze}", "Fill"),
              ("Compute the missing value in {leaf}: {cloze}", "Compute"),
              ("Work out the blank in this example from {leaf}: {cloze}", "Work"),
              ("Calculate what goes in the blank ({leaf}): {cloze}", "Calculate"),
              ("Complete this worked step on {leaf}: {cloze}", "Complete")),
    "true_false": (("True or false: {statement}", "True"), ("Is this statement correct? {statement}", "Is"),
                   ("Decide whether this holds: {statement}", "Decide"),
                   ("Correct or incorrect: {statement}", "Correct"),
                   ("Judge this claim about {focus}: {statement}", "Judge"),
                   ("Does this agree with the course? {statement}", "Does")),
}


def _hash(*parts: str) -> int:
    return int(hashlib.sha1("|".join(parts).encode("utf-8")).hexdigest()[:8], 16)


MAX_SENTENCE_WORDS = 45  # longer sentences make questions past the length bound


def prose_sentences(text: str) -> list[str]:
    """The sentences of a section's prose (6-45 words): code blocks, tables, headings and list markers left out."""
    text = _CODE.sub("\n\n", text)
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in para.splitlines()
                 if ln.strip() and not ln.lstrip().startswith(("|", "#", ">"))]
        lines = [re.sub(r"^([-*+]|\d+[.)])\s+", "", ln) for ln in lines]
        if lines:
            paragraphs.append(" ".join(lines))
    return [s for p in paragraphs for s in split_sentences(p) if s.endswith((".", "!"))
            and 6 <= len(s.split()) <= MAX_SENTENCE_WORDS]


def classify(sentence: str) -> tuple[str, str | None]:
    """(kind, the defined term for a definition else None)."""
    m = _DEFINITION.match(sentence)
    if m and 1 <= len(m.group("term").split()) <= 5 and not m.group("term").lower().startswith(("this", "it ")):
        return "definition", m.group("term").strip()
    if _WHY.search(sentence):
        return "why", None
    if _COMPARE.search(sentence):
        return "compare", None
    if "=" in sentence or (len(_NUMBER.findall(sentence)) >= 2):
        return "apply", None
    return "true_false", None


def leaf_heading(section: Section) -> str:
    leaf = section.section.split(SECTION_SEP)[-1].strip() if section.section else ""
    return leaf or section.title


def subject_phrase(sentence: str) -> str:
    """The sentence's grammatical subject (words before its first common verb), the question's topic term."""
    m = _VERB.search(sentence)
    head = sentence[:m.start()] if m and m.start() > 0 else " ".join(sentence.split()[:4])
    words = head.strip(" ,.;:").split()
    if words and words[0].lower() in {"a", "an", "the", "this", "that", "these", "its", "in", "for"}:
        words = words[1:]
    return " ".join(words[:6]) or sentence.split()[0]


def falsify(sentence: str) -> str | None:
    """A copy of the sentence made false by one word swap, or None when no swap applies."""
    for old, new in _SWAPS:
        pat = re.compile(r"\b" + re.escape(old.strip()) + r"\b") if old.strip() == old else re.compile(re.escape(old))
        if pat.search(sentence):
            return pat.sub(new.strip() if old.strip() == old else new, sentence, count=1)
    return None


def cloze(sentence: str) -> tuple[str, str] | None:
    """(the sentence with its last number or right-hand side blanked, the blanked text) or None."""
    if "=" in sentence:
        left, _, right = sentence.rpartition("=")
        right_value = right.strip().rstrip(".")
        value = right_value.split(",")[0].split(" so ")[0].split(" and ")[0].strip()
        if value and len(value.split()) <= 6:
            return f"{left}= ____{right.strip()[len(value):]}", value
    nums = list(_NUMBER.finditer(sentence))
    if nums:
        m = nums[-1]
        return sentence[:m.start()] + "____" + sentence[m.end():], m.group(0)
    return None


def _clause(sentence: str) -> str:
    """The part of a why/compare sentence to ask about: before the connective, first letter lowered."""
    m = _WHY.search(sentence)
    text = sentence[:m.start()] if m and m.start() > 20 else sentence
    text = text.strip(" ,.;:")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _question(kind: str, pick: int, **slots: str) -> tuple[str, str]:
    template, opener = TEMPLATES[kind][pick % len(TEMPLATES[kind])]
    return template.format(**slots), opener


def candidate_for(section: Section, sentence: str) -> Candidate | None:
    kind, term = classify(sentence)
    leaf = leaf_heading(section)
    pick = _hash(section.chunk_id, sentence)
    focus = term or subject_phrase(sentence)
    answer = sentence
    slots = {"focus": focus, "leaf": leaf, "clause": _clause(sentence), "statement": sentence, "cloze": ""}
    if kind == "apply":
        made = cloze(sentence)
        if made is None:
            kind = "true_false"
        else:
            slots["cloze"], blank = made
            answer = f"{blank} (full statement: {sentence})"
    if kind == "true_false":
        false = falsify(sentence) if pick % 2 else None
        if false is not None:
            slots["statement"] = false
            answer = f"False. Corrected statement: {sentence}"
        else:
            answer = f"True. {sentence}"
    question, opener = _question(kind, pick, **slots)
    key = hashlib.sha1(f"{section.chunk_id}|{kind}|{sentence}".encode("utf-8")).hexdigest()[:16]
    return Candidate(key=key, chunk_id=section.chunk_id, doc_id=section.doc_id, kind=kind, focus=focus,
                     sentence=sentence, answer=answer, template_question=question, opener=opener,
                     difficulty=DIFFICULTY[kind], model_phrased=kind in ("definition", "why", "compare"))


def candidates(sections: list[Section], max_per_section: int) -> list[Candidate]:
    """Every section's candidates, each source sentence used once per document (chunks overlap)."""
    out: list[Candidate] = []
    seen: set[tuple[str, str]] = set()
    for section in sections:
        n = 0
        for sentence in prose_sentences(section.text):
            if n >= max_per_section or (section.doc_id, sentence) in seen:
                continue
            seen.add((section.doc_id, sentence))
            cand = candidate_for(section, sentence)
            if cand is not None:
                out.append(cand)
                n += 1
    return out
