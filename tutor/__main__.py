"""Command line: `python -m tutor ingest|add-doc|search|warm-up|config|user`.

Admin tasks without the web app: build or refresh the index, add documents, try a search, show the
effective settings. Errors print one sentence and exit 1 (no traceback); --verbose shows logs.
"""
from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from typing import Sequence

from tutor.errors import TutorError
from tutor.types import IngestReport

logger = logging.getLogger("tutor.cli")


def _print_report(report: IngestReport) -> None:
    kind = "Full rebuild" if report.rebuilt else "Incremental ingest"
    print(f"{kind} finished in {report.seconds:.1f}s: {len(report.added)} added, {len(report.updated)} updated, "
          f"{len(report.removed)} removed, {report.unchanged} unchanged, {len(report.skipped)} skipped.")
    for label, items in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
        for d in items:
            print(f"  {label:8} {d}")
    for s in report.skipped:
        print(f"  skipped  {s.reason if s.reason.startswith(s.path) else f'{s.path}: {s.reason}'}")
    print(f"Chunks written: {report.chunks_written}; chunks in the index: {report.total_chunks}.")


class _Bar:
    """tqdm progress for Ingestor.run's callback (files done, files to do, doc id)."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, done: int, total: int, doc_id: str) -> None:
        from tqdm import tqdm

        if self._bar is None:
            if total == 0:
                return
            self._bar = tqdm(total=total, unit="file", desc="Ingesting", file=sys.stderr)
        self._bar.n = done
        if doc_id:
            self._bar.set_postfix_str(doc_id[-40:], refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _cmd_ingest(args: argparse.Namespace) -> int:
    from tutor.retrieval import build_retrieval

    _, ingestor = build_retrieval(args.cfg)
    bar = _Bar()
    try:
        report = ingestor.run(progress=bar, rebuild=args.rebuild)
    finally:
        bar.close()
    _print_report(report)
    return 0


def _cmd_add_doc(args: argparse.Namespace) -> int:
    from tutor.retrieval import build_retrieval

    _, ingestor = build_retrieval(args.cfg)
    report = ingestor.add_documents(args.paths)
    _print_report(report)
    return 0 if (report.added or report.updated or report.unchanged) else 1


def _cmd_search(args: argparse.Namespace) -> int:
    from tutor.retrieval import build_retrieval

    retriever, ingestor = build_retrieval(args.cfg)
    if ingestor.store.open().fresh or ingestor.store.count() == 0:
        print("The index is empty; building it first (python -m tutor ingest).", file=sys.stderr)
        _print_report(ingestor.run())
    subject = None
    if args.subject:
        known = retriever.subjects()
        subject = retriever.resolve_subject(args.subject)
        if subject not in known:
            raise TutorError(f"Unknown subject {args.subject!r}; known subjects: {', '.join(known)}.")
    retriever.warm_up()  # model load and index snapshot: not part of the latency shown below
    result = retriever.search(args.query, k=args.k, subject=subject)
    scope = f" in {result.subject}" if result.subject else ""
    print(f"{len(result.hits)} hits{scope} in {result.latency_s * 1000:.0f} ms; best similarity "
          f"{result.best_similarity:.3f} -> {'covered' if result.covered else 'NOT covered'} by the knowledge base "
          f"(floor {args.cfg.retrieval.relevance_floor}).")
    for h in result.hits:
        c = h.chunk
        sim = "n/a" if h.dense_similarity is None else f"{h.dense_similarity:.3f}"
        bm = "n/a" if h.bm25_score is None else f"{h.bm25_score:.2f}"
        print(f"\n#{h.rank}  rrf={h.score:.4f}  cos={sim}  bm25={bm}  [{c.subject}] {c.doc_id}")
        print(f"    {c.section or c.title}")
        snippet = " ".join(c.text.split())
        print(textwrap.indent(textwrap.fill(snippet[:400] + ("..." if len(snippet) > 400 else ""), 96), "    "))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from tutor.config import describe

    rows = describe(args.cfg)
    w1 = max(len(r[0]) for r in rows)
    w2 = min(max(len(r[1]) for r in rows), 40)
    for name, value, help_ in rows:
        print(f"{name:<{w1}}  {value:<{w2}}  {help_}")
    return 0


def _cmd_warm_up(args: argparse.Namespace) -> int:
    """Index the KB and load the model once, so the one-time GGUF -> safetensors conversion happens
    now (e.g. at Docker build time) instead of on the first start."""
    from tutor.service import build_tutor

    st = build_tutor(args.cfg).warm_up()
    print(st.message)
    return 0 if st.ready else 1


def _cmd_user(args: argparse.Namespace) -> int:
    """Manage logins: add/change (password asked twice, or SMARTLEARN_NEW_PASSWORD for scripts),
    remove, list, and issue an admin REST token (shown once; only its hash is stored)."""
    import getpass
    import os

    from tutor import auth

    path = auth.users_file(args.cfg)
    if args.action == "list":
        users = auth.read_users(path)
        if not users:
            print(f"No users in {path}: login is off and learners are anonymous.")
        for u in users.values():
            print(f"{u.name:<24} {u.role:<8} {len(u.token_hashes)} token(s)")
        return 0
    if not args.name:
        print("Error: give a user name.", file=sys.stderr)
        return 1
    if args.action == "add":
        password = os.environ.get("SMARTLEARN_NEW_PASSWORD")
        if password is None:
            password = getpass.getpass(f"Password for {args.name}: ")
            if getpass.getpass("Again: ") != password:
                print("Error: the passwords differ.", file=sys.stderr)
                return 1
        user = auth.set_user(path, args.name, password, args.role)
        print(f"Saved {user.name} ({user.role}) in {path}. A running app picks it up on the next login.")
    elif args.action == "remove":
        print(f"Removed {args.name}." if auth.remove_user(path, args.name) else f"No user {args.name!r}.")
    elif args.action == "token":
        token = auth.issue_token(path, args.name)
        print("REST token (shown once; send it as 'Authorization: Bearer <token>'):")
        print(token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tutor", description="SmartLearn admin commands.")
    p.add_argument("--config", help="YAML config file (default: SMARTLEARN_CONFIG or built-in defaults)")
    p.add_argument("-v", "--verbose", action="store_true", help="show log messages")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", help="index the knowledge base (only changed files unless --rebuild)")
    s.add_argument("--rebuild", action="store_true", help="delete the index and re-embed every document")
    s.set_defaults(func=_cmd_ingest)

    s = sub.add_parser("add-doc", help="copy documents (md, txt, pdf) into the knowledge base and index them")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.set_defaults(func=_cmd_add_doc)

    s = sub.add_parser("search", help="hybrid search of the knowledge base")
    s.add_argument("query")
    s.add_argument("--subject", help="only this subject (an unknown one lists the known subjects)")
    s.add_argument("-k", type=int, default=None, help="number of hits (default retrieval.top_k)")
    s.set_defaults(func=_cmd_search)

    s = sub.add_parser("warm-up", help="index the knowledge base and load (and cache) the language model")
    s.set_defaults(func=_cmd_warm_up)

    s = sub.add_parser("config", help="print every setting, its value and what it does")
    s.set_defaults(func=_cmd_config)

    s = sub.add_parser("user", help="manage logins and roles: add NAME [--role admin] | remove NAME | list | token NAME")
    s.add_argument("action", choices=["add", "remove", "list", "token"])
    s.add_argument("name", nargs="?")
    s.add_argument("--role", choices=["learner", "admin"], default="learner")
    s.set_defaults(func=_cmd_user)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        from tutor.config import load_config

        args.cfg = load_config(args.config)
        return args.func(args)
    except TutorError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as e:  # the CLI edge: one sentence for the user, the traceback only with -v
        logger.debug("unexpected error", exc_info=True)
        if args.verbose:
            logger.exception("unexpected error")
        print(f"Error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
