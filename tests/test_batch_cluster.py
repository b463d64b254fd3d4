"""perpetual batch joining a running Ray cluster by --address: a real head node started with
`ray start --head` on loopback (its own file, so no other Ray of the suite is running beside it)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def head():
    """A one-node cluster on loopback with token authentication (Ray's default since 2.59): the
    head and the batch share the token through the environment, as a cluster's nodes would."""
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    start = [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
             "--include-dashboard", "false", "--disable-usage-stats"]
    subprocess.run(start, check=True, capture_output=True, timeout=120, env=env)
    try:
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120, env=env)


def test_batch_joins_a_cluster_by_address(head, tmp_path):
    address, env = head
    (tmp_path / "jobs.jsonl").write_text('{"name": "a", "seed": 1, "config": "classical", "frames": 8, "size": "64x48"}\n'
                                          '{"name": "b", "seed": 2, "config": "classical", "frames": 8, "size": "64x48"}\n')
    cmd = [sys.executable, "-m", "perpetual.cli", "batch", str(tmp_path / "jobs.jsonl"), "--out", str(tmp_path / "runs"),
           "--address", address]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "2 done, 0 skipped, 0 failed" in done.stdout
    summary = json.loads((tmp_path / "runs" / "summary.json").read_text())
    assert [j["status"] for j in summary["jobs"]] == ["done", "done"]
    assert all((tmp_path / "runs" / n / f"{n}.mp4").is_file() for n in "ab")


def test_an_unreachable_address_is_one_line(tmp_path):
    (tmp_path / "jobs.jsonl").write_text('{"name": "a", "config": "classical", "frames": 4, "size": "32x32"}\n')
    cmd = [sys.executable, "-m", "perpetual.cli", "batch", str(tmp_path / "jobs.jsonl"), "--out", str(tmp_path / "runs"),
           "--address", f"127.0.0.1:{_free_port()}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot reach a Ray cluster at 127.0.0.1:" in done.stderr.strip().splitlines()[-1]
