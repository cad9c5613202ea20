"""benchmarks/bench_gpu.py, the one-call device benchmark, run whole on the CPU with --tiny."""

from __future__ import annotations

import json

import pytest

from _scripts import load_script




def load_bench():
    return load_script("bench_gpu")


bench = load_bench()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.json"
    argv = ["--device", "cpu", "--tiny", "--runs", "1", "--threads", "1", "--budget-s", "3000", "--out", str(out)]
    assert bench.main(argv) == 0
    return json.loads(out.read_text()), out.with_suffix(".md").read_text(), argv


@pytest.mark.slow  # the whole command at tiny size: about 30 s of CPU
def test_tiny_cpu_run_reports_every_row(tiny_run):
    report, md, argv = tiny_run
    planned = [s.label for s in bench.plan(16, with_compile=False)]
    assert [r["label"] for r in report["rows"]] == planned
    floors = {f["dtype"]: f for f in report["floors"]}
    assert set(floors) == {"fp32", "bf16", "fp16"}
    assert all(f["seconds"] > 0 and f["steps"] == 2 for f in floors.values())
    for row in report["rows"]:
        assert "skipped" not in row and "error" not in row, row
        assert row["seconds_per_image"] > 0 and row["steps"] == 2
        assert row["scheduler"] == ("DPM-Solver++" if row["mode"] == "fast" else "DDIM")
        assert row["floor_seconds"] == floors[row["dtype"]]["seconds"]
        # both times are rounded to 4 decimals and the ratio to 3, so compare to 1 %, not to 1e-3
        assert row["ratio_to_floor"] == pytest.approx(row["seconds_per_image"] / row["floor_seconds"], rel=0.01)
        # memory is not measured on the CPU, and says so
        assert row["peak_allocated_gb"] is None and row["allocated_before_gb"] is None
        calls = row["calls"]
        assert calls["denoising_unet_batches"] == [3] and calls["controlnet_batches"] == [2]
        assert calls["denoising_unet_calls_per_image"] == 2 and calls["reference_unet_calls_per_image"] == 1
    meta = report["meta"]
    assert meta["device"] == "cpu" and meta["device_name"] and meta["torch"] and meta["diffusers"]
    assert meta["command"].endswith(" ".join(argv[-2:])) and "--tiny" in meta["command"]
    assert "not available" in meta["memory"]
    assert "ReferenceReadProcessor" in meta["attention"]["denoising_unet"]
    # training throughput of the tiny model: batch 4, then doubled up to --train-max-batch (8)
    train = report["training"]
    assert [r["batch"] for r in train["rows"]] == [4, 8]
    assert all(r["steps_per_second"] > 0 and r["peak_allocated_gb"] is None for r in train["rows"])
    assert train["largest_batch"] == 8 and "train-max-batch" in train["stopped"]
    parity = {p["check"]: p for p in report["parity"]}
    assert parity["fp32 exact channels-last vs plain on cpu"]["max_abs"] <= 1
    assert report["targets"][0]["status"].startswith("not applicable")
    # the Markdown: one line per row, memory as n/a
    for label in planned:
        assert f"| {label} |" in md
    assert "| n/a |" in md and meta["command"] in md


def test_over_budget_rows_are_reported_skipped(tmp_path):
    out = tmp_path / "r.json"
    argv = ["--device", "cpu", "--tiny", "--runs", "1", "--warmup", "0", "--threads", "1", "--budget-s", "0.001",
            "--no-training", "--no-parity", "--out", str(out)]
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert len(report["rows"]) == len(bench.plan(16, with_compile=False))
    assert all(r["skipped"].startswith("time budget") for r in report["rows"])
    assert "skipped: time budget" in out.with_suffix(".md").read_text()


def test_a_failing_part_is_reported_and_the_run_goes_on(tmp_path, monkeypatch):
    """One device call must not lose every row to one failure: each failed floor and row is
    written with its error, and the command still finishes."""

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: out of luck")

    monkeypatch.setattr(bench, "stock_floor", broken)
    monkeypatch.setattr(bench, "measure_setting", broken)
    out = tmp_path / "r.json"
    argv = ["--device", "cpu", "--tiny", "--threads", "1", "--no-training", "--no-parity", "--out", str(out)]
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert [f["error"] for f in report["floors"]] == ["RuntimeError: CUDA error: out of luck"] * 3
    assert len(report["rows"]) == len(bench.plan(16, with_compile=False))
    assert all(r["error"] == "RuntimeError: CUDA error: out of luck" for r in report["rows"])
    assert "| fp16 exact offload=model | | error: RuntimeError: CUDA error: out of luck |" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--device", "cuda"], "--device cuda: CUDA is not available here"),
        (["--device", "gpu"], "--device 'gpu': use cuda, cuda:N or cpu"),
        (["--device", "cpu", "--resolution", "100"], "--resolution 100: must be a multiple of 64"),
        (["--device", "cpu", "--runs", "0"], "--runs must be >= 1, got 0"),
        (["--device", "cpu", "--budget-s", "0"], "--budget-s 0.0: must be > 0"),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path, capsys, argv, message):
    if "cuda" in argv and bench.torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "r.json"
    assert bench.main([*argv, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines
    assert not out.exists()


def _row(label: str, dtype: str, mode: str, s: float, peak: float, ratio: float, offload: str = "none") -> dict:
    return {"label": label, "dtype": dtype, "mode": mode, "offload": offload, "seconds_per_image": s,
            "peak_allocated_gb": peak, "ratio_to_floor": ratio}


def test_targets_are_judged_from_measured_rows_only_on_cuda_at_full_size():
    rows = [
        _row("fp32 exact", "fp32", "exact", 4.0, 12.0, 1.1),
        _row("fp16 exact", "fp16", "exact", 1.6, 7.0, 1.3),
        _row("fp16 fast channels-last", "fp16", "fast", 1.4, 7.1, 1.25),
        _row("fp16 exact offload=reference", "fp16", "exact", 1.7, 5.0, 1.4, offload="reference"),
        {"label": "fp16 fast channels-last compile", "dtype": "fp16", "mode": "fast", "skipped": "time budget"},
    ]
    meta = {"size": "sd15", "device": "cuda", "resolution": 512}
    got = {t["target"]: t for t in bench.targets({"meta": meta, "rows": rows})}
    assert got["fp16 s/image <= 1.5"] == {"target": "fp16 s/image <= 1.5", "best": 1.4, "row": "fp16 fast channels-last", "met": True}
    assert got["peak GB <= 6.0 (fp16 exact, no offload)"]["met"] is False
    assert got["peak GB <= 6.0 (fp16 lowest)"]["row"] == "fp16 exact offload=reference"
    assert got["exact / stock floor <= 1.2 (fp32)"]["met"] is True
    assert got["exact / stock floor <= 1.2 (fp16)"]["met"] is False
    cpu = bench.targets({"meta": {**meta, "device": "cpu"}, "rows": rows})
    assert cpu[0]["status"].startswith("not applicable")
