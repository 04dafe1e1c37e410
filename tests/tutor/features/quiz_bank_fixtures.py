"""A small course of one subject in three documents, and a question bank over it in the pipeline's row
format (every kind, every document), written at test time from the indexed chunks' real ids."""
from __future__ import annotations

import json
from pathlib import Path

from tutor.backends.fake import FakeBackend
from tutor.config import AppConfig, PathsConfig
from tutor.retrieval import HashEmbedder
from tutor.services import Services, build_services

SUBJECT = "Gardening"
DOCS = {
    "soil.md": ("Soil and compost", """
## Compost

Compost is decomposed organic matter that feeds the soil with nutrients.
Compost heaps must be turned every week, because the microbes inside need oxygen to break down the waste.
A hot compost heap breaks down kitchen waste faster than a cold heap left alone for a year.
Mixing 60 kilograms of leaves with 2 kilograms of grass gives a carbon to nitrogen ratio of 30.

## Mulch

Mulch is a layer of material spread on the soil surface to keep moisture in.
Mulch should be kept away from plant stems, because wet mulch against the bark invites rot.
Earthworms improve soil structure by digging tunnels that let air and water in.
Clay soil holds water much longer than sandy soil, which drains within a few hours.
"""),
    "watering.md": ("Watering and irrigation", """
## Drip irrigation

Drip irrigation is a watering method that delivers water slowly to the roots through small emitters.
Watering in the morning is best, because leaves dry quickly in the sun and fungi cannot spread.
A drip line wastes far less water than a sprinkler, whereas a sprinkler also wets the leaves and paths.
A drip line with 12 emitters of 2 litres per hour delivers 24 litres per hour.

## Rain barrels

A rain barrel is a container that collects rainwater from a roof for later use.
Rain barrels need a tight lid, so that mosquitoes cannot lay eggs in the still water.
Tomatoes need more water when they are fruiting.
"""),
    "pruning.md": ("Pruning and plant care", """
## Pruning

Pruning is the cutting away of dead or overgrown branches to shape a plant.
Roses are pruned in late winter, because the buds are dormant and the cuts heal before growth starts.
Summer pruning slows growth much more than winter pruning, which tends to encourage vigorous new shoots.
Cutting 3 of 12 branches removes 25 percent of the canopy.

## Raised beds

A raised bed is a planting area built above the ground inside a frame of boards.
A raised bed warms up earlier in spring than the open ground around it, so seeds can be sown sooner.
A row of 40 plants at 8 plants per hour takes 5 hours to plant.
"""),
}

