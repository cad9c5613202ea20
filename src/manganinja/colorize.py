"""The one road from settings to pictures, shared by every front end.

- :func:`engine_for`: the engine of a :class:`~manganinja.settings.RunSettings` tree, built
  through :func:`~manganinja.engines.build_engine` with the one device policy
  (:func:`load_policy`: ``auto`` becomes this process's device; ``fast`` on a GPU also means fp16
  weights and ``torch.compile``) and, for parity checks, fixed initial noise (:func:`read_latents`).
- :func:`prepare`: an engine with one set of references prepared once, a
  :class:`PreparedEngine`, the in-memory core of the road: its :meth:`~PreparedEngine.colorize`
  turns one :class:`~manganinja.lines.Lines` (made at the edge) and its points into
  :class:`~manganinja.flat.layers.Layers`, and :meth:`~PreparedEngine.recomposable` gives layers
  that recompose to their composite for any engine (what the web UI offers for download). The
  same prepared references serve another seed or other sampling values
  (:meth:`~PreparedEngine.with_seed`, :meth:`~PreparedEngine.configured`); a change that alters
  the preparation prepares again.
- :func:`run_colorize`: a checked :class:`~manganinja.requests.ColorizeRequest` (files) run to
  the end: this process's shard of the pages (``accelerate launch``, torchrun or the CLI's
  ``--processes``), the engine made and the references prepared once (:func:`prepare`), every
  page through :meth:`PreparedEngine.colorize`, written with the results manifest
  (:func:`manganinja.batch.run_pages`).

The ``colorize`` command calls :func:`run_colorize`; the web UI and the benchmark, which hold
their pictures in memory and keep prepared references between calls, make their engines with
:func:`engine_for` and colorize through :func:`prepare` and :class:`PreparedEngine`, the core
:func:`run_colorize` writes from. No front end calls an engine's ``prepare`` or ``colorize``
itself. Imports torch only for the model engine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Hashable, Optional, Sequence, TypeVar

from manganinja.batch import PageResult, run_pages, shard, single_file
from manganinja.engines import BuiltEngine, Engine, NinjaEngine, build_engine, references_rgb
from manganinja.flat.layers import Layers, layer_paths, write_layers
from manganinja.flat.snap import snap_layers
from manganinja.images import save_image
from manganinja.lines import Lines
from manganinja.points import PointPairs
from manganinja.requests import ColorizeRequest
from manganinja.settings import LoadSettings, RunSettings
from manganinja.workers import shard_of_worker, stop_with_launcher

if TYPE_CHECKING:
    import torch
    from accelerate import PartialState
    from PIL import Image

    from manganinja.pipeline import MangaNinjaPipeline


def load_policy(load: LoadSettings, fast: bool, device: str) -> LoadSettings:
    """``load`` as it runs on ``device`` (``load.device`` unless it is "auto"): with ``fast`` on
    a CUDA device the weights are fp16 (when fp32 was asked) and the model is compiled."""
    device = device if load.device == "auto" else load.device
    on_gpu = device.startswith("cuda")
    dtype = "fp16" if fast and on_gpu and load.dtype == "fp32" else load.dtype
    return load.model_copy(update={"device": device, "compile": load.compile or (fast and on_gpu), "dtype": dtype})


def read_latents(path: Path) -> "torch.Tensor":
    """Initial noise ``(1, 4, h/8, w/8)`` from a ``.safetensors`` file: its ``initial_noise``
    tensor, else its first one."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    return tensors["initial_noise"] if "initial_noise" in tensors else next(iter(tensors.values()))


