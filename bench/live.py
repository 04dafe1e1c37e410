"""Starts the real app (`python -m app`) in a subprocess on a free port: used by the integration and
e2e tests and by bench/chat.py."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveApp:
    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = data_dir / "app.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTLEARN_")}
        env.update({
            "SMARTLEARN_PATHS_DATA_DIR": str(data_dir),
            "SMARTLEARN_SERVER_PORT": str(self.port),
            "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(extra_env or {})
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_http(self, timeout: float = 120) -> float:
        """Seconds from process start until the UI answers HTTP 200."""
        t0 = self.started_at
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"app did not answer HTTP in {timeout} s:\n{self.log()[-4000:]}")

    def wait_ready(self, timeout: float = 300) -> dict:
        from gradio_client import Client

        client = Client(self.url, verbose=False)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            st = client.predict(api_name="/status")
            if st["state"] in ("ready", "error"):
                return st
            time.sleep(1)
        raise TimeoutError(f"app not ready in {timeout} s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()
