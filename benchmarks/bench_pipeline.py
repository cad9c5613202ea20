"""Speed and memory of MangaNinjaPipeline at the real (SD1.5-size) architecture, random weights.

Reports, for one resolution / step count / dtype / device / mode: seconds per image (median of
``--runs`` after ``--warmup``), seconds per denoising step, the reference pass (CLIP + VAE encode
+ reference U-Net), network evaluations per step with their batch sizes, and peak memory (RSS on
CPU, ``torch.cuda.max_memory_allocated`` on CUDA). Appends a JSON record and prints a Markdown row.

    python benchmarks/bench_pipeline.py --resolution 512 --steps 2 --runs 2 --json runs/bench.json
    python benchmarks/bench_pipeline.py --device cuda --dtype fp16 --resolution 512 --steps 20 --fast
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import torch
from PIL import Image

from bench_gpu import DTYPES, count_calls, synchronize  # this folder (sys.path[0] when run as a script)
from manganinja.cli import run_script
from manganinja.images import write_json_atomic
from manganinja.models.factory import build_components
from manganinja.pipeline import MangaNinjaPipeline
from manganinja.requests import RequestError, check_report_path


def earlier_records(ap: argparse.ArgumentParser, path: Path | None) -> list[dict]:
    """The records already in ``--json`` (a JSON list; none when the file is new), read before
    the run so that a file that is not such a list is refused in one line, not after the run."""
    if path is None:
        return []
    try:
        check_report_path(path, "--json")
        records = json.loads(path.read_text()) if path.exists() else []
    except RequestError as exc:
        ap.exit(2, f"error: {exc}\n")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        ap.exit(2, f"error: --json '{path}' cannot be read as JSON ({exc}); give a new file or one this script wrote\n")
    if not isinstance(records, list):
        ap.exit(2, f"error: --json '{path}' holds a JSON {type(records).__name__}, not a list of records; give a new file or one this script wrote\n")
    return records


class PeakRSS:
    """Samples the process's resident set size in a thread; ``peak`` in bytes."""

    def __init__(self, interval: float = 0.02) -> None:
        self.proc = psutil.Process(os.getpid())
        self.peak = self.proc.memory_info().rss
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def official_component_bytes(components: dict, dtype_bytes: int = 4) -> dict[str, int]:
    """Weights the official pipeline holds: both U-Nets, the ControlNet, the VAE, the PointNet,
    two CLIP vision and two CLIP text encoders (ViT-L/14: 123M text parameters), in fp32."""
    params = {k: sum(p.numel() for p in v.parameters()) for k, v in components.items() if isinstance(v, torch.nn.Module)}
    clip_text_params = 123_060_480  # CLIP ViT-L/14 text tower (12 layers, width 768)
    total = (
        params["reference_unet"] + params["denoising_unet"] + params["controlnet"] + params["vae"]
        + params["point_net"] + 2 * params["image_encoder"] + 2 * clip_text_params
    )
    ours = sum(params.values())
    return {"official_weights_bytes": total * dtype_bytes, "our_weights_bytes": ours * dtype_bytes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--steps", type=int, default=None, help="default: 50 exact, 20 fast")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--fast", action="store_true", help="DPM-Solver++ (and torch.compile on CUDA)")
    ap.add_argument("--offload", choices=["none", "reference", "model"], default="none")
    ap.add_argument("--attention-chunk", type=int, default=None)
    ap.add_argument("--size", choices=["sd15", "tiny"], default="sd15")
    ap.add_argument("--json", type=Path, default=None, help="append the record to this JSON list")
    args = ap.parse_args()
    records = earlier_records(ap, args.json)

    torch.manual_seed(0)
    t0 = time.perf_counter()
    components = build_components(args.size, seed=0)
    sizes = official_component_bytes(components)
    pipe = MangaNinjaPipeline(**components).to_dtype(DTYPES[args.dtype])
    if args.offload == "model":
        pipe.enable_model_cpu_offload(device=args.device)
    else:
        pipe.to(args.device)
        if args.offload == "reference":
            pipe.enable_reference_offload()
    if args.attention_chunk:
        pipe.set_attention_chunk(args.attention_chunk)
    if args.fast and args.device.startswith("cuda"):
        pipe.compile(mode="max-autotune-no-cudagraphs")
    build_s = time.perf_counter() - t0
    gc.collect()
    # Peak RSS of loading + sampling, counted from here: building random fp32 weights and casting
    # them is not what loading a saved model costs.
    rss = PeakRSS()
    rss.__enter__()
    loaded_rss = rss.peak

    rng = np.random.default_rng(0)
    res = args.resolution
    reference = Image.fromarray(rng.integers(0, 255, (res, res, 3), dtype=np.uint8))
    line = np.zeros((res, res), np.uint8)
    line[:: max(4, res // 32), :] = 255
    lineart = Image.fromarray(line)

    def one_run() -> tuple[float, float, dict]:
        synchronize(args.device)
        start = time.perf_counter()
        encoding = pipe.encode_reference(reference, resolution=res)
        synchronize(args.device)
        ref_s = time.perf_counter() - start
        counts, handles = count_calls(pipe)
        try:
            pipe(reference_encoding=encoding, lineart=lineart, num_inference_steps=args.steps, resolution=res,
                 fast=args.fast, progress=False, generator=torch.Generator().manual_seed(0))
        finally:
            for h in handles:
                h.remove()
        synchronize(args.device)
        return time.perf_counter() - start, ref_s, counts

    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for _ in range(args.warmup):
        one_run()
    totals, refs = [], []
    counts: dict = {}
    for _ in range(args.runs):
        total, ref_s, counts = one_run()
        totals.append(total)
        refs.append(ref_s)
    rss.__exit__()
    steps = len(counts["denoising_unet"])
    image_s = statistics.median(totals)
    ref_s = statistics.median(refs)
    record = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "size": args.size,
        "resolution": res,
        "dtype": args.dtype,
        "mode": "fast" if args.fast else "exact",
        "offload": args.offload,
        "attention_chunk": args.attention_chunk,
        "steps": steps,
        "runs": args.runs,
        "seconds_per_image": round(image_s, 3),
        "seconds_per_step": round((image_s - ref_s) / steps, 3),
        "reference_pass_seconds": round(ref_s, 3),
        "evaluations_per_step": {
            "denoising_unet_batch": sorted(set(counts["denoising_unet"])),
            "controlnet_batch": sorted(set(counts["controlnet"])),
            "reference_unet_calls_per_image": len(counts["reference_unet"]),
        },
        "rss_after_load_gb": round(loaded_rss / 2**30, 2),
        "peak_rss_gb": round(rss.peak / 2**30, 2),
        "peak_cuda_allocated_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if args.device.startswith("cuda") else None,
        "our_weights_gb": round(sizes["our_weights_bytes"] / 2**30, 2) * (1 if args.dtype == "fp32" else 0.5),
        "official_weights_fp32_gb": round(sizes["official_weights_bytes"] / 2**30, 2),
        "build_seconds": round(build_s, 1),
        "torch": torch.__version__,
    }
    print(json.dumps(record, indent=1))
    mem = record["peak_cuda_allocated_gb"] if record["peak_cuda_allocated_gb"] is not None else record["peak_rss_gb"]
    print(
        f"| {record['device_name']} ({args.device}) | {res} | {args.dtype} | {record['mode']} | {args.offload} | {steps} | "
        f"{record['seconds_per_image']} | {record['seconds_per_step']} | {record['reference_pass_seconds']} | "
        f"U-Net x{record['evaluations_per_step']['denoising_unet_batch']}, ControlNet x{record['evaluations_per_step']['controlnet_batch']} | "
        f"{mem} GB |"
    )
    if args.json:
        write_json_atomic([*records, record], args.json)


if __name__ == "__main__":
    run_script(main)
