"""The studio's web app: a page, a JSON API for uploads, plans and renders, a WebSocket for live flight.

Routes (every error is JSON ``{"error": "one line"}`` with a 4xx status; the server keeps serving):

* ``GET /``: the page; ``GET /api/presets``: configs and camera path presets with their params.
* ``POST /api/upload`` (multipart ``file``): a photo, checked; ``{"upload": ID, "width", "height"}``.
* ``POST /api/plan`` (a flight spec, :mod:`perpetual.studio.spec`): the path drawn, a fast preview.
* ``POST /api/render``: queue a flight; ``GET /api/render/ID``: its progress and files;
  ``GET /api/render/ID/frame.jpg``: its latest frame; ``POST /api/render/ID/cancel``.
* ``GET /files/KIND/ID/NAME``: a file of a plan, render or live recording.
* ``WS /ws/live``: a live flight (messages in :func:`_live`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from perpetual.flight import start_frame
from perpetual.io.images import load_image
from perpetual.studio.engines import Engines, jpeg
from perpetual.studio.live import LiveSession
from perpetual.studio.plans import preview
from perpetual.studio.renders import Busy, RenderQueue
from perpetual.studio.spec import Start, plan_flight, presets

__all__ = ["create_app", "MAX_UPLOAD"]

MAX_UPLOAD = 40 * 2**20  # bytes
STATIC = Path(__file__).parent / "static"
_KINDS = ("plans", "renders", "live")
_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _spec(request: Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("the request body must be a JSON object") from None


def create_app(workdir: str | Path, *, config: str = "default", device: str = "auto", max_live: int = 2,
               queue: int = 4, live_fps: float = 15.0) -> Starlette:
    """The studio over ``workdir`` (uploads, plans, renders and recordings live there)."""
    root = Path(workdir)
    uploads = root / "uploads"
    for sub in ("uploads", *_KINDS):
        (root / sub).mkdir(parents=True, exist_ok=True)
    engines = Engines(device)
    renders = RenderQueue(root, engines, uploads, limit=queue)
    live_count = [0]

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def api_presets(request: Request) -> Response:
        return JSONResponse({**presets(), "default_config": config, "live_fps": live_fps})

    async def upload(request: Request) -> Response:
        form = await request.form(max_files=1, max_fields=4)
        file = form.get("file")
        if file is None or isinstance(file, str):
            return _error("no file in the upload: send it as the form field 'file'")
        name = Path(file.filename or "upload").name
        data = await file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return _error(f"{name} is over {MAX_UPLOAD // 2**20} MB; downscale it first", 413)
        with tempfile.TemporaryDirectory(dir=uploads) as tmp:
            candidate = Path(tmp) / "upload"
            candidate.write_bytes(data)
            try:
                await asyncio.to_thread(load_image, candidate, 64, 64)  # decodes it as a flight will, or names the problem
            except ValueError as err:
                return _error(str(err).replace(str(candidate), name))
            with Image.open(candidate) as img:
                width, height, ext = img.width, img.height, _FORMATS.get(img.format or "", "png")
            stored = f"{hashlib.sha256(data).hexdigest()[:16]}.{ext}"
            candidate.replace(uploads / stored)
        return JSONResponse({"upload": stored, "name": name, "width": width, "height": height})

    async def plan(request: Request) -> Response:
        folder = root / "plans" / secrets.token_hex(6)
        folder.mkdir()
        try:
            planned = plan_flight(await _spec(request), uploads, folder)
            engine = await asyncio.to_thread(engines.get, planned.config)
            names = await asyncio.to_thread(preview, engine, planned, folder)
        except ValueError as err:
            return _error(str(err))
        return JSONResponse({"id": folder.name, "files": names, "frames": len(planned.path), "fps": planned.path.fps,
                             "closed_loop": planned.closed_loop})

    async def render(request: Request) -> Response:
        try:
            job = await asyncio.to_thread(renders.submit, await _spec(request))
        except ValueError as err:
            return _error(str(err))
        except Busy as err:
            return _error(str(err), 429)
        return JSONResponse(job.status())

    def _job(request: Request):  # noqa: ANN202
        job = renders.jobs.get(request.path_params["id"])
        if job is None:
            raise KeyError(request.path_params["id"])
        return job

    async def render_status(request: Request) -> Response:
        try:
            return JSONResponse(_job(request).status())
        except KeyError:
            return _error("no such render", 404)

    async def render_frame(request: Request) -> Response:
        try:
            shot = _job(request).preview
        except KeyError:
            return _error("no such render", 404)
        return Response(shot, media_type="image/jpeg") if shot else Response(status_code=204)

    async def render_cancel(request: Request) -> Response:
        try:
            renders.cancel(request.path_params["id"])
        except KeyError:
            return _error("no such render", 404)
        return JSONResponse({"ok": True})

    async def files(request: Request) -> Response:
        kind, ident, name = (request.path_params[k] for k in ("kind", "id", "name"))
        folder = root / kind
        target = folder / ident / name
        if kind not in _KINDS or not ident.isalnum() or "/" in name or name.startswith(".") or not target.is_file():
            return _error("no such file", 404)
        return FileResponse(target, filename=name if request.query_params.get("download") else None)

    async def live(socket: WebSocket) -> None:
        await socket.accept()
        if live_count[0] >= max_live:
            await socket.send_json({"type": "error", "message": f"busy: {max_live} live flights are running; close one first"})
            await socket.close()
            return
        live_count[0] += 1
        try:
            await _live(socket, engines, uploads, root / "live", live_fps)
        finally:
            live_count[0] -= 1

    routes = [
        Route("/", page), Route("/api/presets", api_presets), Route("/api/upload", upload, methods=["POST"]),
        Route("/api/plan", plan, methods=["POST"]), Route("/api/render", render, methods=["POST"]),
        Route("/api/render/{id}", render_status), Route("/api/render/{id}/frame.jpg", render_frame),
        Route("/api/render/{id}/cancel", render_cancel, methods=["POST"]),
        Route("/files/{kind}/{id}/{name}", files), WebSocketRoute("/ws/live", live),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)


async def _start_session(message: dict, engines: Engines, uploads: Path, folder: Path, fps: float) -> LiveSession:
    """A live session from a ``start`` message (a flight spec without a path)."""
    start = Start(message, uploads)
    planned = plan_flight({**message, "path": {"generator": "forward"}, "frames": 2}, uploads, folder)
    engine = await asyncio.to_thread(engines.get, planned.config)
    image, disparity = await asyncio.to_thread(start_frame, planned)
    return await asyncio.to_thread(LiveSession, engine, image, disparity, fov=start.fov, prompt=start.prompt,
                                   seed=start.seed, folder=folder, fps=fps)


async def _live(socket: WebSocket, engines: Engines, uploads: Path, root: Path, fps: float) -> None:
    """The live protocol. The page sends JSON: ``{"type": "start", ...a flight spec...}``,
    ``{"type": "controls", "keys": [...], "look": [right, up], "seq": N}``, ``{"type": "autopilot"}``
    (toggle), ``{"type": "record"}``, ``{"type": "stop"}``. The server sends each frame as a JPEG
    (binary) followed by its JSON ``{"type": "frame", "index", "seq", ...}``; ``{"type":
    "recording", "files": [...], "id"}`` after a stop; ``{"type": "error", "message"}``."""
    folder = root / secrets.token_hex(6)
    folder.mkdir()
    session: LiveSession | None = None
    period = 1.0 / fps

    async def receive() -> None:
        nonlocal session
        while True:
            text = await socket.receive_text()
            try:
                message = json.loads(text)
                kind = message.get("type") if isinstance(message, dict) else None
                if kind == "start":
                    if session is not None:
                        session.close()
                        session = None
                    session = await _start_session(message, engines, uploads, folder, fps)
                elif session is None:
                    raise ValueError("start a flight first")
                elif kind == "controls":
                    look = message.get("look", [0, 0])
                    session.control(list(message.get("keys", [])), (float(look[0]), float(look[1])), int(message.get("seq", 0)))
                elif kind == "autopilot":
                    await asyncio.to_thread(session.toggle_autopilot)
                elif kind == "record":
                    await asyncio.to_thread(session.record)
                elif kind == "stop":
                    names = await asyncio.to_thread(session.stop_recording)
                    await socket.send_json({"type": "recording", "id": folder.name, "files": names})
                else:
                    raise ValueError(f"unknown message type {kind!r}")
            except json.JSONDecodeError:
                await socket.send_json({"type": "error", "message": "a message must be a JSON object"})
            except (ValueError, TypeError, IndexError) as err:
                await socket.send_json({"type": "error", "message": str(err)})

    async def show() -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            if session is None:
                await asyncio.sleep(0.05)
                due = loop.time()
                continue
            current = session
            frame = await asyncio.to_thread(current.tick)
            shot = await asyncio.to_thread(jpeg, frame.image)
            await socket.send_bytes(shot)
            await socket.send_json({"type": "frame", "index": frame.index, "seq": current.seq, "keyframes": current.flight.keyframes,
                                    "refining": current.flight.refining, "autopilot": current.autopilot_on,
                                    "recording": current.recording, "position": current.position()})
            due = max(due + period, loop.time())
            await asyncio.sleep(due - loop.time())

    tasks = [asyncio.create_task(receive()), asyncio.create_task(show())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, WebSocketDisconnect):
                raise error
    finally:
        for task in tasks:
            task.cancel()
        if session is not None:
            await asyncio.to_thread(session.close)
