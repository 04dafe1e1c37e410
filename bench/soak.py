"""A day of a class, compressed: `python -m bench.soak [--minutes N | --quick] [--learners N]`.

Starts the REAL app (`python -m app`, embedded models, loopback, a data dir with one admin and one
learner login) and lets N simulated learners (threads, one gradio_client session each) mix chat and
Socratic questions (/ask), quizzes and answers (/quiz, /quiz_answer), interviews (/interview_start,
/interview_answer), study plans (/plan), spoken questions (espeak-ng) and photos of problems (/transcribe, /read_image, then
/ask_with_media), bad files (a 20,000 x 20,000 PNG, text named .png, 10 s of silence, an empty WAV) and
bad input (empty and oversized questions, answers to quizzes that do not exist), while an admin refreshes
the dashboard over the REST API with a token. Bounded: new requests stop at the deadline, in-flight ones
get a drain window, each learner waits between requests.

Afterwards it checks: every request answered or refused with a message (no 5xx, no stack trace);
every acknowledged quiz answer and every grounded /ask answer's model call present in data/*.sqlite3;
the app's RSS growth per hour after warm-up (psutil); the resource sampler still writing (retention
runs on the same thread, hourly). Then it kills the server with SIGKILL mid-load, restarts it on the
same data dir and checks that nothing acknowledged before the kill is lost, every database passes
`PRAGMA integrity_check` and the index opens without a rebuild. The last stdout line is one JSON object.

Before the load, a warm-up sends every kind of request once (models that load on first use are then
in the start figure); RSS is sampled from the end of the warm-up. `--chart PATH` writes the RSS curve
as an HTML page; the JSON carries the curve too (`rss_series_mb`, one point per 30 s).
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import emit, log

QUESTIONS = ["What does the chain rule say?", "How does binary search work?", "What is a p-value?",
             "What is dropout in neural networks?", "What is a Python list comprehension?",
             "What is Bayes' theorem?", "Which pizza topping is best in Naples?"]
SUBJECTS = ["Python", "Statistics", "Calculus", "Deep Learning"]
BAD_INPUTS = ["   ", "why " * 20_000]
ADMIN, ADMIN_PW, LEARNER, LEARNER_PW = "soak-admin", "soak-admin-pw-1", "soak-learner", "soak-learner-pw-1"
DASHBOARD = ["/statistics", "/health", "/compare", "/trend?metric=latency_p95&bucket_s=60", "/export?hours=1"]


@dataclass
class Tally:
    """What was sent and what came back, shared by the learner threads (under its lock)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[str, int] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # a sentence came back (error field, gr.Error)
    failures: list[str] = field(default_factory=list)  # no answer, a 5xx, a stack trace
    acked_answers: set = field(default_factory=set)  # (quiz_id, item_id) the app said it recorded
    grounded_answers: int = 0  # /ask answers that came from the model (each one model call)

    def count(self, kind: str, outcome: str, detail: str = "") -> None:
        with self.lock:
            self.sent[kind] = self.sent.get(kind, 0) + 1
            bucket = {"answered": self.answered, "refused": self.refused}.get(outcome)
            if bucket is None:
                self.failures.append(f"{kind}: {detail[:300]}")
            else:
                bucket[kind] = bucket.get(kind, 0) + 1


def _ask(client, tally: Tally, rng: random.Random) -> None:
    socratic = rng.random() < 0.3
    kind = "socratic" if socratic else "chat"
    final = list(client.submit(rng.choice(QUESTIONS), "", socratic, api_name="/ask"))[-1]
    if "Traceback" in str(final):
        tally.count(kind, "failure", str(final))
    elif final.get("error"):
        tally.count(kind, "refused")
    else:
        tally.count(kind, "answered")
        if final.get("grounded"):
            with tally.lock:
                tally.grounded_answers += 1


def _quiz(client, tally: Tally, rng: random.Random, learner: str) -> None:
    final = list(client.submit(rng.choice(SUBJECTS), rng.randint(1, 3), "mcq", "", learner, api_name="/quiz"))[-1]
    if final.get("error") or not final.get("items"):
        tally.count("quiz", "refused" if final.get("error") else "failure", str(final))
        return
    tally.count("quiz", "answered")
    for item in final["items"]:
        res = client.predict(final["quiz_id"], item["item_id"], rng.choice(item.get("options") or ["x"]), learner,
                             api_name="/quiz_answer")
        tally.count("quiz_answer", "answered" if res.get("recorded") else "refused")
        if res.get("recorded"):
            with tally.lock:
                tally.acked_answers.add((final["quiz_id"], item["item_id"]))


