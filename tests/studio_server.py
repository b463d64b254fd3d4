"""A real ``perpetual studio`` in a subprocess, and Debian's chromium driven by selenium (test helpers)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Studio:
    """``perpetual studio`` serving ``workdir`` on a free loopback port until :meth:`stop`."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        self.port, self.workdir = free_port(), workdir
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir.parent / f"studio-{self.port}.log", "w")
        self.process = subprocess.Popen([sys.executable, "-c", "from perpetual.cli import main; raise SystemExit(main())", "studio", "--port", str(self.port), "--workdir",
                                         str(workdir), "--device", "cpu", *extra], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.get("/api/presets")
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the studio exited: {Path(self.log.name).read_text()}")
                time.sleep(0.2)
        raise RuntimeError("the studio did not answer within 60 s")

    def get(self, route: str) -> dict:
        with urllib.request.urlopen(self.url + route, timeout=30) as response:
            return json.loads(response.read())

    def post(self, route: str, body: object) -> tuple[int, dict]:
        request = urllib.request.Request(self.url + route, json.dumps(body).encode(), {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def wait(self, job: str, until: callable, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.get(f"/api/render/{job}")
            if until(status):
                return status
            time.sleep(0.2)
        raise AssertionError(f"render {job} still {status} after {timeout} s")

    def stop(self, kill: bool = False) -> None:
        (self.process.kill if kill else self.process.terminate)()
        self.process.wait(30)
        self.log.close()


def browser(downloads: Path):  # noqa: ANN201 (selenium's type only when installed)
    """Headless Debian chromium, as root, with no network beyond loopback."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1400,1000",
                 f"--user-data-dir={downloads.parent / 'chromium-profile'}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def have_browser() -> bool:
    return all(os.access(p, os.X_OK) for p in (CHROMIUM, CHROMEDRIVER)) and shutil.which("chromium") is not None
