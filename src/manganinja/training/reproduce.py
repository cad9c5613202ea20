"""The whole miniature reproduction as one resumable chain (``manganinja reproduce tiny``).

Parts, in order (each writes ``OUT/parts/<name>.json`` with its wall time and result when it
finishes; a finished part is skipped on the next run, and a training part interrupted midway
resumes from its latest checkpoint):

1. ``data``: synthetic pairs: training (seed 0), autoencoder hold-out (seed 2), benchmark (seed 1),
   validation (seed 3), drawn at ``draw_size`` px;
2. ``autoencoder``: ``configs/tiny_synthetic_autoencoder.yaml`` (or the config given as
   ``autoencoder_config``, e.g. ``configs/tiny_synthetic_autoencoder_long.yaml``);
3. ``stage0``: ``configs/tiny_synthetic_stage0.yaml`` (the denoising U-Net as a plain diffusion
   model, the domain's own "SD1.5");
4. ``stage1``: ``configs/tiny_synthetic_stage1_match.yaml`` (both U-Nets from stage 0, with the
   attention-matching loss that stands in for the matching prior of the paper's SD1.5 start);
5. ``stage2``: ``configs/tiny_synthetic_stage2.yaml`` (PointNet only);
6. ``hints``: ``configs/tiny_synthetic_stage1_hints.yaml`` (stage 1 goes on from stage 2 with the
   guides' color hints in the ControlNet's condition, ``model.point_hints``: a departure from the
   paper, docs/reproduce.md, fourteenth attempt);
7. ``validation``: guidance scales chosen on the validation pairs (reference scale by PSNR
   without points, point scale by point MSE with 5 guide points);
8. ``package``: the hint part's pipeline with its ``recommended`` settings and a model card
   (``README.md``, :func:`model_card`) in ``OUT/model``;
9. ``evaluation``: on the benchmark pairs, own vs another character's reference (PSNR, both
   directions), point MSE with 0 and 20 guide points (the raw picture, and snapped with the
   guides filling their regions as ``manganinja colorize`` paints), the model (raw, and snapped)
   against the flat engine on the hard runs and the others
   (:mod:`manganinja.evaluation.hard_runs`), and the correspondence probe of the random start,
   stage 0 and stage 1 (:mod:`manganinja.training.correspondence`); ``OUT/tables.md``.

With ``ablation`` (``--ablation``), three more parts after these (:data:`ABLATION_PARTS`):

10. ``stage1_shuffle``: stage 1 again, same config and starts, with the paper's progressive
   patch shuffle (:data:`PAPER_SHUFFLE`);
11. ``stage2_shuffle``: stage 2 from it;
12. ``ablation``: the four models of the paper's recipe, without hints (shuffle or not, stage 2
    or not), scored as the evaluation scores the packaged one on reference use and guides
    (:meth:`Chain.benchmark_scores`; not against the flat engine), at the validated scales, with
    the reference-use probe; ``OUT/ablation.md``.

A finished part may be reused from another run by copying its outputs and writing its
``parts/<name>.json`` by hand; a ``copied_from`` entry in that record's ``result`` is then named
in the model card.

The configs are read from ``configs`` (the repository's ``configs/``) with their paths (data,
VAE, stage starts, output folders) pointed into ``OUT``; a :class:`Scale` may cap the sizes and
steps (the ``short`` scale cuts the autoencoder, stage 1 and the hint part to fit 2 h on 2 CPU cores; the
``smoke`` scale runs the chain in seconds, for tests). ``OUT/report.md`` lists every
part with its time.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from manganinja.evaluation.metrics import mean_ci95
from manganinja.images import write_json_atomic
from manganinja.settings import OFFICIAL_SAMPLING, LoadSettings, NinjaSettings

if TYPE_CHECKING:
    import PIL.Image

    from manganinja.engines import Engine, NinjaEngine
    from manganinja.evaluation.hard_runs import GroupComparison, Run
    from manganinja.pipeline import MangaNinjaPipeline
    from manganinja.training.autoencoder import AutoencoderConfig
    from manganinja.training.config import TrainConfig
    from manganinja.training.reference_use import ReferenceUse

PARTS: tuple[str, ...] = ("data", "autoencoder", "stage0", "stage1", "stage2", "hints", "validation", "package", "evaluation")
#: The training part whose model is validated and packaged.
PACKAGED_PART = "hints"
#: The ablation (``--ablation``, after the chain): stage 1 again with the paper's progressive
#: patch shuffle (:data:`PAPER_SHUFFLE`; the chain's stage 1 has none), stage 2 from it, and the
#: four models (shuffle or not, stage 2 or not) scored alike at the chain's chosen scales.
ABLATION_PARTS: tuple[str, ...] = ("stage1_shuffle", "stage2_shuffle", "ablation")
#: The paper's progressive patch shuffle at 64 px (configs/tiny_synthetic_stage1.yaml): the
#: reference cut into a grid doubling from 2x2 to 8x8 patches over the run.
PAPER_SHUFFLE: dict[str, object] = {"enabled": True, "start_grid": 2, "end_grid": 8}
#: Guidance scales tried on the validation pairs, up to the official ones.
REF_SCALES: tuple[float, ...] = (1.0, 2.0, 4.0, float(OFFICIAL_SAMPLING["guidance_scale_ref"]))
POINT_SCALES: tuple[float, ...] = (1.0, 3.0, 6.0, float(OFFICIAL_SAMPLING["guidance_scale_point"]))
#: Issue 19's guide count: the point MSE is scored outside the first ``GUIDES`` of the
#: benchmark's split, with none and with those guides.
GUIDES = 20
#: The autoencoder's config in ``configs/`` (the default of ``Chain.autoencoder_config``).
AUTOENCODER_CONFIG = "tiny_synthetic_autoencoder.yaml"
#: The config in ``configs/`` of each diffusion stage.
STAGE_CONFIGS: dict[str, str] = {"stage0": "tiny_synthetic_stage0.yaml", "stage1": "tiny_synthetic_stage1_match.yaml",
                                 "stage2": "tiny_synthetic_stage2.yaml", "hints": "tiny_synthetic_stage1_hints.yaml"}


class ReproduceError(ValueError):
    """The chain cannot run as asked (names the bad value)."""


@dataclass(frozen=True)
class Scale:
    """Sizes of one run. ``steps``: per part (``autoencoder``, ``stage0``, ``stage1``,
    ``stage2``, ``hints``) a cap on the config's steps (absent: the config's own)."""

    train_pairs: int = 4000
    ae_holdout_pairs: int = 64
    bench_pairs: int = 16
    val_pairs: int = 8
    draw_size: int = 256
    sampling_steps: int = 10
    probe_pairs: int = 16
    probe_ensemble: int = 4
    steps: dict[str, int] = field(default_factory=dict)
    batch_size: int | None = None
    ref_scales: tuple[float, ...] = REF_SCALES
    point_scales: tuple[float, ...] = POINT_SCALES

    def changes(self) -> dict[str, object]:
        """The fields where this scale differs from the full one (the configs as they are)."""
        full = asdict(Scale())
        return {k: v for k, v in asdict(self).items() if v != full[k]}


#: Steps of the ``short`` scale: the autoencoder cut (10000 of 14000 steps, its lr schedule as in
#: the config, so it is the first steps of the full part), every diffusion part as the configs say
#: (107.3 min measured when the full scale took 123.7; since the twenty-fifth attempt's speed-ups
#: the full scale itself takes 101.5 min in one launch). An earlier short scale also cut stage 1 and the hint part (72 min
#: measured) and lost the reference use to that cut; the autoencoder's cut alone costs little
#: (docs/reproduce.md, eighteenth to twentieth attempts).
SHORT_STEPS: dict[str, int] = {"autoencoder": 10000}

SCALES: dict[str, Scale] = {
    "full": Scale(),
    "short": Scale(steps=SHORT_STEPS),
    "smoke": Scale(train_pairs=4, ae_holdout_pairs=2, bench_pairs=2, val_pairs=2, draw_size=64, sampling_steps=2,
                   probe_pairs=1, probe_ensemble=1,
                   steps={"autoencoder": 2, "stage0": 2, "stage1": 2, "stage2": 2, "hints": 2}, batch_size=2,
                   ref_scales=(1.0,), point_scales=(6.0,)),
}


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _done_path(out: Path, part: str) -> Path:
    return out / "parts" / f"{part}.json"


def _write_json(path: Path, data: object) -> None:
    write_json_atomic(data, path, default=str)


@dataclass
class Chain:
    """One reproduction run into ``out`` with the configs of ``configs`` at ``scale``."""

    out: Path
    configs: Path
    scale: Scale
    #: torch CPU threads of every training part; None: all the cores this process may use
    #: (:func:`usable_cores`; the parts run one after another). The configs' own ``threads`` (1
    #: for the stages, from the days their runs went side by side) are not used.
    threads: int | None = None
    say: Callable[[str], None] = print
    #: The autoencoder's config; None: ``configs/tiny_synthetic_autoencoder.yaml``.
    autoencoder_config: Path | None = None
    #: Run :data:`ABLATION_PARTS` after the chain.
    ablation: bool = False
    _autoencoder: "AutoencoderConfig" = field(init=False, repr=False)
    _stage_base: "dict[str, TrainConfig]" = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.configs = Path(self.configs)
        for name in (AUTOENCODER_CONFIG, *STAGE_CONFIGS.values()):
            if not (self.configs / name).is_file():
                raise ReproduceError(f"--configs {self.configs} has no {name}; give the repository's configs/ folder")
        if self.autoencoder_config is None:
            self.autoencoder_config = self.configs / AUTOENCODER_CONFIG
        self.autoencoder_config = Path(self.autoencoder_config)
        if not self.autoencoder_config.is_file():
            raise ReproduceError(f"--autoencoder-config {self.autoencoder_config} is not a file; give an autoencoder "
                                 "config, e.g. configs/tiny_synthetic_autoencoder_long.yaml")
        # every config read and checked here, before any part runs (a bad key is one line then)
        from manganinja.training.autoencoder import load_autoencoder_config
        from manganinja.training.config import load_config

        self._autoencoder = load_autoencoder_config(self.autoencoder_config)
        self._stage_base = {part: load_config(self.configs / name) for part, name in STAGE_CONFIGS.items()}

    def command(self) -> str:
        """The ``manganinja reproduce tiny`` command line of this run (options left at their
        defaults omitted)."""
        words = ["manganinja reproduce tiny", f"--output-dir {self.out}"]
        if self.configs != Path("configs"):
            words.append(f"--configs {self.configs}")
        name = next((n for n, sc in SCALES.items() if sc == self.scale), None)
        if name != "full":
            words.append(f"--scale {name}" if name else "(a scale of its own)")
        if self.threads is not None:
            words.append(f"--threads {self.threads}")
        if self.ablation:
            words.append("--ablation")
        if self.autoencoder_config != self.configs / AUTOENCODER_CONFIG:
            words.append(f"--autoencoder-config {self.autoencoder_config}")
        return " ".join(words)

    def stage_configs(self) -> list[Path]:
        """The configs of the training parts, in order."""
        return [self.autoencoder_config, *(self.configs / name for name in STAGE_CONFIGS.values())]

    # -- paths ------------------------------------------------------------------------------
    def data(self, name: str) -> Path:
        return self.out / "data" / name

    def run_dir(self, part: str) -> Path:
        return self.out / part

    # -- the chain --------------------------------------------------------------------------
    def parts(self) -> tuple[str, ...]:
        """The parts this run does, in order: :data:`PARTS`, then :data:`ABLATION_PARTS` with ``ablation``."""
        return PARTS + ABLATION_PARTS if self.ablation else PARTS

    def run(self, parts: tuple[str, ...] | None = None) -> dict[str, dict]:
        """Run ``parts`` (default :meth:`parts`) in order, skipping finished ones; returns
        ``{part: record}``."""
        parts = self.parts() if parts is None else parts
        records = {}
        for part in parts:
            done = _done_path(self.out, part)
            if done.is_file():
                rec = json.loads(done.read_text())
                self.say(f"skip {part}: done ({rec['seconds']:.0f} s when it ran)")
            else:
                self.say(f"run {part} ...")
                started = time.perf_counter()
                result = getattr(self, f"part_{part}")()
                rec = {"part": part, "seconds": time.perf_counter() - started, "result": result}
                _write_json(done, rec)
                self.say(f"done {part} in {rec['seconds']:.0f} s")
            records[part] = rec
        self.write_report(records)
        return records

    def write_report(self, records: dict[str, dict]) -> Path:
        lines = ["# manganinja reproduce tiny: report", "", f"scale: `{json.dumps(asdict(self.scale))}`", "",
                 "| part | wall (s) | result |", "|---|---|---|"]
        for part, rec in records.items():
            lines.append(f"| {part} | {rec['seconds']:.0f} | `{json.dumps(rec['result'], default=str)[:200]}` |")
        total = sum(r["seconds"] for r in records.values())
        lines += ["", f"total: {total:.0f} s (of the parts listed; a skipped part counts the time it took when it ran)", ""]
        path = self.out / "report.md"
        path.write_text("\n".join(lines))
        return path

    # -- parts ------------------------------------------------------------------------------
    def part_data(self) -> dict:
        from manganinja.data.synthetic import write_dataset
        from manganinja.evaluation.benchmark import write_synthetic_benchmark

        s = self.scale
        for name, pairs, seed in (("train", s.train_pairs, 0), ("aeval", s.ae_holdout_pairs, 2)):
            write_dataset(self.data(name), pairs, size=s.draw_size, seed=seed, overwrite=True)
        write_synthetic_benchmark(self.data("bench"), pairs=s.bench_pairs, seed=1, size=s.draw_size, overwrite=True)
        write_synthetic_benchmark(self.data("val"), pairs=s.val_pairs, seed=3, size=s.draw_size, overwrite=True)
        return {"train": s.train_pairs, "aeval": s.ae_holdout_pairs, "bench": s.bench_pairs, "val": s.val_pairs}

    def part_autoencoder(self) -> dict:
        from manganinja.training.autoencoder import AutoencoderConfig, train_autoencoder

        cfg = self._autoencoder
        data = cfg.data.model_copy(update={"synthetic": [str(self.data("train"))], "holdout": [str(self.data("aeval"))]})
        train = cfg.train.model_copy(update=self._train_caps("autoencoder", cfg.train.steps, cfg.train.batch_size,
                                                             output_dir=str(self.run_dir("autoencoder"))))
        cfg = AutoencoderConfig(model=cfg.model, data=data, train=train)
        metrics = train_autoencoder(cfg, log=False, progress=True)
        return {"holdout_psnr_db": metrics.get("holdout_psnr_db"), "config": str(self.autoencoder_config)}

    def _train_caps(self, part: str, steps: int, batch: int, **extra: Any) -> dict:
        """Overrides of a config's ``train`` for ``part`` (a key of :attr:`Scale.steps`)."""
        out: dict[str, Any] = dict(extra)
        if part in self.scale.steps:
            out["steps"] = min(steps, self.scale.steps[part])
        if self.scale.batch_size is not None:
            out["batch_size"] = min(batch, self.scale.batch_size)
        out["threads"] = self.threads if self.threads is not None else usable_cores()
        return out

    def _stage(self, part: str, model: dict, stage: str | None = None, data: dict | None = None) -> dict:
        """Train ``part`` into its run folder with the config of ``stage`` (default: ``part``, a
        key of :data:`STAGE_CONFIGS`), ``model`` and ``data`` merged over it."""
        from manganinja.training.config import merge_dicts, resolve_config
        from manganinja.training.trainer import Trainer

        stage = part if stage is None else stage
        base = self._stage_base[stage]
        train = {"output_dir": str(self.run_dir(part)), "resume": "latest",
                 **self._train_caps(stage, base.train.steps, base.train.batch_size)}
        if "steps" in train:
            train["checkpoint_every"] = min(base.train.checkpoint_every, train["steps"])
        overrides = {"model": model, "data": {"synthetic": [str(self.data("train"))], **(data or {})}, "train": train}
        # the config read in __post_init__ (its keys as the file gives them), with the overrides over it
        cfg = resolve_config(merge_dicts(base.model_dump(exclude_unset=True), overrides))
        result = Trainer(cfg).train()
        losses = result.losses
        return {"steps": result.step, "seconds_per_step": result.seconds_per_step,
                "last_loss_mean": float(np.mean(losses[-50:])) if losses else None, "final": str(result.final_dir)}

    def part_stage0(self) -> dict:
        return self._stage("stage0", {"vae": str(self.run_dir("autoencoder") / "final")})

    def part_stage1(self) -> dict:
        return self._stage("stage1", {"vae": str(self.run_dir("autoencoder") / "final"), "unet_start": str(self.run_dir("stage0") / "final")})

    def part_stage2(self) -> dict:
        return self._stage("stage2", {"path": str(self.run_dir("stage1") / "final")})

    def part_hints(self) -> dict:
        return self._stage("hints", {"path": str(self.run_dir("stage2") / "final")})

    def part_stage1_shuffle(self) -> dict:
        return self._stage("stage1_shuffle", {"vae": str(self.run_dir("autoencoder") / "final"),
                                              "unet_start": str(self.run_dir("stage0") / "final")},
                           stage="stage1", data={"patch_shuffle": PAPER_SHUFFLE})

    def part_stage2_shuffle(self) -> dict:
        return self._stage("stage2_shuffle", {"path": str(self.run_dir("stage1_shuffle") / "final")}, stage="stage2")

    def part_validation(self) -> dict:
        return self.choose_scales(ninja_engine(self.run_dir(PACKAGED_PART) / "final", self.scale.sampling_steps))

    def choose_scales(self, base: NinjaEngine) -> dict:
        """The guidance scales of the model of ``base`` chosen on the validation pairs: the
        reference scale of :attr:`Scale.ref_scales` with the best PSNR without points, then the
        point scale of :attr:`Scale.point_scales` with the lowest point MSE with 5 guide points."""
        by_ref = {s: float(np.mean(measure(with_scales(base, s, 1.0), self.data("val"), 0, "psnr")))
                  for s in self.scale.ref_scales}
        ref = max(by_ref, key=by_ref.get)
        by_point = {s: float(np.mean(measure(with_scales(base, ref, s), self.data("val"), 5, "point_mse")))
                    for s in self.scale.point_scales}
        point = min(by_point, key=by_point.get)
        return {"guidance_scale_ref": ref, "guidance_scale_point": point, "psnr_by_ref_scale": by_ref,
                "point_mse_by_point_scale": by_point}

    def part_package(self) -> dict:
        from manganinja.pipeline import MangaNinjaPipeline

        done = {p: json.loads(_done_path(self.out, p).read_text()) for p in PARTS[:PARTS.index("package")]}
        chosen = done["validation"]["result"]
        pipe = MangaNinjaPipeline.from_pretrained(self.run_dir(PACKAGED_PART) / "final")
        pipe.set_recommended(**TINY_RECOMMENDED, guidance_scale_ref=chosen["guidance_scale_ref"],
                             guidance_scale_point=chosen["guidance_scale_point"])
        target = self.out / "model"
        tmp = target.with_name("model.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        pipe.save_pretrained(tmp, safe_serialization=True)
        command = self.command()
        made = f"by `{command}` (docs/reproduce.md); its report is `{self.out / 'report.md'}`"
        copied = {p: rec["result"]["copied_from"] for p, rec in done.items() if "copied_from" in rec["result"]}
        made += "".join(f"; its {p} part was copied from {src}" for p, src in copied.items())
        changes = self.scale.changes()
        if changes:
            made += f"; its scale changes the configs below by `{json.dumps(changes)}`"
        (tmp / "README.md").write_text(model_card(
            pipe, ae_psnr=float(done["autoencoder"]["result"]["holdout_psnr_db"]), configs=self.stage_configs(),
            made=made,
            commands=command,
            times={p: rec["seconds"] / 60 for p, rec in done.items()},
            time_note="the project's 2-core CPU; each part's wall time as the driver measured it"))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        return {"model": str(target), "bytes": size}

    def bench_runs(self, engine: Engine, swap: bool = False) -> dict[Run, dict[str, float | None]]:
        """``engine``'s benchmark scores on every run of the benchmark pairs (both directions, no
        guides, each picture sampled once) with the pair's own reference (``swap``: another
        character's, the next pair's), the point scores on the points outside the 20-guide split:
        ``{(pair, direction): scores}`` (:func:`measure_scores`)."""
        from manganinja.evaluation.benchmark import DIRECTIONS, read_manifest

        bench = self.data("bench")
        names = read_manifest(bench)["pairs"]
        return {(name, direction): scores for direction in DIRECTIONS
                for name, scores in zip(names, measure_scores(engine, bench, 0, direction, swap, scored_outside=GUIDES))}

    def psnr_runs(self, engine: Engine, swap: bool = False) -> dict[Run, float]:
        """``engine``'s whole-frame PSNR on every run of :meth:`bench_runs`: ``{(pair, direction): dB}``."""
        return metric_of(self.bench_runs(engine, swap), "psnr")

    def benchmark_scores(self, engine: NinjaEngine,
                         plain: dict[Run, dict[str, float | None]] | None = None) -> dict[str, float | int]:
        """``engine`` on the benchmark pairs: whole-frame PSNR with the pair's own reference
        (``plain``, its :meth:`bench_runs`, measured when None) and with another character's (both
        directions, paired), and the point MSE outside the 20 guides (a->b) with 0 (from ``plain``)
        and with those 20 guides."""
        plain = self.bench_runs(engine) if plain is None else plain
        own = metric_of(plain, "psnr")
        other = self.psnr_runs(engine, swap=True)
        diff = np.asarray([own[run] - other[run] for run in other])
        none = list(metric_of(plain, "point_mse", "a->b").values())
        twenty = measure(engine, self.data("bench"), GUIDES, "point_mse", scored_outside=GUIDES)
        return {"psnr_own": float(np.mean(list(own.values()))), "psnr_other": float(np.mean(list(other.values()))),
                "psnr_own_minus_other": float(diff.mean()), "own_minus_other_half": float(mean_ci95(list(diff))[1]),
                "own_better": int((diff > 0).sum()), "runs": len(diff),
                "point_mse_0": float(np.mean(none)), "point_mse_20": float(np.mean(twenty))}

    def flat_comparison(self, raw: dict[Run, float], snapped: dict[Run, float]) -> dict[str, list[GroupComparison]]:
        """The model against the flat engine (the weight-free one, its defaults) on the hard runs
        of the benchmark pairs, the others and all (:mod:`manganinja.evaluation.hard_runs`), 0
        guides: the model's PSNR on every run (:meth:`psnr_runs`) of its raw picture (``raw``) and
        of the same model snapped to the line art's regions (``snapped``), as ``manganinja
        colorize`` paints by default."""
        from manganinja.engines import build_engine
        from manganinja.evaluation.hard_runs import compare_on_hard_runs, synthetic_missing_shares

        shares = synthetic_missing_shares(self.data("bench"))
        flat = self.psnr_runs(build_engine("flat"))
        return {"raw": compare_on_hard_runs(shares, flat, raw), "snapped": compare_on_hard_runs(shares, flat, snapped)}

    def part_evaluation(self) -> dict:
        from manganinja.evaluation.hard_runs import HARD_THRESHOLD, comparison_markdown

        engine = ninja_engine(self.out / "model", self.scale.sampling_steps)  # the recommended scales
        bench = self.data("bench")
        floor = autoencoder_floor(engine.pipe, bench, engine.sampling.resolution, scored_outside=GUIDES)
        # every picture without guides sampled once, raw and as colorize paints it (snapped, each
        # guide filling its region), for the PSNR runs and the point MSE without guides alike
        plain = self.bench_runs(engine)
        snapped = engine.with_settings(engine.settings.model_copy(update={"snap": True}))
        snapped_plain = self.bench_runs(snapped)
        against_flat = self.flat_comparison(metric_of(plain, "psnr"), metric_of(snapped_plain, "psnr"))
        snapped_0 = float(np.mean(list(metric_of(snapped_plain, "point_mse", "a->b").values())))
        snapped_20 = float(np.mean(measure(snapped, bench, GUIDES, "point_mse", scored_outside=GUIDES)))
        probe = self.probe_table()
        use = self.reference_use()
        result = {
            **self.benchmark_scores(engine, plain),
            "point_mse_floor": float(np.mean(floor)),
            "point_mse_0_snapped": snapped_0, "point_mse_20_snapped": snapped_20,
            "against_flat": {which: [asdict(g) for g in groups] for which, groups in against_flat.items()},
            "probe": probe,
            "reference_use": {
                "loss_own": float(use.loss_own.mean()), "loss_other": float(use.loss_other.mean()),
                "loss_copy": float(use.loss_copy.mean()), "other_minus_own": use.other_minus_own[0],
                "blocks": [asdict(b) for b in use.blocks],
            },
        }
        lines = ["# Evaluation (benchmark pairs, seed 1)", "",
                 f"- PSNR own reference {result['psnr_own']:.2f} dB, another character's {result['psnr_other']:.2f} dB: "
                 f"own - other {result['psnr_own_minus_other']:+.2f} dB, own better in {result['own_better']} / {result['runs']} runs",
                 f"- point MSE (a->b, scored outside the 20 guides): 0 points {result['point_mse_0']:.4f}, "
                 f"20 points {result['point_mse_20']:.4f}; the floor (the target itself through the autoencoder) "
                 f"{result['point_mse_floor']:.4f}",
                 f"- the same snapped to the line art's regions, each guide filling its region (`manganinja colorize`'s "
                 f"defaults): 0 points {result['point_mse_0_snapped']:.4f}, 20 points {result['point_mse_20_snapped']:.4f}", "",
                 f"Against the flat engine, 0 guides, own reference (PSNR, dB; hard: the reference misses parts covering "
                 f"more than {HARD_THRESHOLD:.0%} of the target's character). The model's raw picture:", "",
                 *comparison_markdown(against_flat["raw"], "flat", "model"), "",
                 "The same model snapped to the line art's regions (`manganinja colorize`'s default):", "",
                 *comparison_markdown(against_flat["snapped"], "flat", "snapped"), "",
                 "| start | right part | PCK@0.1 | PCK@k |", "|---|---|---|---|"]
        lines += [f"| {name} | {r['part']:.3f} | {r['pck10']:.3f} | {r['pck_k']:.3f} |" for name, r in probe.items()]
        from manganinja.training.reference_use import markdown as use_markdown

        lines += ["", *use_markdown("the packaged model on the held-out autoencoder pairs (seed 2)", use)]
        (self.out / "tables.md").write_text("\n".join(lines) + "\n")
        return result

    def part_ablation(self) -> dict:
        chosen = json.loads(_done_path(self.out, "validation").read_text())["result"]
        chain_scales = (chosen["guidance_scale_ref"], chosen["guidance_scale_point"])
        rows = {}
        for shuffle, stage1, stage2 in ((False, "stage1", "stage2"), (True, "stage1_shuffle", "stage2_shuffle")):
            for with_stage2 in (False, True):
                model = self.run_dir(stage2 if with_stage2 else stage1) / "final"
                base = ninja_engine(model, self.scale.sampling_steps)
                own = self.choose_scales(base)
                use = self.reference_use(model)
                for which, scales in (("chain's", chain_scales), ("own", (own["guidance_scale_ref"], own["guidance_scale_point"]))):
                    key = f"shuffle={shuffle} stage2={with_stage2} scales={which}"
                    if which == "own" and scales == chain_scales:
                        continue  # the same row again
                    engine = with_scales(base, *scales)
                    rows[key] = {"patch_shuffle": shuffle, "stage2": with_stage2, "model": str(model), "scales": list(scales),
                                 "scales_from": which, **self.benchmark_scores(engine),
                                 "reference_use_other_minus_own": use.other_minus_own[0]}
        lines = ["# The ablation (benchmark pairs, seed 1)", "",
                 f"Each model at the chain's validated guidance ({chain_scales[0]:g} / {chain_scales[1]:g}) and, where its own "
                 "validation on the same pairs picks other scales, at those too.", "",
                 "| stage 1 patch shuffle | stage 2 | guidance ref / point | PSNR own (dB) | own − another (better in) "
                 "| held-out points, 0 / 20 guides | loss, another − own reference |", "|---|---|---|---|---|---|---|"]
        for r in rows.values():
            lines.append(f"| {'2 → 8' if r['patch_shuffle'] else 'none'} | {'yes' if r['stage2'] else 'no'} "
                         f"| {r['scales'][0]:g} / {r['scales'][1]:g} ({r['scales_from']}) | {r['psnr_own']:.2f} "
                         f"| {r['psnr_own_minus_other']:+.2f} ± {r['own_minus_other_half']:.2f} ({r['own_better']}/{r['runs']}) "
                         f"| {r['point_mse_0']:.4f} / {r['point_mse_20']:.4f} | {r['reference_use_other_minus_own']:+.4f} |")
        (self.out / "ablation.md").write_text("\n".join(lines) + "\n")
        return {"chain_guidance": list(chain_scales), "rows": rows}

    def reference_use(self, model: Path | None = None) -> "ReferenceUse":
        """The reference-use probe (:mod:`manganinja.training.reference_use`) of ``model`` (default:
        the packaged one) on the autoencoder's held-out pairs (seed 2, never trained on by stages 0-2)."""
        from manganinja.training.reference_use import measure_reference_use, probe_config
        from manganinja.training.trainer import Trainer

        pairs = self.scale.ae_holdout_pairs
        batch = min(8, pairs)
        model = self.out / "model" if model is None else model
        trainer = Trainer(probe_config(str(model), [str(self.data("aeval"))], batch_size=batch, resolution=TINY_RESOLUTION))
        return measure_reference_use(trainer, batches=max(1, pairs // batch))

    def probe_table(self) -> dict[str, dict[str, float]]:
        """The correspondence probe (all up blocks) of the random start, stage 0 and stage 1."""
        from manganinja.pipeline import MangaNinjaPipeline
        from manganinja.training import correspondence as C
        from manganinja.training.config import load_config
        from manganinja.training.trainer import build_pipeline

        cfg = load_config(self.configs / STAGE_CONFIGS["stage0"],
                          {"model": {"vae": str(self.run_dir("autoencoder") / "final")}})
        starts = {"random start": build_pipeline(cfg),
                  "stage 0": MangaNinjaPipeline.from_pretrained(self.run_dir("stage0") / "final"),
                  "stage 1": MangaNinjaPipeline.from_pretrained(self.run_dir("stage1") / "final")}
        pairs = C.synthetic_probe_pairs(1, self.scale.probe_pairs, self.scale.draw_size)
        out = {}
        for name, pipe in starts.items():
            unet = pipe.denoising_unet.eval()
            blocks = C.attention_block_names(unet, [f"up_blocks.{i}" for i in range(len(unet.up_blocks))])
            feats = C.unet_features(pipe, unet, blocks, 261, 64, self.scale.probe_ensemble)
            out[name] = C.run_probe(pairs, feats, k=0.05 * self.scale.draw_size).summary()
        return out


def model_card(pipe: "MangaNinjaPipeline", ae_psnr: float, configs: list[Path], made: str, commands: str,
               times: dict[str, float], time_note: str) -> str:
    """The README.md of a packaged tiny synthetic model: what it is, its ``recommended`` settings
    and parameter counts (from ``pipe``), the autoencoder's held-out PSNR ``ae_psnr``, how it was
    ``made`` (a sentence) with the shell ``commands``, the wall minutes of each part (``times``,
    measured as ``time_note`` says) and the text of every config in ``configs`` (and, for one that
    extends another, the sections as read with it)."""
    import yaml

    from manganinja.training.config import read_config_file

    names = ("vae", "reference_unet", "denoising_unet", "controlnet", "point_net", "image_encoder")
    params = {n: sum(p.numel() for p in getattr(pipe, n).parameters()) for n in names}
    rows = "\n".join(f"| {name} | {minutes:.1f} |" for name, minutes in times.items())
    hint_part = ("; **hints**, stage 1 again from stage 2 with the guides' color hints added to the ControlNet's "
                 "condition (each guide's reference color over its line-art region, and a mask; **not in the paper**, "
                 "whose points act only in the attention: with line art this model's colors come from the line-art "
                 "path, docs/reproduce.md)") if pipe.takes_hints else ""
    card = f"""# tiny-synthetic: a miniature MangaNinja for the synthetic domain

Trained from scratch on this project's synthetic cartoon pairs (`manganinja synth`) at **64 px**
(docs/reproduce.md). The chain: a small `AutoencoderKL` trained on the synthetic
frames (held-out PSNR {ae_psnr:.2f} dB at 64 px); **stage 0**, the
denoising U-Net pretrained alone as a plain unconditional diffusion model (the domain's own
"SD1.5"); **stage 1**, both U-Nets started from stage 0 and trained with the line-art ControlNet
and PointNet by the paper's recipe (0..24 point pairs, condition dropping) **without its patch
shuffle** (at 64 px it works against the matching; the ablation in docs/reproduce.md) **plus an
attention-matching loss that is not in the paper**: every self-attention
block that reads the reference bank is asked to put its attention at 32 of the generator's exact
correspondences on the right reference token (it stands in for the matching prior the paper gets
from SD1.5); **stage 2**, PointNet alone (the paper's stage 2){hint_part}.
The CLIP image encoder is a tiny *random* vision tower (frozen), so
the reference reaches the model through the attention bank. Noise schedule: v-prediction with a
zero terminal SNR and trailing timesteps (docs/reproduce.md).

It is a test of the recipe at a scale a CPU trains, not a colorizer for real line art.

```bash
manganinja colorize --model models/tiny-synthetic -r reference.png --image target.png --extractor xdog -o out.png
```

Recommended settings (`model_index.json` -> `recommended`; every entry point uses them as
defaults; the guidance scales were chosen on validation pairs, generator seed 3):
`{json.dumps(pipe.recommended)}`.

What it does and does not do, measured on held-out pairs: docs/reproduce.md.

Parameters: {', '.join(f'{k} {v:,}' for k, v in params.items())}.

## How it was made

Training data: `manganinja synth --seed 0` (4000 pairs drawn at 256 px, line art extracted
there, resized to 64 px); autoencoder hold-out: seed 2; validation: seed 3;
evaluation: `manganinja benchmark synth --seed 1` (pairs never seen in training). Made {made}.

```bash
{commands}
```

Wall time of each part ({time_note}):

| part | wall (min) |
|---|---|
{rows}

## Configs

"""
    for path in configs:
        text = path.read_text()
        card += f"### configs/{path.name}\n\n```yaml\n{text.rstrip()}\n```\n\n"
        resolved = read_config_file(path)
        if resolved != (yaml.safe_load(text) or {}):  # it extends another config
            card += f"With what it extends, as the chain read it:\n\n```yaml\n{yaml.safe_dump(resolved, sort_keys=False).rstrip()}\n```\n\n"
    return card


#: The tiny model's working size (a stage's pipeline records none; without it the engine would
#: sample at the official 512 px).
TINY_RESOLUTION = 64
#: The sampling settings a packaged tiny model records besides its chosen guidance scales: its
#: working size and 10 DDIM steps (the driver's package part and benchmarks/tiny_synthetic_package.py).
TINY_RECOMMENDED: dict[str, int] = {"resolution": TINY_RESOLUTION, "steps": 10}


def ninja_engine(model: Path, steps: int, resolution: int | None = None, snap: bool = False) -> NinjaEngine:
    """The ninja engine on ``model`` (raw output, no snapping; ``snap``: its colors snapped to the
    line art's regions, as ``manganinja colorize`` paints by default; seed 0, CPU) at ``steps``
    sampling steps, ``resolution`` (None: :data:`TINY_RESOLUTION`) and the model's recommended
    guidance scales."""
    from manganinja.engines import build_engine

    resolution = TINY_RESOLUTION if resolution is None else resolution
    return build_engine("ninja", ninja=NinjaSettings(steps=steps, resolution=resolution, snap=snap, progress=False),
                        load=LoadSettings(model=str(model), device="cpu"))


def with_scales(engine: NinjaEngine, scale_ref: float, scale_point: float) -> NinjaEngine:
    """``engine`` with other guidance scales (the loaded model is shared)."""
    return engine.with_settings(engine.settings.model_copy(update={"guidance_scale_ref": scale_ref,
                                                                   "guidance_scale_point": scale_point}))


def measure_scores(engine: Engine, data: Path, guides: int, direction: str = "a->b", swap: bool = False,
                   scored_outside: int | None = None) -> list[dict[str, float | None]]:
    """The benchmark's scores (:func:`manganinja.evaluation.benchmark.score`: ``psnr``,
    ``point_mse``, ...) of ``engine`` for every pair of the benchmark folder ``data``, each
    picture sampled once: ``guides`` guide points (the benchmark's split), the point scores on
    the points outside the first ``scored_outside`` (default: ``guides``); ``swap``: the
    reference of the next pair (another character)."""
    import torch

    from manganinja.colorize import prepare
    from manganinja.evaluation import benchmark as B
    from manganinja.lines import Lines
    from manganinja.points import PointPairs

    names = B.read_manifest(data)["pairs"]
    values = []
    with torch.no_grad():
        for i, name in enumerate(names):
            reference, target, mask, points = B.load_pair(data, name).direction(direction)
            if swap:
                reference = B.load_pair(data, names[(i + 1) % len(names)]).direction(direction)[0]
            guide_idx, _ = B.split_points(len(points), guides, name, 0)
            _, scored_idx = B.split_points(len(points), guides if scored_outside is None else scored_outside, name, 0)
            guide = PointPairs([points[int(j)] for j in guide_idx]) if guides else None
            result = prepare(engine, [reference]).colorize(Lines.from_picture(target, "xdog"), guide).composite
            values.append(B.score(result, np.asarray(target), mask, points.lineart_xy[scored_idx]))
    return values


def measure(engine: Engine, data: Path, guides: int, metric: str, direction: str = "a->b", swap: bool = False,
            scored_outside: int | None = None) -> list[float]:
    """``metric`` (``psnr`` or ``point_mse``, the benchmark's scores) of ``engine`` for every pair
    of the benchmark folder ``data`` (:func:`measure_scores`, one metric of it)."""
    return [float(s[metric]) for s in measure_scores(engine, data, guides, direction, swap, scored_outside)]


def metric_of(runs: dict[Run, dict[str, float | None]], metric: str, direction: str | None = None) -> dict[Run, float]:
    """``metric`` of every run of ``runs`` (:meth:`Chain.bench_runs`), in their order; only the
    runs of ``direction`` when given."""
    return {run: float(s[metric]) for run, s in runs.items() if direction is None or run[1] == direction}


def autoencoder_floor(pipe: "MangaNinjaPipeline", data: Path, resolution: int, direction: str = "a->b",
                      scored_outside: int = GUIDES) -> list[float]:
    """The point MSE floor of ``pipe``'s autoencoder for every pair of the benchmark folder
    ``data``: the target itself through it at ``resolution``
    (:meth:`~manganinja.pipeline.MangaNinjaPipeline.autoencode`), scored like :func:`measure` on
    the points outside the first ``scored_outside``. No sampler of this model can do better."""
    scores = oracle_scores(lambda target: np.asarray(pipe.autoencode(target, resolution)), data, direction, scored_outside)
    return scored_point_mse(scores, data, scored_outside)


def scored_point_mse(scores: "list[dict[str, float | None]]", data: Path, scored_outside: int) -> list[float]:
    """The point MSE of every score of :func:`oracle_scores` on ``data``; a ValueError naming
    ``scored_outside`` when a pair has no point left to score."""
    values = []
    for s in scores:
        if s["point_mse"] is None:
            raise ValueError(f"{data}: a pair has no points beyond the {scored_outside} guides to score")
        values.append(s["point_mse"])
    return values


def autoencoder_pipeline(vae_dir: str | Path) -> "MangaNinjaPipeline":
    """A tiny random pipeline around the ``AutoencoderKL`` saved in ``vae_dir``, for its
    :meth:`~manganinja.pipeline.MangaNinjaPipeline.autoencode` only (the floor of that
    autoencoder; its other components are random)."""
    from diffusers import AutoencoderKL

    from manganinja.pipeline import build_pipeline

    return build_pipeline("tiny", seed=0, vae=AutoencoderKL.from_pretrained(vae_dir).eval())


def oracle_scores(render: "Callable[[PIL.Image.Image], np.ndarray]", data: Path, direction: str = "a->b",
                  scored_outside: int = GUIDES) -> list[dict[str, float | None]]:
    """The benchmark's scores (:func:`manganinja.evaluation.benchmark.score`: whole-frame PSNR,
    point MSE on the points outside the first ``scored_outside``, ...) of ``render(target)``, a
    uint8 (H, W, 3) picture made from each pair's target itself (an oracle such as the target
    through an autoencoder), for every pair of the benchmark folder ``data``."""
    from manganinja.evaluation import benchmark as B

    values = []
    for name in B.read_manifest(data)["pairs"]:
        _, target, mask, points = B.load_pair(data, name).direction(direction)
        _, scored_idx = B.split_points(len(points), scored_outside, name, 0)
        values.append(B.score(render(target), np.asarray(target), mask, points.lineart_xy[scored_idx]))
    return values
