#!/usr/bin/env bash
# The GPU figures of RESULTS.md in one pass (about 8 minutes on one H100), for a machine lent briefly:
#   1. the default flight on the automatically chosen device (`perpetual fly`, as `make fly` runs it),
#      the CUDA-only renderer tests (CUDA graph replay = eager), the renderer alone against
#      kornia's warp (bench_render.py; RENDER_ARGS=--no-compile skips compiling), the flight's speed by stage
#      (bench_fly.py), and its scores against the world's truth (`eval flight`, from the true start
#      and from the depth model's estimate), to compare with the CPU's;
#   2. every model backend at full size with random weights, half precision, 20 steps (bench_models.py), SDXL
#      at 512² and 1024², peak GPU memory against the 8 GB (SD 1.5) and 16 GB (SDXL) budgets;
#   3. `perpetual fly --config sd15-controlnet-depth` end to end on those folders (no hub ids);
#   4. the SD 1.5 UNet under torch.compile;
#   5. the embedded inpainter's training on the GPU (`perpetual train inpainter --device cuda`), timed;
#   6. the refiner of magnified pixels (`train-refiner`, not in the default pass: ONLY=train-refiner): the
#      embedded inpainter fine-tuned on pairs with long steps (--far), all timesteps, visible pixels
#      weighted as holes; its model and samples are copied to OUTDIR/refiner, and REFINER_FLIGHTS="0 1"
#      flies it 1000 frames over those worlds.
# Usage: benchmarks/gpu_check.sh OUTDIR   (the random-weight folders go to runs/bench-models)
#        ONLY="fly-default eval-flight" benchmarks/gpu_check.sh OUTDIR   (some steps only)
# Each step has its own time limit, so one that hangs costs only its own figures.
set -u
out=${1:-runs/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
cache=runs/bench-models
flights=runs/gpu-flights  # outputs beside the kept files, to keep OUTDIR to five files
mkdir -p "$flights"
if ! command -v perpetual >/dev/null; then  # run from the checkout, not installed
    bin=$(mktemp -d)
    printf '#!/bin/sh\nexec python3 -c "import sys; from perpetual.cli import main; sys.exit(main())" "$@"\n' >"$bin/perpetual"
    chmod +x "$bin/perpetual"
    export PATH="$bin:$PATH"
fi
only=" ${ONLY:-} "
step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2 began=$SECONDS
    shift 2
    [[ -n "${ONLY:-}" && "$only" != *" $name "* ]] && return
    echo "== $name: $*"
    timeout "$limit" "$@"
    echo "== $name: exit $? after $((SECONDS - began)) s"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, diffusers, transformers; print("torch", torch.__version__, "diffusers", diffusers.__version__,
"transformers", transformers.__version__, torch.cuda.get_device_name())'

# The random-weight folders, built on the CPU while the GPU flies the default pipeline (only
# where a selected step loads them).
sdxl=$([[ -z "${ONLY:-}" || "$only" == *sdxl* ]] && echo 1 || echo 0)
models=$([[ -z "${ONLY:-}" || "$only" =~ bench-models|sdxl|sd15|bench-compile ]] && echo 1 || echo 0)
[[ $models == 1 ]] && python3 - "$cache" "$sdxl" >"$out/build.log" 2>&1 <<'EOF' &
import sys, time
from pathlib import Path
import torch
sys.path.insert(0, "benchmarks")
from bench_models import build
torch.set_num_threads(8)
names = ["depth-anything-v2-small", "sd15-inpainting", "sd15-controlnet-depth", "sd15-depth-adapter"]
for name in names + (["sdxl-inpainting", "sdxl-controlnet-depth"] if sys.argv[2] == "1" else []):
    build(Path(sys.argv[1]), name)
EOF
builder=$!

step fly-default 120 perpetual fly --frames 120 --out "$flights/fly-default.mp4"
# graph-test needs pytest on the machine (pure-Python wheels: pytest, pluggy, iniconfig)
step graph-test 120 python3 -m pytest -q -p no:cacheprovider tests/test_render.py -k "cuda or sync_free or blocks"
step bench-render 240 python3 benchmarks/bench_render.py --device cuda --repeats 25 ${RENDER_ARGS:-}
step bench-fly-256 120 python3 benchmarks/bench_fly.py --device cuda
step bench-fly-512 120 python3 benchmarks/bench_fly.py --device cuda --size 512
step bench-fly-compiled 240 python3 benchmarks/bench_fly.py --device cuda --size 512 --set render.compile=true
step eval-flight 180 perpetual eval flight --device cuda --frames 300 --json "$out/eval-flight-cuda.json"
step eval-flight-estimated 180 perpetual eval flight --device cuda --frames 300 --estimated-start \
    --json "$out/eval-flight-estimated-cuda.json"  # the depth model on the GPU (bf16), as from a photo

[[ -f "$flights/fly-default.mp4" ]] && cp "$flights/fly-default.mp4" "$out/"
if [[ $models == 1 ]]; then echo "== waiting for the model folders"; wait "$builder"; cat "$out/build.log"; fi
step bench-models 300 python3 benchmarks/bench_models.py --device cuda --steps 20 --repeats 3 --cache "$cache" --backends \
    classical embedded-depth depth-anything-v2-small sd15-inpaint sd15-controlnet-depth sd15-adapter-depth sd15-lcm-fast
step bench-sdxl 240 python3 benchmarks/bench_models.py --device cuda --steps 20 --repeats 2 --cache "$cache" --backends \
    sd15-inpaint sdxl-controlnet-depth
step bench-sdxl-1024 180 python3 benchmarks/bench_models.py --device cuda --steps 20 --repeats 2 --size 1024 --cache "$cache" \
    --backends sdxl-controlnet-depth
step fly-sd15-controlnet 180 perpetual fly --config sd15-controlnet-depth --prompt "alpine lake, pine forest" --frames 24 \
    --size 512x512 --set models.depth="$cache/depth-anything-v2-small" --set models.inpainter="sd:$cache/sd15-inpainting" \
    --set models.controlnet="$cache/sd15-controlnet-depth" --out "$flights/fly-sd15-controlnet.mp4"
step bench-compile 300 python3 benchmarks/bench_models.py --device cuda --steps 20 --repeats 3 --cache "$cache" --compile \
    --backends sd15-inpaint
step train-inpainter 300 perpetual train inpainter --device cuda --steps 400 --pairs 96 --size 112 --batch 64 \
    --out runs/gpu-train  # the pairs are rendered on the CPU first; tqdm shows steps per second
# On a lent H200 (ninth session) pairs rendered on its GPU took 0.3 s each, worlds included (the 2-core
# CPU box: 0.11 s), so they are rendered on the CPU again; training ran at ~90 ms a step: size the step to fit.
step train-refiner 420 perpetual train inpainter --device cuda --init embedded:inpainter --far 0.5 --visible-weight 1 \
    --pairs "${REFINER_PAIRS:-400}" --size 128 --crop "${REFINER_CROP:-96}" --batch 48 --steps "${REFINER_STEPS:-3000}" --lr 5e-4 \
    --out runs/refiner
if [[ "$only" == *" train-refiner "* ]]; then
    [[ -d runs/refiner/final ]] || python3 - <<'EOF'  # cut short: the last checkpoint's EMA weights as the model
import torch
from pathlib import Path
from perpetual.train.common import load_checkpoint
from perpetual.train.inpainter import initial_inpainter_unet
model = initial_inpainter_unet()
_, ema = load_checkpoint(Path("runs/refiner/checkpoint"), model, torch.optim.AdamW(model.parameters()))
model.load_state_dict(ema, strict=False)
model.save_pretrained("runs/refiner/final", safe_serialization=True)
EOF
    mkdir -p "$out/refiner"
    cp -r runs/refiner/final runs/refiner/samples runs/refiner/checkpoint/state.json "$out/refiner/"
fi
for seed in ${REFINER_FLIGHTS:-}; do  # the refiner in a flight, on the GPU
    step refiner-flight-$seed 150 perpetual eval flight --device cuda --frames "${REFINER_FRAMES:-1000}" --seed "$seed" \
        --set models.inpainter=runs/refiner/final --set models.steps=8 --set engine.refresh_magnified=0.5 \
        --json "$out/refiner/flight-$seed.json"
done