def _interview(client, tally: Tally, rng: random.Random) -> None:
    question_md, *_ = client.predict("All topics", "Any", "Any", 1, api_name="/interview_start")
    tally.count("interview_start", "answered" if question_md.startswith("### Question") else "refused")
    out = client.predict("It trades bias for variance by averaging many models.", rng.random() < 0.5,
                         api_name="/interview_answer")
    tally.count("interview_answer", "answered" if "Score" in str(out[1]) else "refused")


def _plan(client, tally: Tally, rng: random.Random) -> None:
    final = list(client.submit(rng.choice(SUBJECTS), "", rng.choice(["beginner", "intermediate"]), 4,
                               rng.randint(1, 3), api_name="/plan"))[-1]
    if final.get("error"):
        tally.count("plan", "refused")
    else:
        tally.count("plan", "answered" if final.get("done") and final.get("weeks") else "failure", str(final))


def _bad_input(client, tally: Tally, rng: random.Random, learner: str) -> None:
    final = list(client.submit(rng.choice(BAD_INPUTS), "", False, api_name="/ask"))[-1]
    tally.count("bad_question", "refused" if final.get("error") else "answered")
    res = client.predict("no-such-quiz", "no-such-item", "A", learner, api_name="/quiz_answer")
    tally.count("bad_quiz_answer", "refused" if not res.get("recorded") else "failure", str(res))


# A request may wait behind every other learner's answer on a 2-core machine: minutes, not httpx's 5 s.
HTTP_TIMEOUT_S = 300.0


def connect(url: str):
    from gradio_client import Client

    return Client(url, auth=(LEARNER, LEARNER_PW), verbose=False, httpx_kwargs={"timeout": HTTP_TIMEOUT_S})


def _media_answer(client, tally: Tally, kind: str, question: str, image_text: str) -> None:
    final = list(client.submit(question, image_text, "", api_name="/ask_with_media"))[-1]
    text = final[0] if isinstance(final, (list, tuple)) else str(final)
    if "Traceback" in text or "Something went wrong" in text:
        tally.count(kind, "failure", text)
    else:
        tally.count(kind, "refused" if text.startswith(("_", "**Could not")) else "answered")


def _voice_or_photo(client, tally: Tally, rng: random.Random, media: "MediaFiles") -> None:
    from gradio_client import handle_file

    if media.spoken and rng.random() < 0.5:  # no espeak-ng: photos only
        question, info = client.predict(handle_file(str(rng.choice(media.spoken))), api_name="/transcribe")
        ok = bool(question) and "Transcribed" in str(info)
        tally.count("voice", "answered" if ok else "refused")
        if ok:
            _media_answer(client, tally, "voice_answer", question, "")
    else:
        text, _caption, info = client.predict(handle_file(str(rng.choice(media.photos))), api_name="/read_image")
        tally.count("photo", "answered" if text else "refused")
        if text:
            _media_answer(client, tally, "photo_answer", "explain step by step", text)


def _bad_file(client, tally: Tally, rng: random.Random, media: "MediaFiles") -> None:
    """A learner uploads a file that must be refused with a sentence (bomb, text as .png, silence...)."""
    from gradio_client import handle_file

    path = rng.choice(media.bad)
    if path.suffix == ".png":
        out = client.predict(handle_file(str(path)), api_name="/read_image")[2]
    else:
        out = client.predict(handle_file(str(path)), api_name="/transcribe")[1]
    refused = isinstance(out, str) and out.startswith("**") and "Something went wrong" not in out
    tally.count("bad_file", "refused" if refused else "failure", f"{path.name}: {out}")


@dataclass(frozen=True)
class MediaFiles:
    spoken: list[Path]
    photos: list[Path]
    bad: list[Path]


def make_media(folder: Path) -> MediaFiles:
    """Spoken questions (espeak-ng, when installed), photos of problems, and bad files, made once."""
    import numpy as np

    from bench.media_samples import PROBLEMS, QUESTIONS as SPOKEN, draw_problem, espeak_available, speak
    from tests.tutor.features.media_fixtures import png_with_header_size, write_wav

    folder.mkdir(parents=True, exist_ok=True)
    spoken = [speak(q, folder / f"q{i}.wav") for i, q in enumerate(SPOKEN[:3])] if espeak_available() else []
    photos = []
    for i, lines in enumerate(PROBLEMS[:3]):
        draw_problem(lines, "clean", seed=i).save(folder / f"p{i}.png")
        photos.append(folder / f"p{i}.png")
    (folder / "notes.png").write_text("x^2 + 1 = 0\n")
    bad = [png_with_header_size(folder / "bomb.png", 20_000, 20_000), folder / "notes.png",
           write_wav(folder / "silence.wav", np.zeros(16_000 * 10, np.float32))]
    (folder / "empty.wav").write_bytes(b"")
    bad.append(folder / "empty.wav")
    return MediaFiles(spoken, photos, bad)


