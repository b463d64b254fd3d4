"""perpetual studio: a real server (uvicorn, in a subprocess) and a real headless browser (Debian's chromium)."""

from __future__ import annotations

import json
import math
import os
import time
import urllib.request
from pathlib import Path

import imageio_ffmpeg
import pytest
import skimage
import torch

from perpetual.geometry import invert_pose
from perpetual.io.camera_files import load_camera_path
from tests.studio_server import Studio, browser, have_browser

ROCKET = Path(skimage.__file__).parent / "data" / "rocket.jpg"  # a photograph no one here made

needs_browser = pytest.mark.skipif(not have_browser(), reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")


def _frames(mp4: Path) -> int:
    return imageio_ffmpeg.count_frames_and_secs(str(mp4))[0]


def _upload(studio: Studio, file: Path) -> tuple[int, dict]:
    boundary = "perpetualboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file.name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + file.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(studio.url + "/api/upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def studio(tmp_path: Path):
    server = Studio(tmp_path / "work")
    yield server
    server.stop()


def test_bad_requests_get_one_line_and_the_server_keeps_serving(studio: Studio, tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for bad in (text, empty):
        status, answer = _upload(studio, bad)
        assert status == 400 and bad.name in answer["error"] and "\n" not in answer["error"]
        assert str(tmp_path) not in answer["error"]  # the server's own paths stay its own
    assert studio.post("/api/render", {"size": [15, 16]})[0] == 400
    assert "unknown config" in studio.post("/api/render", {"config": "nope"})[1]["error"]
    assert "upload the photo again" in studio.post("/api/render", {"image": "../../etc/passwd"})[1]["error"]
    assert "speed" in studio.post("/api/plan", {"path": {"generator": "forward", "params": {"speed": "fast"}}})[1]["error"]
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(studio.url + "/files/renders/..%2F..%2F/job.json")
    assert "speed" in studio.post("/api/render", {"path": {"generator": "forward", "params": {"speed": "fast"}}})[1]["error"]
    assert os.listdir(studio.workdir / "renders") == []  # refused flights leave no folders
    status, answer = _upload(studio, ROCKET)  # the next upload works
    assert status == 200 and (answer["width"], answer["height"]) == (640, 427)


def test_a_render_survives_a_server_restart(tmp_path: Path) -> None:
    work = tmp_path / "work"
    first = Studio(work)
    status, job = first.post("/api/render", {"size": [64, 64], "frames": 90, "config": "classical", "path": {"generator": "orbit"}})
    assert status == 200
    folder = work / "renders" / job["id"]
    first.wait(job["id"], lambda s: s["done"] >= 62)  # past the checkpoint taken at about frame 30 (every 30 frames, at a keyframe)
    first.stop(kill=True)  # as a crash or a reboot
    assert (folder / ".flight.mp4.partial" / "state.json").is_file()  # a checkpoint to resume from
    second = Studio(work)
    try:
        done = second.wait(job["id"], lambda s: s["state"] in ("done", "failed"))
        assert done["state"] == "done", done
        assert done["made"] <= 90 - 30  # resumed from a checkpoint, not started over
        assert set(done["files"]) >= {"flight.mp4", "flight.depth.mp4", "flight.poses.json", "flight.run.json", "scene.ply"}
        assert _frames(folder / "flight.mp4") == 90
    finally:
        second.stop()


def test_a_full_queue_says_busy(tmp_path: Path) -> None:
    studio = Studio(tmp_path / "work", "--config", "classical")
    try:
        flight = {"size": [64, 64], "frames": 300, "config": "classical"}
        answers = [studio.post("/api/render", flight) for _ in range(7)]  # one renders, four wait
        busy = [a for s, a in answers if s == 429]
        assert busy and all(a["error"].startswith("busy:") for a in busy)
        assert studio.get("/api/presets")["configs"]  # still serving
        for status, job in answers:
            if status == 200:
                studio.post(f"/api/render/{job['id']}/cancel", {})
    finally:
        studio.stop()


def _wait(driver, condition, timeout: float = 120):  # noqa: ANN001
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: condition(d))


@pytest.fixture
def driver(studio: Studio, tmp_path: Path):
    """Chromium with the studio's page loaded (its presets arrived)."""
    from selenium.webdriver.common.by import By

    chromium = browser(tmp_path / "downloads")
    try:
        chromium.get(studio.url)
        _wait(chromium, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#config option")) > 3)
        yield chromium
    finally:
        chromium.quit()


@needs_browser
def test_upload_preview_and_render_in_the_browser(studio: Studio, driver, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    text = tmp_path / "holiday.jpg"
    text.write_text("a text file, not a photo")
    driver.find_element(By.ID, "photo").send_keys(str(text))
    _wait(driver, lambda d: d.find_element(By.ID, "upload-error").is_displayed())
    assert "holiday.jpg" in driver.find_element(By.ID, "upload-error").text
    driver.find_element(By.ID, "photo").send_keys(str(ROCKET))  # the next upload works
    _wait(driver, lambda d: "photo rocket.jpg" in d.find_element(By.ID, "start-status").text)
    assert not driver.find_element(By.ID, "upload-error").is_displayed()

    Select(driver.find_element(By.ID, "size")).select_by_visible_text("64x64")
    frames = driver.find_element(By.ID, "frames")
    frames.clear()
    frames.send_keys("24")
    driver.find_element(By.ID, "preview-btn").click()
    _wait(driver, lambda d: d.find_element(By.ID, "preview-video").is_displayed() and
          d.execute_script("return document.getElementById('preview-video').readyState") >= 2)
    assert driver.execute_script("return document.getElementById('path-plot').naturalWidth") > 0

    driver.find_element(By.ID, "render-btn").click()
    _wait(driver, lambda d: d.find_element(By.ID, "render-video").is_displayed(), timeout=300)
    _wait(driver, lambda d: d.execute_script("return document.getElementById('render-video').readyState") >= 2)
    duration = driver.execute_script("return document.getElementById('render-video').duration")
    assert math.isclose(duration, 24 / 30, abs_tol=1 / 30 + 1e-6), duration
    driver.execute_script("const v = document.getElementById('render-video'); v.muted = true; v.play();")
    _wait(driver, lambda d: d.execute_script("return document.getElementById('render-video').currentTime") > 0.1, timeout=20)
    names = {a.get_attribute("data-file") for a in driver.find_elements(By.CSS_SELECTOR, "#render-files a")}
    assert names == {"flight.mp4", "flight.depth.mp4", "flight.poses.json", "flight.run.json", "scene.ply"}
    job = driver.execute_script("return window.studio.state.job")
    folder = studio.workdir / "renders" / job
    assert _frames(folder / "flight.mp4") == 24 and len(load_camera_path(str(folder / "flight.poses.json")).path) == 24
    assert json.loads((folder / "flight.run.json").read_text())["start"].endswith(".jpg")


def _centres(poses_json: Path) -> torch.Tensor:
    return invert_pose(load_camera_path(str(poses_json)).path.poses)[:, :3, 3]


@needs_browser
def test_fly_live_with_the_keyboard_record_and_replay(studio: Studio, driver, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "size")).select_by_visible_text("128x128")
    driver.find_element(By.ID, "live-start").click()
    _wait(driver, lambda d: d.execute_script("return window.studio.stats.frames") > 5)
    driver.find_element(By.ID, "record-btn").click()
    _wait(driver, lambda d: (d.execute_script("return window.studio.stats.last.recording") or 0) > 3)
    view = driver.find_element(By.ID, "live-view")
    view.click()
    hold = ActionChains(driver)
    hold.key_down("w").pause(2.0).key_up("w").pause(0.5).key_down("d").pause(1.5).key_up("d").pause(0.5).perform()
    driver.find_element(By.ID, "stop-btn").click()
    _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#live-files a")) == 2)
    assert driver.execute_script("return window.studio.stats.errors") == []
    session = driver.find_element(By.CSS_SELECTOR, "#live-files a").get_attribute("href").split("/")[-2]
    was = driver.execute_script("return window.studio.stats.last.position")
    ActionChains(driver).send_keys(" ").perform()  # Space: the autopilot flies on from here
    _wait(driver, lambda d: d.execute_script("return window.studio.stats.last.autopilot"), timeout=20)
    _wait(driver, lambda d: d.execute_script("return window.studio.stats.last.position")[2] > was[2] + 0.02, timeout=30)
    ActionChains(driver).send_keys(" ").perform()  # and back to the keys
    _wait(driver, lambda d: not d.execute_script("return window.studio.stats.last.autopilot"), timeout=20)
    folder = studio.workdir / "live" / session
    centres = _centres(folder / "recording.poses.json")
    assert len(centres) == _frames(folder / "recording.mp4") >= 20
    assert torch.allclose(centres[0], torch.zeros(3, dtype=centres.dtype))  # a recording starts from the photo
    forward, right = float(centres[-1, 2]), float(centres[-1, 0])
    assert forward > 0.1  # W: forward (+z), ~2 s at 15 frames/s x 0.02
    moved_right = centres[:, 0].diff()
    assert right > 0.05 and float(moved_right.min()) > -1e-9  # D: right (+x), never left
    assert float(centres[:, 1].abs().max()) < 1e-9  # no key moved it up or down
    z_after_w = float(centres[(centres[:, 0] > 1e-6).nonzero()[0, 0], 2])
    assert math.isclose(z_after_w, forward, abs_tol=0.02 + 1e-9)  # the strafe came after the forward move, not with it

    from perpetual.cli import main  # the recording replays from the same start with the same poses

    replay = tmp_path / "replay.mp4"
    assert main(["fly", "--trajectory", str(folder / "recording.poses.json"), "--out", str(replay), "--config", "classical",
                 "--set", "guard.on_clearance=warn"]) == 0
    assert torch.allclose(_centres(tmp_path / "replay.poses.json"), centres)
    assert _frames(replay) == len(centres)


def test_the_live_socket_answers_bad_messages_and_keeps_flying(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from perpetual.studio.app import create_app

    client = TestClient(create_app(tmp_path / "work", max_live=1))
    with client.websocket_connect("/ws/live") as socket:
        socket.send_text("not json")
        assert socket.receive_json() == {"type": "error", "message": "a message must be a JSON object"}
        socket.send_json({"type": "controls", "keys": ["w"]})
        assert socket.receive_json()["message"] == "start a flight first"
        socket.send_json({"type": "start", "image": "0123456789abcdef.png"})
        assert "upload the photo again" in socket.receive_json()["message"]
        socket.send_json({"type": "start", "config": "classical", "size": [32, 32]})
        assert socket.receive_bytes()[:2] == b"\xff\xd8"  # a JPEG
        assert socket.receive_json()["type"] == "frame"
        with client.websocket_connect("/ws/live") as second:  # one live flight at most here
            assert second.receive_json()["message"].startswith("busy:")
        socket.send_json({"type": "dance"})
        for _ in range(20):  # frames keep coming; the error comes between them
            message = socket.receive()
            if "text" in message and '"error"' in message["text"]:
                assert "unknown message type 'dance'" in message["text"]
                break
        else:
            raise AssertionError("no error for an unknown message")
