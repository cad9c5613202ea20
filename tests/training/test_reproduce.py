"""`manganinja reproduce tiny` end to end at the smoke scale: every part runs, the report has the
time of each, a second run skips the finished parts, and a bad option is one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "manganinja", "reproduce", "tiny", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_chain_runs_resumes_and_reports(tmp_path):
    import yaml

    from manganinja.training.reproduce import ABLATION_PARTS, PARTS, SCALES, Chain

    out = tmp_path / "run"
    said: list[str] = []
    records = Chain(out=out, configs=CONFIGS, scale=SCALES["smoke"], threads=1, say=said.append).run()
    assert list(records) == list(PARTS)
    for part in PARTS:
        assert (out / "parts" / f"{part}.json").is_file(), part
    assert (out / "model" / "model_index.json").is_file()
    # the hint part goes on from stage 2 with hints; the packaged model is its model and takes them
    hints = yaml.safe_load((out / "hints" / "final" / "config.yaml").read_text())
    assert hints["model"]["path"] == str(out / "stage2" / "final") and hints["model"]["point_hints"]
    controlnet = json.loads((out / "model" / "controlnet" / "config.json").read_text())
    assert controlnet["conditioning_channels"] == 7
    rec = json.loads((out / "model" / "model_index.json").read_text())["recommended"]
    assert rec["guidance_scale_ref"] == 1.0 and rec["guidance_scale_point"] == 6.0  # the smoke scale tries one of each
    evaluation = records["evaluation"]["result"]
    assert set(evaluation["probe"]) == {"random start", "stage 0", "stage 1"}
    assert evaluation["runs"] == 4  # 2 pairs, both directions
    assert 0 < evaluation["point_mse_floor"] < 1
    assert "the floor (the target itself through the autoencoder)" in (out / "tables.md").read_text()
    assert 0 < evaluation["point_mse_0_snapped"] < 1 and 0 < evaluation["point_mse_20_snapped"] < 1
    assert "each guide filling its region" in (out / "tables.md").read_text()
    # against the flat engine: the hard runs, the others and all, for the raw and the snapped model,
    # against the same flat scores; the raw model's runs are the ones psnr_own averages
    flat = evaluation["against_flat"]
    assert [g["group"] for g in flat["raw"]] == [g["group"] for g in flat["snapped"]] == ["hard", "others", "all"]
    raw_all, snapped_all = flat["raw"][2], flat["snapped"][2]
    assert raw_all["runs"] == snapped_all["runs"] == 4 and raw_all["baseline"] == snapped_all["baseline"]
    assert raw_all["model"] == pytest.approx(evaluation["psnr_own"])
    assert flat["raw"][0]["runs"] + flat["raw"][1]["runs"] == 4
    assert "Against the flat engine, 0 guides, own reference" in (out / "tables.md").read_text()
    use = evaluation["reference_use"]
    assert use["blocks"] and all(0 < b["share"] < 1 for b in use["blocks"])
    assert use["loss_own"] > 0 and use["loss_other"] > 0 and use["loss_copy"] > 0
    report = (out / "report.md").read_text()
    assert all(f"| {part} |" in report for part in PARTS)
    assert (out / "tables.md").is_file()
    assert "attention on the bank" in (out / "tables.md").read_text()
    # the model card: the driver's command, each part's time and every config of the chain
    card = (out / "model" / "README.md").read_text()
    assert f"manganinja reproduce tiny --output-dir {out} --configs {CONFIGS} --scale smoke --threads 1\n" in card
    assert "--autoencoder-config" not in card
    assert 'its scale changes the configs below by `{"train_pairs": 4' in card and '"autoencoder": 2' in card
    assert all(f"| {part} |" in card for part in PARTS[:PARTS.index("package")])
    assert "### configs/tiny_synthetic_autoencoder.yaml" in card and "### configs/tiny_synthetic_stage2.yaml" in card
    assert records["autoencoder"]["result"]["config"] == str(CONFIGS / "tiny_synthetic_autoencoder.yaml")
    # a second run skips every finished part
    said.clear()
    Chain(out=out, configs=CONFIGS, scale=SCALES["smoke"], threads=1, say=said.append).run()
    assert said == [f"skip {p}: done ({records[p]['seconds']:.0f} s when it ran)" for p in PARTS]
    # a part reused from another run (its record written by hand) is named in the model card
    done = out / "parts" / "autoencoder.json"
    rec = json.loads(done.read_text())
    rec["result"]["copied_from"] = "runs/elsewhere/final"
    done.write_text(json.dumps(rec))
    (out / "parts" / "package.json").unlink()
    Chain(out=out, configs=CONFIGS, scale=SCALES["smoke"], threads=1, say=said.append).run(("package",))
    assert "its autoencoder part was copied from runs/elsewhere/final" in (out / "model" / "README.md").read_text()
    # the ablation goes on from the finished chain: only its own parts run
    said.clear()
    chain = Chain(out=out, configs=CONFIGS, scale=SCALES["smoke"], threads=1, say=said.append, ablation=True)
    assert chain.command().endswith("--threads 1 --ablation")
    records = chain.run()
    assert list(records) == [*PARTS, *ABLATION_PARTS]
    assert [s for s in said if not s.startswith("skip")] == [m for p in ABLATION_PARTS for m in (f"run {p} ...", f"done {p} in "
                                                             f"{records[p]['seconds']:.0f} s")]
    shuffled = yaml.safe_load((out / "stage1_shuffle" / "final" / "config.yaml").read_text())
    plain = yaml.safe_load((out / "stage1" / "final" / "config.yaml").read_text())
    assert shuffled["data"]["patch_shuffle"]["enabled"] and not plain["data"]["patch_shuffle"]["enabled"]
    assert shuffled["model"]["unet_start"] == plain["model"]["unet_start"]  # the same stage 0 under both
    rows = records["ablation"]["result"]["rows"]
    assert [(r["patch_shuffle"], r["stage2"]) for r in rows.values()] == [(False, False), (False, True), (True, False), (True, True)]
    # the paper's recipe without hints: the chain's stage 2 (the packaged model is the hint part's)
    assert rows["shuffle=False stage2=True scales=chain's"]["model"] == str(out / "stage2" / "final")
    # the smoke scale tries one scale of each, so every model's own validation picks the chain's: no second row
    assert all(r["scales"] == [1.0, 6.0] and r["scales_from"] == "chain's" for r in rows.values())
    table = (out / "ablation.md").read_text().splitlines()
    assert sum(line.startswith("| none |") or line.startswith("| 2 → 8 |") for line in table) == 4
    # a model whose own validation picks other scales is scored at both
    (out / "parts" / "ablation.json").unlink()
    chain.choose_scales = lambda model: {"guidance_scale_ref": 1.0, "guidance_scale_point": 3.0}
    rows = chain.run(("ablation",))["ablation"]["result"]["rows"]
    assert [(r["scales_from"], r["scales"]) for r in rows.values()] == [("chain's", [1.0, 6.0]), ("own", [1.0, 3.0])] * 4
    assert "| none | no | 1 / 3 (own) |" in (out / "ablation.md").read_text()


def test_another_autoencoder_config_is_the_one_trained_and_named(tmp_path):
    """``autoencoder_config``: the chain trains the autoencoder of that config (its widths), and the
    model card names the option and prints that config."""
    import yaml

    from manganinja.training.reproduce import SCALES, Chain

    from manganinja.training.config import read_config_file

    cfg = read_config_file(CONFIGS / "tiny_synthetic_autoencoder_long.yaml")  # with what it extends
    cfg["model"]["block_out_channels"] = [16, 32, 32]
    own = tmp_path / "my_autoencoder.yaml"
    own.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    chain = Chain(out=out, configs=CONFIGS, scale=SCALES["smoke"], threads=1, say=lambda _: None, autoencoder_config=own)
    assert chain.command().endswith(f"--threads 1 --autoencoder-config {own}")
    records = chain.run(("data", "autoencoder"))
    assert records["autoencoder"]["result"]["config"] == str(own)
    trained = json.loads((out / "autoencoder" / "final" / "config.json").read_text())
    assert trained["block_out_channels"] == [16, 32, 32]


def test_the_training_parts_use_every_core_unless_told(tmp_path):
    """The parts run one after another, so by default each trains on all the usable cores (not
    the configs' ``threads: 1``); ``threads`` sets them all, the autoencoder too."""
    from manganinja.training.reproduce import SCALES, Chain, usable_cores

    chain = Chain(out=tmp_path / "run", configs=CONFIGS, scale=SCALES["full"], say=lambda _: None)
    assert chain._train_caps("stage1", 8000, 4)["threads"] == usable_cores() >= 1
    assert "--threads" not in chain.command()
    told = Chain(out=tmp_path / "run", configs=CONFIGS, scale=SCALES["full"], threads=3, say=lambda _: None)
    assert told._train_caps("autoencoder", 14000, 4)["threads"] == 3


def test_the_short_scale_cuts_the_autoencoder_only(tmp_path):
    """``--scale short`` caps the autoencoder (its lr schedule as the config says, so it is the
    first steps of the full part) and leaves every diffusion part at its config."""
    from manganinja.training.reproduce import SCALES, Chain

    chain = Chain(out=tmp_path / "run", configs=CONFIGS, scale=SCALES["short"], threads=2, say=lambda _: None)
    assert chain._train_caps("autoencoder", 14000, 4)["steps"] == 10000
    for part, steps in (("stage0", 4800), ("stage1", 8000), ("stage2", 400), ("hints", 6000)):
        assert "steps" not in chain._train_caps(part, steps, 4)
    assert "batch_size" not in chain._train_caps("stage1", 8000, 4)
    assert "--scale short" in chain.command()
    assert SCALES["short"].changes() == {"steps": {"autoencoder": 10000}} and SCALES["full"].changes() == {}


def test_cli_refuses_a_bad_scale_or_configs_in_one_line(tmp_path):
    bad = run("--output-dir", str(tmp_path / "x"), "--scale", "huge", "--configs", str(CONFIGS), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == ["error: --scale must be one of full, short, smoke, got 'huge'"]
    bad = run("--output-dir", str(tmp_path / "x"), "--configs", str(tmp_path), cwd=tmp_path)
    assert bad.returncode == 2 and "has no tiny_synthetic_autoencoder.yaml" in bad.stderr and "Traceback" not in bad.stderr
    bad = run("--output-dir", str(tmp_path / "x"), "--configs", str(CONFIGS), "--autoencoder-config", "nope.yaml", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: --autoencoder-config nope.yaml is not a file; give an autoencoder config, e.g. "
        "configs/tiny_synthetic_autoencoder_long.yaml"]
    # a config with a bad key: one line naming it, before the data part runs
    (tmp_path / "bad.yaml").write_text("model:\n  block_out_channels: [32]\n  bogus: 1\n")
    bad = run("--output-dir", str(tmp_path / "x"), "--configs", str(CONFIGS), "--autoencoder-config", "bad.yaml", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == ["error: bad.yaml: model.bogus: Extra inputs are not permitted"]
    assert not (tmp_path / "x").exists()


def test_the_autoencoder_floor_is_low_for_a_trained_autoencoder_only(tmp_path):
    """The floor of the point MSE (the target itself through the autoencoder) of the shipped
    model is far below that of a random tiny autoencoder on the same held-out pairs."""
    from manganinja.evaluation import benchmark as B
    from manganinja.pipeline import MangaNinjaPipeline, build_pipeline
    from manganinja.training.reproduce import autoencoder_floor

    data = B.write_synthetic_benchmark(tmp_path / "bench", pairs=2, seed=1, size=256)
    shipped = autoencoder_floor(MangaNinjaPipeline.from_pretrained(CONFIGS.parent / "models" / "tiny-synthetic"), data, 64)
    random = autoencoder_floor(build_pipeline("tiny", seed=0), data, 64)
    assert len(shipped) == len(random) == 2
    # measured: 0.0244 over the 16 benchmark pairs (docs/reproduce.md, eleventh attempt; 0.0289 before)
    assert np.mean(shipped) < 0.05 < np.mean(random)



def test_a_stage_config_read_once_gives_what_the_file_gives_with_the_same_overrides(tmp_path, monkeypatch):
    """The chain reads each stage config once (``Chain._stage_base``) and lays a part's overrides
    over it; that must resolve to the very config that reading the file with those overrides gives."""
    from manganinja.training.config import load_config
    from manganinja.training.reproduce import PAPER_SHUFFLE, SCALES, STAGE_CONFIGS, Chain, usable_cores

    chain = Chain(out=tmp_path / "run", configs=CONFIGS, scale=SCALES["full"], say=lambda _: None)
    captured = {}

    class Stop(Exception):
        pass

    def capture(cfg):
        captured["cfg"] = cfg
        raise Stop

    monkeypatch.setattr("manganinja.training.trainer.Trainer", capture)
    for part, stage, model, data in (("stage1_shuffle", "stage1", {"vae": "v", "unet_start": "u"}, {"patch_shuffle": PAPER_SHUFFLE}),
                                     ("stage2", "stage2", {"path": "p"}, None), ("stage0", "stage0", {"vae": "v"}, None)):
        with pytest.raises(Stop):
            chain._stage(part, model, stage=stage, data=data)
        overrides = {"model": model, "data": {"synthetic": [str(chain.data("train"))], **(data or {})},
                     "train": {"output_dir": str(chain.run_dir(part)), "resume": "latest", "threads": usable_cores()}}
        assert captured["cfg"].model_dump() == load_config(CONFIGS / STAGE_CONFIGS[stage], overrides).model_dump()
    assert not (tmp_path / "run").exists()


def test_the_benchmark_scores_sample_each_picture_once_and_match_one_metric_at_a_time(tmp_path, road_calls):
    """``Chain.benchmark_scores`` takes the PSNR runs and the point MSE without guides from the
    same pictures: each (pair, direction, reference, guides) sampled once, and every figure what
    :func:`measure`, one metric at a time, gives."""
    from manganinja.evaluation import benchmark as B
    from manganinja.training.reproduce import SCALES, Chain, measure, ninja_engine

    chain = Chain(out=tmp_path / "run", configs=CONFIGS, scale=SCALES["smoke"], say=lambda _: None)
    bench = B.write_synthetic_benchmark(chain.data("bench"), pairs=2, seed=1, size=256)
    engine = ninja_engine(CONFIGS.parent / "models" / "tiny-synthetic", steps=2)
    scores = chain.benchmark_scores(engine)
    # own and another's reference in both directions, 20 guides a->b
    assert sum(step == "colorize" for step, _ in road_calls) == 4 + 4 + 2
    own = [v for d in ("a->b", "b->a") for v in measure(engine, bench, 0, "psnr", direction=d)]
    other = [v for d in ("a->b", "b->a") for v in measure(engine, bench, 0, "psnr", direction=d, swap=True)]
    assert scores["psnr_own"] == pytest.approx(np.mean(own), abs=0)
    assert scores["psnr_own_minus_other"] == pytest.approx(np.mean(np.subtract(own, other)), rel=1e-12)
    assert scores["point_mse_0"] == pytest.approx(np.mean(measure(engine, bench, 0, "point_mse", scored_outside=20)), abs=0)
    assert scores["point_mse_20"] == pytest.approx(np.mean(measure(engine, bench, 20, "point_mse", scored_outside=20)), abs=0)
    assert scores["runs"] == 4


def test_the_model_card_prints_a_variant_config_with_what_it_extends():
    """A config that extends another is printed as written and, below it, with the sections it
    takes from its base, so the card holds every value the chain used."""
    from manganinja.pipeline import build_pipeline
    from manganinja.training.reproduce import model_card

    variant = CONFIGS / "tiny_synthetic_autoencoder_lc8_bf16_20k.yaml"
    card = model_card(build_pipeline("tiny", seed=0), 30.0, [variant], made="by hand", commands="true", times={},
                      time_note="none")
    written, resolved = card.split("With what it extends, as the chain read it:")
    assert "extends: tiny_synthetic_autoencoder_lc8_bf16.yaml" in written and "latent_channels" not in written
    assert "latent_channels: 8" in resolved and "mixed_precision: bf16" in resolved and "steps: 20000" in resolved
    assert "extends" not in resolved
    plain = model_card(build_pipeline("tiny", seed=0), 30.0, [CONFIGS / "tiny_synthetic_autoencoder.yaml"], made="by hand",
                       commands="true", times={}, time_note="none")
    assert "With what it extends" not in plain