def learner_loop(url: str, n: int, deadline: float, tally: Tally, pause_s: float, media: MediaFiles) -> None:
    rng = random.Random(n)
    learner = f"soak-{n}"
    client = None
    while client is None and time.time() < deadline:
        try:
            client = connect(url)
        except Exception as e:  # noqa: BLE001 - the page did not load: a finding, then retry
            tally.count("connect", "failure", f"{type(e).__name__}: {e}")
            time.sleep(pause_s)
    actions = [(_ask, 5), (_quiz, 3), (_interview, 1), (_plan, 1), (_bad_input, 1), (_voice_or_photo, 2),
               (_bad_file, 1)]
    while client is not None and time.time() < deadline:
        action = rng.choices([a for a, _ in actions], [w for _, w in actions])[0]
        if not do(action, client, tally, rng, learner, media) and time.time() < deadline:
            time.sleep(pause_s)
        time.sleep(rng.uniform(0.5, 1.5) * pause_s)


def do(action, client, tally: Tally, rng: random.Random, learner: str, media: MediaFiles) -> bool:
    """One learner action; False when it failed in a way that is a finding (counted in tally)."""
    try:
        if action in (_quiz, _bad_input):
            action(client, tally, rng, learner)
        elif action in (_voice_or_photo, _bad_file):
            action(client, tally, rng, media)
        else:
            action(client, tally, rng)
    except Exception as e:  # noqa: BLE001 - a client error is a finding, not a crash of the bench
        outcome = "refused" if type(e).__name__ == "AppError" and "Traceback" not in str(e) else "failure"
        tally.count(action.__name__.strip("_"), outcome, f"{type(e).__name__}: {e}")
        return outcome != "failure"
    return True


def warm_up(url: str, tally: Tally, media: MediaFiles) -> None:
    """Every kind of request once, one at a time, before RSS is watched: the models that load on first
    use (Whisper, OCR, the rubric's embedder, the adapters' first requests) are in the start figure, so
    the growth slope measures what a long day adds, not what the first minute loads."""
    client, rng = connect(url), random.Random(-1)
    for action in (_ask, _quiz, _interview, _plan, _bad_input, _bad_file):
        do(action, client, tally, rng, "soak-warm", media)
    for _ in range(4):  # voice and photo are picked at random: enough tries for both
        do(_voice_or_photo, client, tally, rng, "soak-warm", media)