# (kind, question, answer, difficulty): the pipeline's wording and answer formats (training/qa/candidates.py).
RECORDS = [
    ("definition", "What is compost, in the context of Compost?",
     "Compost is decomposed organic matter that feeds the soil with nutrients.", "easy"),
    ("definition", "Define mulch as it is used in Mulch.",
     "Mulch is a layer of material spread on the soil surface to keep moisture in.", "easy"),
    ("definition", "In Drip irrigation, what does the term drip irrigation refer to?",
     "Drip irrigation is a watering method that delivers water slowly to the roots through small emitters.", "easy"),
    ("definition", "What is a rain barrel?",
     "A rain barrel is a container that collects rainwater from a roof for later use.", "easy"),
    ("definition", "Give a one-sentence definition of pruning (Pruning and plant care).",
     "Pruning is the cutting away of dead or overgrown branches to shape a plant.", "easy"),
    ("definition", "How would you describe raised bed when studying Raised beds?",
     "A raised bed is a planting area built above the ground inside a frame of boards.", "easy"),
    ("why", "Why is it that compost heaps must be turned every week?",
     "Compost heaps must be turned every week, because the microbes inside need oxygen to break down the waste.",
     "medium"),
    ("why", "State the reason behind this claim: mulch should be kept away from plant stems.",
     "Mulch should be kept away from plant stems, because wet mulch against the bark invites rot.", "medium"),
    ("why", "Why is it that watering in the morning is best?",
     "Watering in the morning is best, because leaves dry quickly in the sun and fungi cannot spread.", "medium"),
    ("why", "According to the notes on Rain barrels, what causes this: rain barrels need a tight lid?",
     "Rain barrels need a tight lid, so that mosquitoes cannot lay eggs in the still water.", "medium"),
    ("why", "Why is it that roses are pruned in late winter?",
     "Roses are pruned in late winter, because the buds are dormant and the cuts heal before growth starts.", "medium"),
    ("compare", "Contrast what is being compared regarding a hot compost heap: a hot compost heap breaks down "
     "kitchen waste faster than a cold heap left alone for a year.",
     "A hot compost heap breaks down kitchen waste faster than a cold heap left alone for a year.", "medium"),
    ("compare", "How does the comparison go in this point about clay soil?",
     "Clay soil holds water much longer than sandy soil, which drains within a few hours.", "medium"),
    ("compare", "Which difference does the course draw about a drip line?",
     "A drip line wastes far less water than a sprinkler, whereas a sprinkler also wets the leaves and paths.",
     "medium"),
    ("compare", "Describe the comparison made about summer pruning.",
     "Summer pruning slows growth much more than winter pruning, which tends to encourage vigorous new shoots.",
     "medium"),
    ("compare", "Compare the two sides of this statement on a raised bed.",
     "A raised bed warms up earlier in spring than the open ground around it, so seeds can be sown sooner.", "medium"),
    ("apply", "Compute the missing value in Compost: Mixing 60 kilograms of leaves with 2 kilograms of grass gives "
     "a carbon to nitrogen ratio of ____.",
     "30 (full statement: Mixing 60 kilograms of leaves with 2 kilograms of grass gives a carbon to nitrogen ratio "
     "of 30.)", "hard"),
    ("apply", "Fill in the blank (Drip irrigation): A drip line with 12 emitters of 2 litres per hour delivers "
     "____ per hour.",
     "24 litres (full statement: A drip line with 12 emitters of 2 litres per hour delivers 24 litres per hour.)",
     "hard"),
    ("apply", "Complete this worked step on Pruning: Cutting 3 of 12 branches removes ____ of the canopy.",
     "25 percent (full statement: Cutting 3 of 12 branches removes 25 percent of the canopy.)", "hard"),
    ("apply", "Compute the missing value in Raised beds: A bed of 4 metres by 2 metres covers ____.",
     "5 hours (full statement: A row of 40 plants at 8 plants per hour takes 5 hours to plant.)", "hard"),
    ("true_false", "Judge this claim about earthworms: Earthworms improve soil structure by digging tunnels that "
     "let air and water in.",
     "True. Earthworms improve soil structure by digging tunnels that let air and water in.", "easy"),
    ("true_false", "Is this statement correct? Tomatoes need less water when they are fruiting.",
     "False. Corrected statement: Tomatoes need more water when they are fruiting.", "easy"),
    ("true_false", "True or false: Pruning is the cutting away of dead or overgrown branches to shape a plant.",
     "True. Pruning is the cutting away of dead or overgrown branches to shape a plant.", "easy"),
]


def write_kb(root: Path) -> Path:
    kb = root / "kb"
    (kb / "gardening").mkdir(parents=True, exist_ok=True)
    for name, (title, body) in DOCS.items():
        (kb / "gardening" / name).write_text(
            f"---\ntitle: \"{title}\"\nsubject: {SUBJECT}\nlevel: beginner\n---\n\n# {title}\n{body}", encoding="utf-8")
    return kb


def write_bank(path: Path, services: Services, records=RECORDS) -> Path:
    """The bank rows, each pointing at the indexed chunk that holds its source sentence."""
    chunks, _ = services.tutor.retriever.store.all_chunks(with_embeddings=False)
    rows = []
    for n, (kind, question, answer, difficulty) in enumerate(records):
        sentence = answer.split("(full statement: ")[-1].rstrip(")") if kind == "apply" else \
            answer.split(". ", 1)[1] if kind == "true_false" else answer
        if sentence.startswith("Corrected statement: "):
            sentence = sentence[len("Corrected statement: "):]
        chunk = next(c for c in chunks if sentence[:40] in c.text)
        rows.append({"id": f"r{n}", "source_chunk_id": chunk.id, "doc_id": chunk.doc_id, "kind": kind,
                     "difficulty": difficulty, "question": question, "answer": answer, "score": 10.0,
                     "checks": {"supported": True}, "generated_by": "template"})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def garden_services(root: Path, bank: Path | None = None) -> Services:
    """Services over the small course; the bank at `bank` (None: one written from RECORDS)."""
    root.mkdir(parents=True, exist_ok=True)
    kb = write_kb(root)
    target = bank if bank is not None else root / "bank" / "qa.jsonl"
    cfg = AppConfig(paths=PathsConfig(knowledge_base_dir=kb, data_dir=root / "data", quiz_bank_path=target))
    services = build_services(cfg, backend=FakeBackend(), embedder=HashEmbedder())
    assert services.tutor.warm_up().ready
    if bank is None:
        # The rows need the indexed chunk ids, so the bank is written after indexing and services rebuilt on it.
        write_bank(target, services)
        services = build_services(cfg, backend=FakeBackend(), embedder=HashEmbedder())
        assert services.tutor.warm_up().ready
    return services
