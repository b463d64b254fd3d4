"""The studio's live view: frames per second shown, the longest gap, key-to-frame latency.

Starts a real ``perpetual studio`` (uvicorn, a subprocess), flies a photo live over its
WebSocket at 256x256 on the embedded default, as the page does: W held, a key change every
second (W, W+D, W+A, ...), then the autopilot. Frames count as shown when their JPEG and
metadata have arrived (the browser's decode, ~1 ms at this size, is not included). Beside it,
in the same run, the offline ``perpetual fly`` frame rate of the same photo and size.

    python benchmarks/bench_studio.py [--seconds 30] [--size 256x256] [--config default]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import skimage
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.studio_server import Studio  # noqa: E402

PHOTO = Path(skimage.__file__).parent / "data" / "rocket.jpg"
KEYS = [["w"], ["w", "d"], ["w"], ["w", "a"], ["s"], ["w", "arrowright"], ["w", "arrowleft"], ["w", "e"], ["w", "q"]]


def upload(studio: Studio) -> str:
    from tests.test_studio import _upload

    status, answer = _upload(studio, PHOTO)
    assert status == 200, answer
    return answer["upload"]


async def fly_live(url: str, start: dict, seconds: float) -> dict:
    shown, latencies, pending, seq = [], [], [], 0
    async with websockets.connect(url, max_size=2**24) as socket:
        await socket.send(json.dumps({"type": "start", **start}))
        began, switched, autopilot = None, 0.0, False
        while True:
            message = await socket.recv()
            if isinstance(message, bytes):
                continue
            meta = json.loads(message)
            if meta["type"] == "error":
                raise RuntimeError(meta["message"])
            now = time.perf_counter()
            if began is None:  # the first frame: the models are loaded, the flight begins
                began = switched = now
            shown.append(now)
            while pending and pending[0][0] <= meta["seq"]:
                latencies.append(now - pending.pop(0)[1])
            if now - began > seconds:
                break
            if now - switched >= 1.0:  # a key change every second, like a person steering
                switched = now
                if not autopilot and now - began > 0.75 * seconds:
                    autopilot = True
                    await socket.send(json.dumps({"type": "autopilot"}))
                seq += 1
                pending.append((seq, time.perf_counter()))
                await socket.send(json.dumps({"type": "controls", "keys": KEYS[seq % len(KEYS)], "look": [0, 0], "seq": seq}))
        keyframes = meta["keyframes"]
    gaps = [b - a for a, b in zip(shown, shown[1:])]
    return {"frames": len(shown), "fps": (len(shown) - 1) / (shown[-1] - shown[0]), "max_gap_ms": 1000 * max(gaps),
            "p95_gap_ms": 1000 * sorted(gaps)[int(0.95 * len(gaps))], "median_latency_ms": 1000 * statistics.median(latencies),
            "max_latency_ms": 1000 * max(latencies), "keyframes": keyframes}


def offline(config: str, size: tuple[int, int], frames: int = 120) -> float:
    from perpetual.flight import fly

    with tempfile.TemporaryDirectory() as tmp:
        result = fly(PHOTO, "forward", Path(tmp) / "f.mp4", config=config, frames=frames, size=size, progress=False, device="cpu")
    return result.made / result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--config", default="default")
    parser.add_argument("--fps", type=float, default=15.0, help="the live view's pace (the studio's default: 15)")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio(Path(tmp) / "work", "--config", args.config)
        try:
            start = {"image": upload(studio), "config": args.config, "size": [width, height]}
            live = asyncio.run(fly_live(f"ws://127.0.0.1:{studio.port}/ws/live", start, args.seconds))
        finally:
            studio.stop()
    rate = offline(args.config, (width, height))
    print(f"live, {args.size} {args.config}, {args.seconds:.0f} s (paced at {args.fps:.0f}/s): {live['fps']:.1f} frames/s shown, "
          f"gap max {live['max_gap_ms']:.0f} ms (p95 {live['p95_gap_ms']:.0f}), key to frame median "
          f"{live['median_latency_ms']:.0f} ms (max {live['max_latency_ms']:.0f}), {live['keyframes']} keyframes")
    print(f"offline perpetual fly, same photo and size, 120 frames forward: {rate:.1f} frames/s")
    print(json.dumps({"live": live, "offline_fps": rate}))


if __name__ == "__main__":
    main()