def default_device() -> str:
    """The device of a single process: "cuda" when CUDA is available, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def engine_for(
    settings: RunSettings,
    *,
    device: str | None = None,
    latents: Path | None = None,
    pipe: "MangaNinjaPipeline | None" = None,
) -> BuiltEngine:
    """The engine of ``settings`` (``settings.engine``), through
    :func:`~manganinja.engines.build_engine`. For the model: loaded with :func:`load_policy` on
    ``device`` (default :func:`default_device`) unless a loaded ``pipe`` is given; sampling with
    the initial noise in ``latents`` when given. Settings are used as given: nothing here
    changes a sampling value."""
    if settings.engine != "ninja":
        return build_engine(settings.engine, ninja=settings.ninja, flat=settings.flat)
    load = None
    if pipe is None:
        load = load_policy(settings.load, settings.ninja.fast, device or default_device())
    initial = read_latents(latents) if latents is not None else None
    return build_engine("ninja", ninja=settings.ninja, load=load, pipe=pipe, latents=initial)


def _preparation(engine: Engine[Any]) -> Hashable:
    """What ``engine.prepare`` depends on besides the references: for the model, its loaded
    pipeline, working size and reference mode (seed, steps, guidance and snap do not change the
    encoding); for the other engines, the engine object itself (their ``with_seed`` returns
    them unchanged)."""
    if isinstance(engine, NinjaEngine):
        return (id(engine.pipe), engine.sampling.resolution, engine.settings.reference_mode)
    return id(engine)


#: What an engine's ``prepare`` returns (its own type per engine).
P = TypeVar("P")


@dataclass(frozen=True, eq=False)
class PreparedEngine(Generic[P]):
    """An engine with one set of references prepared for it once (:func:`prepare`): the
    in-memory core of the road that :func:`run_colorize`, the web UI and the benchmark colorize
    through.

    Attributes:
        engine: the engine (:func:`engine_for`).
        references: the RGB references it was prepared with (kept, so a setting that changes
            the preparation prepares them again).
        state: what ``engine.prepare(references)`` returned.
    """

    engine: Engine[P]
    references: tuple["Image.Image", ...]
    state: P

    def colorize(self, lines: Lines, points: PointPairs | None = None) -> Layers:
        """``lines`` colorized after the prepared references: layers at ``lines.size``
        (``composite`` uint8 ``(H, W, 3)``); empty ``points`` count as none."""
        return self.engine.colorize(self.state, lines, points if points is not None and len(points) else None)

    def recomposable(self, layers: Layers, lines: Lines) -> Layers:
        """Layers that recompose to their composite: ``layers`` (of :meth:`colorize`) themselves
        when the engine fills regions, else the shading-keeping snap of the engine's picture
        (:func:`~manganinja.flat.snap.snap_layers`; its composite is then not the picture)."""
        if self.engine.fills_regions:
            return layers
        return snap_layers(layers.composite, lines, keep_shading=True)

    def with_engine(self, engine: Engine[P]) -> PreparedEngine[P]:
        """The same references with ``engine`` (another configuration of this one): the prepared
        state is kept when ``engine`` prepares alike (:func:`_preparation`), else prepared again."""
        if engine is self.engine:
            return self
        if _preparation(engine) == _preparation(self.engine):
            return replace(self, engine=engine)
        return prepare(engine, self.references)

    def with_seed(self, seed: int) -> PreparedEngine[P]:
        """The same prepared references, sampling with ``seed``."""
        return self.with_engine(self.engine.with_seed(seed))

    def configured(self, settings: RunSettings) -> PreparedEngine[P]:
        """The same prepared references with the model's sampling settings of ``settings``
        (``settings.ninja``; a :class:`~manganinja.engines.NinjaEngine` sharing its loaded
        pipeline); other engines are kept as they are."""
        engine = self.engine
        if isinstance(engine, NinjaEngine) and engine.settings != settings.ninja:
            return self.with_engine(engine.with_settings(settings.ninja))
        return self


def prepare(engine: Engine[P], references: Sequence["Image.Image"]) -> PreparedEngine[P]:
    """``engine`` with ``references`` (RGB PIL images) prepared once (``engine.prepare``)."""
    refs = tuple(references)
    return PreparedEngine(engine, refs, engine.prepare(list(refs)))


@dataclass
class ColorizeOutcome:
    """What :func:`run_colorize` did in this process: one result per page of its shard, and the
    shard (``index`` of ``count`` processes)."""

    results: list[PageResult]
    index: int = 0
    count: int = 1
    state: Optional["PartialState"] = None

    def counts(self) -> dict[str, int]:
        """Pages ``done``, ``skipped`` and ``failed``."""
        return {s: sum(r.status == s for r in self.results) for s in ("done", "skipped", "failed")}

    def wait_for_others(self) -> None:
        """Under a multi-process launcher, wait until every process finished its pages (a
        process leaving early would make the launcher stop the others)."""
        if self.state is not None and self.state.num_processes > 1:
            self.state.wait_for_everyone()


def _process_state(load: LoadSettings) -> "PartialState":
    """accelerate's view of this process (device, rank among the launched processes)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=load.device == "cpu" or not torch.cuda.is_available())


def settings_of(request: ColorizeRequest) -> RunSettings:
    """The settings tree of a checked request."""
    return RunSettings(engine=request.engine, ninja=request.ninja, flat=request.flat,
                       load=request.load or LoadSettings(), inputs=request.inputs)


def run_colorize(request: ColorizeRequest, *, progress: bool = True, engine: BuiltEngine | None = None) -> ColorizeOutcome:
    """Colorize and write this process's shard of ``request``'s pages (see the module doc):
    the engine is made once with :func:`engine_for` (or ``engine`` is used), the references are
    prepared once (:func:`prepare`), each page's :class:`~manganinja.lines.Lines` is made at the
    edge (:meth:`~manganinja.requests.ColorizeRequest.lines`) and colorized with
    :meth:`PreparedEngine.colorize`. A page that fails is recorded and the others go on.
    ``progress``: a bar over pages (when there are several)."""
    stop_with_launcher()
    index, count = shard_of_worker()
    state = None
    settings = settings_of(request)
    if engine is None:
        device = None
        if settings.engine == "ninja":
            state = _process_state(settings.load)
            index, count = state.process_index, state.num_processes
            device = str(state.device)
        engine = engine_for(settings, device=device, latents=request.latents)
    road = prepare(engine, references_rgb(request.references))
    mine = shard(list(zip(request.pages, request.outputs)), index, count)

    def colorize(page: Path) -> tuple[Layers, Lines]:
        lines = request.lines(page)
        return road.colorize(lines, request.points), lines

    def write(result: tuple[Layers, Lines], path: Path) -> None:
        layers, lines = result
        if request.layers:
            write_layers(path, layers.composite, layers.color, lines.array)
        else:
            save_image(layers.composite, path)

    results = run_pages(
        [p for p, _ in mine], [o for _, o in mine], colorize,  # type: ignore[arg-type]
        overwrite=request.overwrite, progress=progress and len(mine) > 1, write=write,  # type: ignore[arg-type]
        files=layer_paths if request.layers else single_file, settings=request.recorded(),
        manifest=request.output_dir is not None,
    )
    return ColorizeOutcome(results, index, count, state)


__all__ = [
    "ColorizeOutcome",
    "PreparedEngine",
    "default_device",
    "engine_for",
    "load_policy",
    "prepare",
    "read_latents",
    "run_colorize",
    "settings_of",
]