def admin_loop(url: str, token: str, deadline: float, tally: Tally, every_s: float) -> None:
    from app.api import API_PREFIX

    while time.time() < deadline:
        for path in DASHBOARD:
            req = urllib.request.Request(url.rstrip("/") + API_PREFIX + path, headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    tally.count("admin", "answered" if r.status == 200 else "failure", f"{path} {r.status}")
            except urllib.error.HTTPError as e:
                tally.count("admin", "failure" if e.code >= 500 else "refused", f"{path} HTTP {e.code}")
            except OSError as e:
                tally.count("admin", "failure", f"{path} {e}")
        time.sleep(every_s)


def rss_sampler(pid: int, stop: threading.Event, samples: list[tuple[float, float]]) -> None:
    import psutil

    proc = psutil.Process(pid)
    while not stop.wait(2.0):
        try:
            samples.append((time.time(), proc.memory_info().rss / 1e6))
        except psutil.Error:
            return


def growth_mb_per_hour(samples: list[tuple[float, float]], warm_fraction: float = 0.3) -> float | None:
    """Slope of RSS over time after warm-up (the first 30 % of samples: model load, first answers)."""
    import numpy as np

    kept = samples[int(len(samples) * warm_fraction):]
    if len(kept) < 5:  # under 10 s of samples: no slope worth reporting
        return None
    t, mb = np.array(kept).T
    return round(float(np.polyfit(t - t[0], mb, 1)[0]) * 3600, 1)


def rss_series(samples: list[tuple[float, float]], every_s: float = 30.0) -> list[list[float]]:
    """[[seconds since start, MB], ...] one point per `every_s`: the curve behind the slope, in the JSON."""
    out: list[list[float]] = []
    for t, mb in samples:
        if not out or t - samples[0][0] - out[-1][0] >= every_s:
            out.append([round(t - samples[0][0], 1), round(mb, 1)])
    return out


def write_chart(path: Path, samples: list[tuple[float, float]], growth: float | None) -> None:
    """The app's RSS over the load as a self-contained plotly HTML page (plotly is a dependency already)."""
    import plotly.graph_objects as go

    t0 = samples[0][0]
    fig = go.Figure(go.Scatter(x=[(t - t0) / 60 for t, _ in samples], y=[mb for _, mb in samples], mode="lines"))
    fig.update_layout(title=f"SmartLearn app RSS under the soak (growth after warm-up: {growth} MB/hour)",
                      xaxis_title="minutes of load", yaxis_title="RSS (MB)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs=True)  # no CDN: the machines here are offline
    log(f"soak: RSS chart written to {path}")


def db_counts(data_dir: Path) -> dict:
    """Rows that back what the learners were told, and whether every database is intact."""
    out: dict = {"integrity": {}}
    for db in sorted(data_dir.glob("*.sqlite3")):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            out["integrity"][db.name] = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "answers" in tables:
                out["answers"] = {tuple(r) for r in conn.execute("SELECT quiz_id, item_id FROM answers")}
            if "model_calls" in tables:
                out["ask_calls"] = conn.execute("SELECT COUNT(*) FROM model_calls WHERE operation = 'chat'").fetchone()[0]
                out["model_calls"] = conn.execute("SELECT COUNT(*) FROM model_calls").fetchone()[0]
            if "resource_samples" in tables:
                out["last_sample_age_s"] = time.time() - (conn.execute(
                    "SELECT MAX(sampled_at) FROM resource_samples").fetchone()[0] or 0)
    return out


def setup_logins(data_dir: Path) -> str:
    from tutor import auth
    from tutor.config import AppConfig, PathsConfig

    path = auth.users_file(AppConfig(paths=PathsConfig(data_dir=data_dir)))
    auth.set_user(path, ADMIN, ADMIN_PW, "admin")
    auth.set_user(path, LEARNER, LEARNER_PW, "learner")
    return auth.issue_token(path, ADMIN)


def start_app(data_dir: Path):
    from bench.live import LiveApp

    app = LiveApp(data_dir)
    app.wait_http(timeout=300)
    return app


def wait_ready(app) -> dict:
    t0 = time.time()
    client = None
    while time.time() - t0 < 600:
        try:  # a server busy indexing or loading the model may not answer within the client's timeout
            client = client or connect(app.url)
            st = client.predict(api_name="/status")
            if st["state"] in ("ready", "error"):
                return st
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            log(f"soak: status not answered yet ({type(e).__name__})")
        time.sleep(2)
    raise TimeoutError("the app was not ready in 10 minutes")


def run_load(url: str, token: str, learners: int, seconds: float, tally: Tally, pause_s: float,
             media: MediaFiles) -> None:
    deadline = time.time() + seconds
    threads = [threading.Thread(target=learner_loop, args=(url, n, deadline, tally, pause_s, media), daemon=True)
               for n in range(learners)]
    threads.append(threading.Thread(target=admin_loop, args=(url, token, deadline, tally, 10.0), daemon=True))
    for t in threads:
        t.start()
        time.sleep(1.0)  # learners arrive over 20 s (a class logging in), not in one burst
    drain_s = 180.0  # a request in flight at the deadline may still finish; a hung one counts as unanswered
    for t in threads:
        t.join(max(0.0, deadline + drain_s - time.time()))
    with tally.lock:
        tally.failures.extend(f"unanswered: learner thread still waiting after {drain_s:.0f} s drain"
                              for t in threads if t.is_alive())


def kill_and_restart(data_dir: Path, app, token: str, learners: int, tally: Tally, pause_s: float,
                     media: MediaFiles) -> dict:
    """SIGKILL the server while learners are mid-request, restart on the same data dir, compare."""
    calls_before = db_counts(data_dir).get("ask_calls", 0)
    load = threading.Thread(target=run_load, args=(app.url, token, learners, 120.0, tally, pause_s, media),
                            daemon=True)
    load.start()
    # Kill once something was acknowledged in this phase (a kill before any answer proves nothing),
    # at most 90 s in; the load phase runs 120 s so learners are still mid-request then.
    t0 = time.time()
    while time.time() - t0 < 90 and not (len(tally.acked_answers) >= 3 and tally.grounded_answers >= 3):
        time.sleep(1.0)
    with tally.lock:
        acked = set(tally.acked_answers)
        grounded = tally.grounded_answers
    killed_after_s = time.time() - t0
    app.proc.kill()  # SIGKILL: no shutdown handler runs
    app.proc.wait(30)
    log(f"soak: killed the server with SIGKILL; {len(acked)} quiz answers acknowledged before it")
    load.join(240)
    app = start_app(data_dir)
    try:
        st = wait_ready(app)
        after = db_counts(data_dir)
        rebuilt = "full (re)ingest" in app.log()
    finally:
        app.stop()
    return {
        "lost_after_kill": len(acked - after.get("answers", set())) + max(0, grounded - (after.get("ask_calls", 0)
                                                                                         - calls_before)),
        "restart_state": st["state"], "restart_integrity": after["integrity"], "index_rebuilt_after_kill": rebuilt,
        "acked_before_kill": {"quiz_answers": len(acked), "grounded_answers": grounded},
        "killed_after_s": round(killed_after_s, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=15.0, help="minutes of load (default 15)")
    p.add_argument("--quick", action="store_true", help="2 minutes of load")
    p.add_argument("--learners", type=int, default=20)
    p.add_argument("--pause", type=float, default=3.0, help="mean seconds a learner waits between requests")
    p.add_argument("--chart", type=Path, default=None, help="write the RSS curve as an HTML chart here")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="the app's data dir (default: a fresh temp dir; reuse one to skip the first indexing)")
    args = p.parse_args()
    minutes = 2.0 if args.quick else args.minutes
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="smartlearn-soak-"))
    token = setup_logins(data_dir)
    app = start_app(data_dir)
    try:
        result = soak(app, data_dir, token, minutes, args)
    finally:
        if app.proc.poll() is None:
            app.stop()
    emit("soak", {"minutes": minutes, "learners": args.learners, **result, "data_dir": str(data_dir)})


