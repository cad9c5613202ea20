"""Speed and memory of MangaNinja on one device, every setting in one run (issue 21).

One command measures, for one reference, one line art, ``--resolution`` and ``--steps``:

* sampling: seconds per image (median of ``--runs`` after ``--warmup``, reference pass
  included), seconds per step, peak memory (``torch.cuda.max_memory_allocated``, reset before
  each setting; "n/a" on the CPU) for fp32, bf16 and fp16 in exact mode (DDIM) and fast mode
  (DPM-Solver++), then fp16 with ``offload=reference``, with attention chunks, with channels-last
  U-Nets, with model CPU offload and with ``torch.compile`` of the U-Net and ControlNet (the last
  row is what ``manganinja colorize --fast`` runs on a GPU);
* the stock floor in the same run, per dtype: one stock U-Net call at batch 3 (stock attention
  processors) fed by one ControlNet call at batch 2 per step, times the steps; every sampling row
  reports its seconds per image divided by its dtype's floor;
* the tiny reproduction model's training throughput (``configs/tiny_synthetic_stage1.yaml``, the
  project's ``Trainer.compute_loss`` + backward + optimizer step on a fixed batch): steps per
  second at batch 4 and doubling up to the largest batch that fits (or ``--train-max-batch``);
* parity on the device (tiny model, fp32): the device's image against the CPU's, channels-last
  and compiled U-Nets against plain ones (largest difference in 8-bit levels).

The components are the real SD1.5-size architecture with random weights (no download): random
weights cost the same time and memory as trained ones. Rows run in the order fp32, bf16, fp16,
casting the one set of weights in place. A row that would not finish within ``--budget-s`` is
written as skipped, never guessed. The JSON (``--out``) and the Markdown table beside it
(same name, ``.md``) are rewritten after every row, so a run cut short keeps what it measured.

    python benchmarks/bench_gpu.py --device cuda --out runs/gpu/results.json
    python benchmarks/bench_gpu.py --device cpu --tiny --out runs/gpu-tiny/results.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import platform
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from PIL import Image

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
#: The order the dtype groups run in: fp16 last, so its offload and compile rows need no undo
#: before another dtype.
DTYPE_ORDER: tuple[str, ...] = ("fp32", "bf16", "fp16")
REPO = Path(__file__).resolve().parents[1]
TRAIN_CONFIG = REPO / "configs" / "tiny_synthetic_stage1.yaml"
AUTOENCODER_CONFIG = REPO / "configs" / "tiny_synthetic_autoencoder.yaml"
#: Targets of issue 21 (512x512, 20 steps, fp16, H100-class device).
TARGET_SECONDS_PER_IMAGE = 1.5
TARGET_PEAK_GB = 6.0
TARGET_FLOOR_RATIO = 1.2


class UsageError(ValueError):
    """A bad command-line value (printed as one ``error:`` line, exit 2)."""


# ------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """One sampling row. ``mode``: "exact" (the official DDIM) or "fast" (DPM-Solver++);
    ``offload``: "none", "reference" (reference U-Net and CLIP on the CPU while sampling) or
    "model" (diffusers' model CPU offload)."""

    dtype: str
    mode: str
    offload: str = "none"
    attention_chunk: int | None = None
    channels_last: bool = False
    compile: bool = False

    @property
    def label(self) -> str:
        parts = [self.dtype, self.mode]
        if self.offload != "none":
            parts.append(f"offload={self.offload}")
        if self.attention_chunk:
            parts.append(f"chunk={self.attention_chunk}")
        if self.channels_last:
            parts.append("channels-last")
        if self.compile:
            parts.append("compile")
        return " ".join(parts)


def plan(attention_chunk: int, with_compile: bool) -> list[Setting]:
    """The rows of one run, in running order (see :data:`DTYPE_ORDER`)."""
    rows: list[Setting] = []
    for dtype in DTYPE_ORDER:
        rows += [Setting(dtype, "exact"), Setting(dtype, "fast")]
    rows += [
        Setting("fp16", "exact", offload="reference"),
        Setting("fp16", "exact", offload="reference", attention_chunk=attention_chunk),
        Setting("fp16", "fast", channels_last=True),
        Setting("fp16", "exact", offload="model"),
    ]
    if with_compile:  # what `manganinja colorize --fast` runs on a GPU: fp16, DPM-Solver++, torch.compile
        rows.append(Setting("fp16", "fast", compile=True))
    return rows


# ------------------------------------------------------------------------------------------
# Device helpers
# ------------------------------------------------------------------------------------------
def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def synchronize(device: str) -> None:
    if is_cuda(device):
        torch.cuda.synchronize()


def reset_peak(device: str) -> None:
    gc.collect()
    if is_cuda(device):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gb(device: str) -> float | None:
    """Peak allocated memory since :func:`reset_peak` in GiB; ``None`` off CUDA (not measured)."""
    return round(torch.cuda.max_memory_allocated() / 2**30, 3) if is_cuda(device) else None


def allocated_gb(device: str) -> float | None:
    return round(torch.cuda.memory_allocated() / 2**30, 3) if is_cuda(device) else None


def device_name(device: str) -> str:
    if is_cuda(device):
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def timed(fn: Callable[[], object], device: str) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


class Clock:
    """The run's time budget, counted from the start of the process's work."""

    def __init__(self, budget_s: float) -> None:
        self.start = time.perf_counter()
        self.budget_s = budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.budget_s - self.elapsed()


# ------------------------------------------------------------------------------------------
# Components and inputs
# ------------------------------------------------------------------------------------------
def build_pipeline_on(size: str, device: str) -> tuple[Any, str]:
    """The random pipeline (fp32) on ``device``. On CUDA the weights are created on the device
    (seconds, where CPU initialisation of 2.5 G parameters takes minutes); if that fails, they
    are built on the CPU and moved. Returns the pipeline and how it was built."""
    from diffusers import DDIMScheduler

    from manganinja.models.factory import build_components
    from manganinja.pipeline import MangaNinjaPipeline

    how = "cpu"
    if is_cuda(device):
        try:
            with torch.device(device):
                components = build_components(size, seed=0)
            # The scheduler's tables stay on the CPU, as when it is loaded.
            components["scheduler"] = DDIMScheduler.from_config(components["scheduler"].config)
            how = "on device"
        except (RuntimeError, TypeError, ValueError) as exc:  # fall back: slower, same result
            how = f"cpu (building on the device failed: {type(exc).__name__}: {exc})"
            components = build_components(size, seed=0)
    else:
        components = build_components(size, seed=0)
    pipe = MangaNinjaPipeline(**components)
    pipe.to(device)
    return pipe, how


def bench_inputs(resolution: int) -> tuple[Image.Image, Image.Image]:
    """A random reference picture and a line art of horizontal and vertical lines, both
    ``resolution`` square."""
    rng = np.random.default_rng(0)
    reference = Image.fromarray(rng.integers(0, 255, (resolution, resolution, 3), dtype=np.uint8))
    line = np.zeros((resolution, resolution), np.uint8)
    step = max(4, resolution // 32)
    line[::step, :] = 255
    line[:, ::step] = 255
    return reference, Image.fromarray(line)


def count_calls(pipe: Any) -> tuple[dict[str, list[int]], list[Any]]:
    """Forward pre-hooks recording the batch size of every call of the three networks."""
    counts: dict[str, list[int]] = {"reference_unet": [], "controlnet": [], "denoising_unet": []}
    handles = []
    for name in counts:
        def hook(module: torch.nn.Module, args: tuple, kwargs: dict, name: str = name) -> None:
            sample = args[0] if args else kwargs["sample"]
            counts[name].append(int(sample.shape[0]))

        handles.append(getattr(pipe, name).register_forward_pre_hook(hook, with_kwargs=True))
    return counts, handles


def generate(pipe: Any, reference: Image.Image, lineart: Image.Image, resolution: int, steps: int, fast: bool) -> tuple[np.ndarray, float]:
    """One image as users make one: encode the reference, then sample. Returns the image
    (H, W, 3) uint8 and the seconds of the reference pass (synchronized)."""
    device = str(pipe._execution_device)
    start = time.perf_counter()
    encoding = pipe.encode_reference(reference, resolution=resolution)
    synchronize(device)
    ref_s = time.perf_counter() - start
    out = pipe(
        reference_encoding=encoding, lineart=lineart, num_inference_steps=steps, resolution=resolution,
        fast=fast, progress=False, output_type="np", generator=torch.Generator().manual_seed(0),
    )
    return np.asarray(out.images[0]), ref_s


# ------------------------------------------------------------------------------------------
# Settings applied and undone
# ------------------------------------------------------------------------------------------
STEP_NETS: tuple[str, ...] = ("denoising_unet", "controlnet")


@contextlib.contextmanager
def applied(pipe: Any, setting: Setting, device: str, compile_mode: str, compile_backend: str) -> Iterator[None]:
    """``pipe`` configured as ``setting`` says (its dtype already cast), restored on exit."""
    if setting.offload == "reference":
        pipe.enable_reference_offload()
    elif setting.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    if setting.attention_chunk:
        pipe.set_attention_chunk(setting.attention_chunk)
    nets = ("reference_unet", *STEP_NETS)
    if setting.channels_last:
        for name in nets:
            getattr(pipe, name).to(memory_format=torch.channels_last)
    originals = {name: getattr(pipe, name) for name in STEP_NETS}
    if setting.compile:
        pipe.compile(mode=compile_mode, backend=compile_backend)
    try:
        yield
    finally:
        for name, module in originals.items():
            setattr(pipe, name, module)
        if setting.channels_last:
            for name in nets:
                getattr(pipe, name).to(memory_format=torch.contiguous_format)
        pipe.set_attention_chunk(None)
        if setting.offload == "model":
            pipe.remove_all_hooks()
            pipe.to(device)
        elif setting.offload == "reference":
            pipe.enable_reference_offload(False)
            pipe.to(device)


# ------------------------------------------------------------------------------------------
# Measurements
# ------------------------------------------------------------------------------------------
@torch.no_grad()
def stock_floor(pipe: Any, resolution: int, steps: int, runs: int, warmup: int, device: str) -> dict[str, Any]:
    """Seconds for ``steps`` x (one ControlNet call at batch 2 + one U-Net call at batch 3), the
    U-Net with diffusers' stock attention processors (``AttnProcessor2_0``) and the ControlNet's
    residuals given to the U-Net rows as the pipeline gives them. Median of ``runs``."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    unet, controlnet = pipe.denoising_unet, pipe.controlnet
    dtype = unet.dtype
    latent = resolution // pipe.vae_scale_factor
    g = torch.Generator().manual_seed(0)
    sample = torch.randn(1, unet.config.in_channels, latent, latent, generator=g).to(device, dtype)
    context = torch.randn(2, 1, unet.config.cross_attention_dim, generator=g).to(device, dtype)
    cond = torch.rand(1, 3, resolution, resolution, generator=g).to(device, dtype)
    rows = torch.tensor([0, 1, 1], device=device)
    scheduler = copy.deepcopy(pipe.scheduler)
    scheduler.set_timesteps(steps, device=device)
    saved = unet.attn_processors
    unet.set_attn_processor(AttnProcessor2_0())

    def loop() -> None:
        for t in scheduler.timesteps:
            down, mid = controlnet(sample.expand(2, -1, -1, -1), t, encoder_hidden_states=context,
                                   controlnet_cond=cond.expand(2, -1, -1, -1), return_dict=False)
            unet(sample.expand(3, -1, -1, -1), t, encoder_hidden_states=context[rows],
                 down_block_additional_residuals=[d[rows] for d in down], mid_block_additional_residual=mid[rows],
                 return_dict=False)

    try:
        for _ in range(warmup):
            loop()
        times = [timed(loop, device) for _ in range(runs)]
    finally:
        unet.set_attn_processor(saved)
    seconds = statistics.median(times)
    return {"dtype": next(k for k, v in DTYPES.items() if v == dtype), "steps": steps,
            "seconds": round(seconds, 4), "seconds_per_step": round(seconds / steps, 5),
            "runs": [round(t, 4) for t in times]}


def measure_setting(pipe: Any, setting: Setting, args: argparse.Namespace, inputs: tuple[Image.Image, Image.Image],
                    floor: dict[str, Any] | None) -> dict[str, Any]:
    """Time one setting: warm-up (compiles, autotunes; its call counts are kept), then ``runs``
    whole images. Peak memory counts from after the setting is applied."""
    device = args.device
    reference, lineart = inputs
    fast = setting.mode == "fast"
    with applied(pipe, setting, device, args.compile_mode, args.compile_backend):
        reset_peak(device)
        on_device = allocated_gb(device)
        started = time.perf_counter()
        counts, handles = count_calls(pipe)
        try:
            for _ in range(args.warmup):
                generate(pipe, reference, lineart, args.resolution, args.steps, fast)
        finally:
            for h in handles:
                h.remove()
        warmup_s = time.perf_counter() - started
        totals, refs = [], []
        for _ in range(args.runs):
            result: dict[str, float] = {}

            def one() -> None:
                result["ref_s"] = generate(pipe, reference, lineart, args.resolution, args.steps, fast)[1]

            totals.append(timed(one, device))
            refs.append(result["ref_s"])
        peak = peak_gb(device)
    image_s = statistics.median(totals)
    ref_s = statistics.median(refs)
    warm_images = max(args.warmup, 1)
    return {
        **asdict(setting),
        "label": setting.label,
        "scheduler": "DPM-Solver++" if fast else "DDIM",
        "steps": args.steps,
        "seconds_per_image": round(image_s, 4),
        "seconds_per_step": round((image_s - ref_s) / args.steps, 5),
        "reference_pass_seconds": round(ref_s, 4),
        "runs_seconds": [round(t, 4) for t in totals],
        "warmup_seconds": round(warmup_s, 2),
        "peak_allocated_gb": peak,
        "allocated_before_gb": on_device,
        "floor_seconds": floor["seconds"] if floor else None,
        "ratio_to_floor": round(image_s / floor["seconds"], 3) if floor else None,
        "calls": {
            "denoising_unet_batches": sorted(set(counts["denoising_unet"])),
            "denoising_unet_calls_per_image": len(counts["denoising_unet"]) // warm_images,
            "controlnet_batches": sorted(set(counts["controlnet"])),
            "reference_unet_calls_per_image": len(counts["reference_unet"]) // warm_images,
        },
    }


def training_throughput(args: argparse.Namespace, clock: Clock, work: Path) -> dict[str, Any]:
    """Steps per second of the tiny reproduction model's training step (stage 1 of
    ``configs/tiny_synthetic_stage1.yaml``; its VAE architecture from
    ``configs/tiny_synthetic_autoencoder.yaml``, random weights) on one fixed batch, at batch
    4 and doubling until out of memory, ``--train-max-batch`` or the time budget."""
    from diffusers import AutoencoderKL
    from torch.utils.data import default_collate

    from manganinja.data.synthetic import write_dataset
    from manganinja.training.autoencoder import load_autoencoder_config
    from manganinja.training.config import load_config
    from manganinja.training.trainer import Trainer

    ae = load_autoencoder_config(AUTOENCODER_CONFIG).model
    n = len(ae.block_out_channels)
    vae_dir = work / "vae"
    AutoencoderKL(
        down_block_types=["DownEncoderBlock2D"] * n, up_block_types=["UpDecoderBlock2D"] * n,
        block_out_channels=list(ae.block_out_channels), layers_per_block=ae.layers_per_block,
        latent_channels=ae.latent_channels, norm_num_groups=ae.norm_num_groups, sample_size=64,
    ).save_pretrained(vae_dir)
    pairs = 8
    synth = write_dataset(work / "synth", n_pairs=pairs, size=args.train_pair_size, seed=0)
    cfg = load_config(TRAIN_CONFIG, overrides={
        "model": {"vae": str(vae_dir)},
        "data": {"synthetic": [str(synth)]},
        "train": {"output_dir": str(work / "run"), "threads": None, "save_final": False},
    })
    trainer = Trainer(cfg)
    items = [trainer.dataset[(i % pairs, 0)] for i in range(pairs)]
    device = str(trainer.accelerator.device)

    def step(batch: dict[str, torch.Tensor], index: int) -> None:
        loss = trainer.compute_loss(batch, index, 0)
        trainer.accelerator.backward(loss)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)

    rows: list[dict[str, Any]] = []
    batch_size, stopped = 4, ""
    while True:
        if batch_size > args.train_max_batch:
            stopped = f"--train-max-batch {args.train_max_batch} reached"
            break
        expected = 2 * (args.train_steps + 1) * rows[-1]["seconds_per_step"] if rows else 0.0
        if clock.left() < expected + 5:
            stopped = "time budget"
            break
        batch = default_collate([items[i % pairs] for i in range(batch_size)])
        reset_peak(device)
        try:
            step(batch, 0)  # warm-up
            seconds = timed(lambda: [step(batch, i + 1) for i in range(args.train_steps)], device)
        except torch.OutOfMemoryError:
            trainer.optimizer.zero_grad(set_to_none=True)
            reset_peak(device)
            stopped = f"out of memory at batch {batch_size}"
            break
        per_step = seconds / args.train_steps
        rows.append({"batch": batch_size, "seconds_per_step": round(per_step, 5), "steps_per_second": round(1 / per_step, 3),
                     "samples_per_second": round(batch_size / per_step, 1), "peak_allocated_gb": peak_gb(device)})
        batch_size *= 2
    return {
        "config": str(TRAIN_CONFIG.relative_to(REPO)),
        "stage": cfg.train.stage,
        "resolution": cfg.data.resolution,
        "mixed_precision": cfg.train.mixed_precision,
        "device": device,
        "steps_timed": args.train_steps,
        "what": "Trainer.compute_loss + backward + AdamW step on one fixed collated batch (data loading not timed)",
        "rows": rows,
        "largest_batch": rows[-1]["batch"] if rows else None,
        "stopped": stopped,
    }


def image_difference(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"max_abs": int(diff.max()), "mean_abs": round(float(diff.mean()), 4)}


def parity_checks(args: argparse.Namespace, clock: Clock) -> list[dict[str, Any]]:
    """Exact-mode images of the tiny model in fp32 at 64 px, 2 steps: on the device against the
    CPU, and with channels-last / compiled U-Nets against plain ones on the device."""
    from manganinja.pipeline import build_pipeline

    reference, lineart = bench_inputs(64)

    def image(pipe: Any) -> np.ndarray:
        return generate(pipe, reference, lineart, 64, 2, fast=False)[0]

    pipe = build_pipeline("tiny", seed=0)
    checks: list[dict[str, Any]] = []
    plain_cpu = image(pipe)
    if args.device != "cpu":
        pipe.to(args.device)
        plain = image(pipe)
        checks.append({"check": f"{args.device} vs cpu (fp32, exact)", **image_difference(plain, plain_cpu)})
    else:
        plain = plain_cpu
    for setting in (Setting("fp32", "exact", channels_last=True), Setting("fp32", "exact", compile=True)):
        if setting.compile and not args.compile:
            continue
        if clock.left() < (60 if setting.compile else 5):
            checks.append({"check": f"{setting.label} vs plain", "skipped": "time budget"})
            continue
        with applied(pipe, setting, args.device, args.compile_mode, args.compile_backend):
            checks.append({"check": f"{setting.label} vs plain on {args.device}", **image_difference(image(pipe), plain)})
    return checks


def attention_info(pipe: Any) -> dict[str, Any]:
    """The attention processors of each network and which SDPA kernels torch may use."""
    info: dict[str, Any] = {
        name: sorted({type(p).__name__ for p in getattr(pipe, name).attn_processors.values()})
        for name in ("reference_unet", "denoising_unet", "controlnet", "vae")
    }
    if torch.cuda.is_available():
        info["sdpa_kernels_enabled"] = {
            "flash": torch.backends.cuda.flash_sdp_enabled(),
            "memory_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
            "cudnn": torch.backends.cuda.cudnn_sdp_enabled(),
            "math": torch.backends.cuda.math_sdp_enabled(),
        }
        info["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
    return info


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------
def fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}{unit}" if abs(value) < 100 else f"{value:.0f}{unit}"
    return f"{value}{unit}"


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against the measured rows (only at full size on a CUDA device)."""
    meta = report["meta"]
    if meta["size"] != "sd15" or not is_cuda(meta["device"]) or meta["resolution"] != 512:
        return [{"target": "issue 21 targets", "status": "not applicable (they are for --device cuda at full size, 512 px)"}]
    done = [r for r in report["rows"] if "seconds_per_image" in r]
    fp16 = [r for r in done if r["dtype"] == "fp16"]
    exact = [r for r in done if r["mode"] == "exact" and r["offload"] == "none" and r["ratio_to_floor"] is not None]
    out: list[dict[str, Any]] = []
    if fp16:
        best = min(fp16, key=lambda r: r["seconds_per_image"])
        out.append({"target": f"fp16 s/image <= {TARGET_SECONDS_PER_IMAGE}", "best": best["seconds_per_image"],
                    "row": best["label"], "met": best["seconds_per_image"] <= TARGET_SECONDS_PER_IMAGE})
        lowest = min(fp16, key=lambda r: r["peak_allocated_gb"])
        plain = next((r for r in fp16 if r["label"] == "fp16 exact"), None)
        for name, row in (("fp16 exact, no offload", plain), ("fp16 lowest", lowest)):
            if row is not None:
                out.append({"target": f"peak GB <= {TARGET_PEAK_GB} ({name})", "best": row["peak_allocated_gb"],
                            "row": row["label"], "met": row["peak_allocated_gb"] <= TARGET_PEAK_GB})
    for row in exact:
        out.append({"target": f"exact / stock floor <= {TARGET_FLOOR_RATIO} ({row['dtype']})", "best": row["ratio_to_floor"],
                    "row": row["label"], "met": row["ratio_to_floor"] <= TARGET_FLOOR_RATIO})
    return out


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        f"Device: **{meta['device_name']}** (`{meta['device']}`), torch {meta['torch']}, diffusers {meta['diffusers']}, "
        f"{meta['size']} components ({meta['build']}, {meta['build_seconds']} s), {meta['resolution']} px, {meta['steps']} steps, "
        f"median of {meta['runs']} after {meta['warmup']} warm-up; total {meta.get('total_seconds', 'n/a')} s.",
        "",
        f"Command: `{meta['command']}`",
        "",
        "| setting | scheduler | s / image | s / step | reference pass (s) | peak allocated (GB) | stock floor (s) | ratio to floor | warm-up (s) | calls per step |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        if "seconds_per_image" not in r:
            lines.append(f"| {r['label']} | | {_why_not(r)} | | | | | | | |")
            continue
        c = r["calls"]
        lines.append(
            f"| {r['label']} | {r['scheduler']} | {fmt(r['seconds_per_image'])} | {fmt(r['seconds_per_step'])} | "
            f"{fmt(r['reference_pass_seconds'])} | {fmt(r['peak_allocated_gb'])} | {fmt(r['floor_seconds'])} | "
            f"{fmt(r['ratio_to_floor'])} | {fmt(r['warmup_seconds'])} | U-Net x{c['denoising_unet_batches']}, ControlNet x{c['controlnet_batches']} |"
        )
    lines += ["", "| stock floor | s / image (steps x (U-Net b3 + ControlNet b2)) | s / step |", "|---|---|---|"]
    for f in report["floors"]:
        if "error" in f:
            lines.append(f"| {f['dtype']} | error: {f['error']} | |")
        else:
            lines.append(f"| {f['dtype']} | {fmt(f['seconds'])} | {fmt(f['seconds_per_step'])} |")
    train = report.get("training")
    if train and "error" in train:
        lines += ["", f"Training: error: {train['error']}"]
    elif train:
        lines += ["", f"Training ({train['config']}, stage {train['stage']}, {train['resolution']} px, "
                      f"mixed precision {train['mixed_precision']}; {train['what']}; stopped: {train['stopped'] or 'n/a'}):", "",
                  "| batch | steps / s | samples / s | peak allocated (GB) |", "|---|---|---|---|"]
        for r in train["rows"]:
            lines.append(f"| {r['batch']} | {fmt(r['steps_per_second'])} | {fmt(r['samples_per_second'])} | {fmt(r['peak_allocated_gb'])} |")
    if report.get("parity"):
        lines += ["", "| parity check (tiny model, 64 px, 2 steps) | max abs (8-bit levels) | mean abs |", "|---|---|---|"]
        for p in report["parity"]:
            if "max_abs" not in p:
                lines.append(f"| {p['check']} | {_why_not(p)} | |")
            else:
                lines.append(f"| {p['check']} | {p['max_abs']} | {p['mean_abs']} |")
    if report.get("targets"):
        lines += ["", "| target | measured | row | met |", "|---|---|---|---|"]
        for t in report["targets"]:
            if "status" in t:
                lines.append(f"| {t['target']} | {t['status']} | | |")
            else:
                lines.append(f"| {t['target']} | {t['best']} | {t['row']} | {'yes' if t['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def _why_not(record: dict[str, Any]) -> str:
    """Why a row or check has no figures: ``skipped: ...`` or ``error: ...``."""
    return f"skipped: {record['skipped']}" if "skipped" in record else f"error: {record['error']}"


def write_report(report: dict[str, Any], out: Path) -> None:
    """Write the JSON and the Markdown beside it (each atomically)."""
    from manganinja.images import write_bytes_atomic, write_json_atomic

    write_json_atomic(report, out)
    write_bytes_atomic(markdown(report).encode("utf-8"), out.with_suffix(".md"))


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    ap.add_argument("--tiny", action="store_true", help="tiny random components, 64 px, 2 steps (a CPU smoke run of the whole command)")
    ap.add_argument("--out", type=Path, required=True, help="the JSON report; the Markdown goes beside it (.md)")
    ap.add_argument("--resolution", type=int, default=None, help="default 512 (64 with --tiny)")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps, both modes (default 20; 2 with --tiny)")
    ap.add_argument("--runs", type=int, default=3, help="timed images per setting; the median is reported")
    ap.add_argument("--warmup", type=int, default=1, help="untimed images per setting first")
    ap.add_argument("--attention-chunk", type=int, default=None, help="queries per chunk in the chunked row (default 1024; 16 with --tiny)")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                    help="add the torch.compile row and parity check (default: on for CUDA, off for CPU)")
    ap.add_argument("--compile-mode", default="default", help="torch.compile mode (e.g. reduce-overhead: CUDA graphs)")
    ap.add_argument("--compile-backend", default="inductor", help="torch.compile backend (eager: trace only)")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="time budget of the whole run in seconds, imports excluded; rows that would overrun it are skipped (default 270; 1800 with --tiny)")
    ap.add_argument("--train-reserve-s", type=float, default=40.0, help="seconds of the budget kept for the training measurement")
    ap.add_argument("--train-steps", type=int, default=None, help="timed training steps per batch size (default 5; 1 with --tiny)")
    ap.add_argument("--train-max-batch", type=int, default=None, help="largest training batch tried (default 1024; 8 with --tiny)")
    ap.add_argument("--train-pair-size", type=int, default=None, help="side of the synthetic training pairs drawn (default 256, as the reproduction draws them; 64 with --tiny)")
    ap.add_argument("--no-training", dest="training", action="store_false", help="skip the training throughput")
    ap.add_argument("--no-parity", dest="parity", action="store_false", help="skip the parity checks")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    args = ap.parse_args(argv)
    args.command = shlex.join(["python", *sys.argv] if argv is None else ["python", "benchmarks/bench_gpu.py", *argv])
    return args


