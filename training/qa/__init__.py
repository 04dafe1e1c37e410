"""Course documents -> grounded question/answer pairs: a checkpointed, quality-scored pipeline.

    documents (md, txt, pdf) -> sections (the app's chunker) -> extractive candidates per kind
    -> questions phrased by the model (JSON schema) or a template -> checks -> score -> dedup
    -> a versioned JSONL dataset in training/data/qa/ plus a run report.

Answers are built from the section's own sentences, so every fact is checked against the source by
construction; the model (often the weak embedded 135M one) only phrases the question, and a template per
kind takes over when its question fails a check, so diversity never depends on the model.
CLI: `python -m training qa generate|score|export` (training/qa/cli.py).
"""