def soak(app, data_dir: Path, token: str, minutes: float, args: argparse.Namespace) -> dict:
    st = wait_ready(app)
    log(f"soak: app ready ({st['state']}) at {app.url}; {args.learners} learners for {minutes:g} min")
    before = db_counts(data_dir)  # a reused data dir already holds rows: compare what this run added
    tally, rss, stop = Tally(), [], threading.Event()
    media = make_media(data_dir / "soak-media")
    t_warm = time.time()
    warm_up(app.url, tally, media)
    log(f"soak: warm-up (every kind of request once) took {time.time() - t_warm:.0f} s; watching RSS from now")
    sampler = threading.Thread(target=rss_sampler, args=(app.proc.pid, stop, rss), daemon=True)
    sampler.start()
    t0 = time.time()
    run_load(app.url, token, args.learners, minutes * 60, tally, args.pause, media)
    stop.set()
    load_s = time.time() - t0
    # The slope is read over the load alone: once new requests stop, the in-flight ones drain and RSS falls,
    # which pulled a 15-minute run's slope to -345 MB/hour.
    loaded = [x for x in rss if x[0] <= t0 + minutes * 60]
    if args.chart and rss:
        write_chart(args.chart, rss, growth_mb_per_hour(loaded))
    counts = db_counts(data_dir)
    ask_calls = counts.get("ask_calls", 0) - before.get("ask_calls", 0)
    lost = len(tally.acked_answers - counts.get("answers", set())) + max(0, tally.grounded_answers - ask_calls)
    tracebacks = app.log().count("Traceback")
    log(f"soak: load done in {load_s:.0f} s; killing the server mid-load next")
    kill = kill_and_restart(data_dir, app, token, args.learners, Tally(), args.pause, media)
    return {
        "load_s": round(load_s, 1), "sent": tally.sent, "answered": tally.answered,
        "refused_with_message": tally.refused, "unanswered": len(tally.failures), "failures": tally.failures[:20],
        "acked_quiz_answers": len(tally.acked_answers), "grounded_answers": tally.grounded_answers,
        "db_ask_model_calls": ask_calls,
        "db_model_calls": counts.get("model_calls", 0) - before.get("model_calls", 0),
        "lost_records": lost, "server_log_tracebacks": tracebacks,
        "rss_mb_start_end": [round(rss[0][1], 1), round(rss[-1][1], 1)] if rss else None,
        "rss_growth_mb_per_hour": growth_mb_per_hour(loaded),
        # the second half of the load alone: still climbing at the end, or level (a working set reached)?
        "rss_growth_second_half_mb_per_hour": growth_mb_per_hour(loaded, warm_fraction=0.5),
        "rss_series_mb": rss_series(rss),
        "rss_note": None if minutes >= 10 else "under 10 minutes of load the slope rests on few samples: read the "
                                               "growth from a 15-minute run",
        "sampler_running": counts.get("last_sample_age_s", 1e9) < 30, "integrity": counts["integrity"],
        **kill,
    }


if __name__ == "__main__":
    main()