def check_args(args: argparse.Namespace) -> None:
    """Resolve defaults and refuse bad values before anything is built."""
    if not (args.device == "cpu" or (is_cuda(args.device) and args.device.removeprefix("cuda").removeprefix(":").isdigit()
                                     or args.device == "cuda")):
        raise UsageError(f"--device {args.device!r}: use cuda, cuda:N or cpu")
    if is_cuda(args.device) and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: CUDA is not available here (torch {torch.__version__}); use --device cpu --tiny")
    args.resolution = args.resolution or (64 if args.tiny else 512)
    args.steps = args.steps or (2 if args.tiny else 20)
    args.attention_chunk = args.attention_chunk or (16 if args.tiny else 1024)
    if args.budget_s is None:
        args.budget_s = 1800.0 if args.tiny else 270.0
    args.train_steps = args.train_steps or (1 if args.tiny else 5)
    args.train_max_batch = args.train_max_batch or (8 if args.tiny else 1024)
    args.train_pair_size = args.train_pair_size or (64 if args.tiny else 256)
    if args.compile is None:
        args.compile = is_cuda(args.device)
    from manganinja.requests import RequestError, check_at_least, check_report_path

    try:
        check_at_least({f"--{name.replace('_', '-')}": getattr(args, name) for name in
                        ("resolution", "steps", "runs", "attention_chunk", "train_steps", "train_max_batch")}, 1)
        check_at_least({"--warmup": args.warmup}, 0)
    except RequestError as exc:
        raise UsageError(str(exc)) from None
    if args.resolution % 64:
        raise UsageError(f"--resolution {args.resolution}: must be a multiple of 64")
    if args.budget_s <= 0:
        raise UsageError(f"--budget-s {args.budget_s}: must be > 0")
    if args.out.suffix != ".json":
        raise UsageError(f"--out {args.out}: name a .json file (the Markdown goes beside it)")
    try:
        for path in (args.out, args.out.with_suffix(".md")):
            check_report_path(path, "--out")
    except RequestError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of one run; the library loggers are quietened and torch's thread count
    is restored afterwards."""
    import diffusers
    import transformers

    # The device call returns only the end of the output: keep it to the report.
    verbosity = [(lib.utils.logging, lib.utils.logging.get_verbosity()) for lib in (diffusers, transformers)]
    threads = torch.get_num_threads()
    for logging, _ in verbosity:
        logging.set_verbosity_error()
    try:
        return measure_all(args)
    finally:
        torch.set_num_threads(threads)
        for logging, level in verbosity:
            logging.set_verbosity(level)


def failure(exc: Exception, args: argparse.Namespace) -> dict[str, str]:
    """A part that failed, as a report entry: one device call must not lose the other parts to
    one failure (``--debug`` raises instead)."""
    if args.debug:
        raise exc
    reset_peak(args.device)
    return {"error": f"{type(exc).__name__}: {exc}"[:500]}


def measure_all(args: argparse.Namespace) -> dict[str, Any]:
    import diffusers

    clock = Clock(args.budget_s)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    size = "tiny" if args.tiny else "sd15"
    pipe, how = build_pipeline_on(size, args.device)
    report: dict[str, Any] = {
        "meta": {
            "command": args.command, "device": args.device, "device_name": device_name(args.device),
            "torch": torch.__version__, "diffusers": diffusers.__version__, "cuda": torch.version.cuda,
            "cpu_threads": torch.get_num_threads(), "python": platform.python_version(),
            "size": size, "resolution": args.resolution, "steps": args.steps, "runs": args.runs, "warmup": args.warmup,
            "build": how, "build_seconds": round(clock.elapsed(), 1), "budget_s": args.budget_s,
            "memory": "torch.cuda.max_memory_allocated, reset before each setting" if is_cuda(args.device)
            else "not available on the CPU (n/a; not measured)",
            "attention": attention_info(pipe),
        },
        "floors": [], "rows": [], "training": None, "parity": [], "targets": [],
    }
    inputs = bench_inputs(args.resolution)
    floors: dict[str, dict[str, Any]] = {}
    slowest_image_s: dict[str, float] = {}
    reserve = args.train_reserve_s if args.training else 0.0
    phases = report["meta"]["phase_seconds"] = {"build": report["meta"]["build_seconds"]}
    started = clock.elapsed()
    for setting in plan(args.attention_chunk, args.compile):
        if setting.dtype not in slowest_image_s:
            pipe.to_dtype(DTYPES[setting.dtype])
            try:
                floors[setting.dtype] = stock_floor(pipe, args.resolution, args.steps, args.runs, args.warmup, args.device)
                report["floors"].append(floors[setting.dtype])
                # Before a dtype's first row: the floor plus the reference pass and decode (a guess of 1.5x).
                slowest_image_s[setting.dtype] = 1.5 * floors[setting.dtype]["seconds"]
            except Exception as exc:  # noqa: BLE001 - see failure()
                report["floors"].append({"dtype": setting.dtype, **failure(exc, args)})
                slowest_image_s[setting.dtype] = 0.0
        expected = (args.warmup + args.runs) * slowest_image_s[setting.dtype] + (90.0 if setting.compile and not args.tiny else 0.0)
        row: dict[str, Any] = {**asdict(setting), "label": setting.label}
        if clock.left() - reserve < expected:
            row["skipped"] = f"time budget ({expected:.0f} s expected, {clock.left() - reserve:.0f} s left)"
        else:
            try:
                row = measure_setting(pipe, setting, args, inputs, floors.get(setting.dtype))
                slowest_image_s[setting.dtype] = max(row["seconds_per_image"], slowest_image_s[setting.dtype])
            except Exception as exc:  # noqa: BLE001 - see failure()
                row.update(failure(exc, args))
        report["rows"].append(row)
        write_report(report, args.out)
    phases["sampling"] = round(clock.elapsed() - started, 1)
    del pipe
    reset_peak(args.device)
    if args.training:
        started = clock.elapsed()
        with tempfile.TemporaryDirectory(prefix="bench_gpu_train_") as work:
            try:
                report["training"] = training_throughput(args, clock, Path(work))
            except Exception as exc:  # noqa: BLE001 - see failure()
                report["training"] = failure(exc, args)
        phases["training"] = round(clock.elapsed() - started, 1)
        write_report(report, args.out)
    if args.parity:
        started = clock.elapsed()
        try:
            report["parity"] = parity_checks(args, clock)
        except Exception as exc:  # noqa: BLE001 - see failure()
            report["parity"] = [{"check": "parity", **failure(exc, args)}]
        phases["parity"] = round(clock.elapsed() - started, 1)
    report["targets"] = targets(report)
    report["meta"]["total_seconds"] = round(clock.elapsed(), 1)
    write_report(report, args.out)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_args(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        report = run(args)
    except Exception as exc:  # noqa: BLE001 - one line unless --debug
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback; rows measured so far are in {args.out})",
              file=sys.stderr)
        return 1
    print(markdown(report), end="")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
