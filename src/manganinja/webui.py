"""Web page for interactive colorization: upload references and a line art, click point pairs,
colorize (Gradio).

The page is a thin layer over the library: images are read with :func:`manganinja.images.load_image`,
line arts with :class:`manganinja.lines.Lines`, points are :class:`manganinja.points.PointPairs` in the
pixels of the uploaded images, and colorization goes through the :class:`manganinja.engines.Engine`
protocol, through the library's road (:func:`manganinja.colorize.engine_for` makes the engines,
:func:`manganinja.colorize.prepare` prepares the references once per set, and
:class:`manganinja.colorize.PreparedEngine` colorizes). The pure functions below (``add_click``, ``undo``, ``render_*``...) hold the page's
logic; :func:`build_app` only wires them to components.

Safety: the server listens on localhost unless told otherwise, uploads are limited in bytes and
pixels (:class:`UiLimits`), only uploaded files are read, and requests are queued one at a time
(``default_concurrency_limit=1``), so a model is never run by two requests at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from manganinja.colorize import PreparedEngine, engine_for, prepare
from manganinja.engines import Engine, NinjaEngine
from manganinja.flat.layers import Layers, write_layers
from manganinja.images import ImageInputError, fit_long_side, load_image, save_image, to_rgb
from manganinja.lines import Lines
from manganinja.requests import check_points
from manganinja.settings import LoadSettings, NinjaSettings, RunSettings, describe_error
from manganinja.points import MAX_POINT_PAIRS, PointPair, PointPairs, PointsError

if TYPE_CHECKING:  # pragma: no cover
    import gradio as gr
from manganinja.points_draw import draw_marker

log = logging.getLogger("manganinja.webui")

#: Engine names shown in the settings.
NINJA, FLAT = "ninja", "flat"
#: Height of the image views in CSS pixels (larger images are shown scaled down; clicks map back
#: to image pixels).
VIEW_HEIGHT = 420
#: Click targets.
REFERENCE, LINEART = "reference", "lineart"

#: ``suggest(reference RGB, line art, k) -> PointPairs`` (reference index 0).
SuggestFn = Callable[[Image.Image, Lines, int], PointPairs]


class NamedFile(Protocol):
    """A file object of an older Gradio upload (its temporary path in ``name``)."""

    name: str


#: What a ``gr.File`` / ``gr.UploadButton`` hands a handler for one file: its temporary path.
Upload = str | NamedFile


class UploadError(ValueError):
    """An upload the page refuses; the message is shown to the user and names the file."""


@dataclass(frozen=True)
class UiLimits:
    """What the page accepts. ``max_upload_mb`` is enforced by Gradio before a file is stored
    and again when it is read; ``max_pixels`` (width x height) when it is read."""

    max_upload_mb: float = 25.0
    max_pixels: int = 4096 * 4096
    max_references: int = 4
    max_pairs: int = MAX_POINT_PAIRS

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@dataclass(frozen=True)
class Session:
    """One browser tab's inputs and points (kept in a ``gr.State``; updated by returning copies).

    Attributes:
        references: RGB reference images, as uploaded (image pixels).
        reference_keys: a content hash per reference (reuses the engine's prepared references).
        lineart: the uploaded line art as :class:`~manganinja.lines.Lines` (made once, when it
            is uploaded), or None.
        pairs: the completed point pairs, numbered from 1 in this order.
        pending: ``(reference_index, (x, y))`` of a reference click waiting for its line-art
            click, or None.
        active: index of the reference shown (and clicked).
    """

    references: tuple[Image.Image, ...] = ()
    reference_keys: tuple[str, ...] = ()
    lineart: Lines | None = field(default=None, repr=False)
    pairs: tuple[PointPair, ...] = ()
    pending: tuple[int, tuple[float, float]] | None = None
    active: int = 0

    @property
    def points(self) -> PointPairs:
        return PointPairs(self.pairs)


# ----------------------------------------------------------------------------------------------
# Uploads


def read_upload(path: str | Path, name: str, limits: UiLimits) -> Image.Image:
    """Open an uploaded file as a PIL image, within ``limits``.

    Raises:
        UploadError: too many bytes or pixels, or not an image; the message names the file by
            its base name (never the server's temp path).
    """
    path = Path(path)
    where = f"{name} '{path.name}'"
    size = path.stat().st_size if path.is_file() else 0
    if size > limits.max_upload_bytes:
        raise UploadError(f"{where}: {size / 2**20:.1f} MB is over the {limits.max_upload_mb:g} MB upload limit")
    try:
        return load_image(path, name=name, max_pixels=limits.max_pixels)
    except ImageInputError as exc:
        raise UploadError(str(exc).replace(f"'{path}'", f"'{path.name}'")) from exc


def content_key(image: Image.Image) -> str:
    """A hash of an image's size, mode and pixels."""
    digest = hashlib.sha1(f"{image.size}{image.mode}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def with_references(session: Session, images: Sequence[Image.Image], limits: UiLimits) -> Session:
    """Replace the references (RGB); pairs and the pending click are cleared, since they point
    into the old images."""
    if len(images) > limits.max_references:
        raise UploadError(f"{len(images)} references given; the page takes at most {limits.max_references}")
    refs = tuple(to_rgb(im) for im in images)
    return replace(session, references=refs, reference_keys=tuple(content_key(r) for r in refs),
                   pairs=(), pending=None, active=0)


def prepare_lineart(image: Image.Image, extract: bool) -> Lines:
    """The :class:`~manganinja.lines.Lines` of an uploaded line art (any polarity), or drawn
    from a color/gray picture when ``extract``."""
    return Lines.from_picture(image) if extract else Lines.from_input(image)


def with_lineart(session: Session, lineart: Lines | np.ndarray | None) -> Session:
    """Replace the line art (a float ``(H, W)`` array is taken as a line map); pairs are kept
    only when the size is unchanged."""
    if lineart is not None and not isinstance(lineart, Lines):
        lineart = Lines.from_input(lineart)
    same = lineart is not None and session.lineart is not None and lineart.size == session.lineart.size
    return replace(session, lineart=lineart, pairs=session.pairs if same else (), pending=session.pending if same else None)


# ----------------------------------------------------------------------------------------------
# Points


def add_click(session: Session, target: str, xy: Sequence[float], limits: UiLimits = UiLimits()) -> tuple[Session, str]:
    """Apply a click at ``xy`` = (x, y) image pixels on ``target`` (``"reference"``: the shown
    reference, or ``"lineart"``). A reference click starts (or moves) the pending pair; a
    line-art click completes it. Returns the new session and a message for the user.

    Raises:
        PointsError: a line-art click with no pending reference click, a click outside the
            image, or more than ``limits.max_pairs`` pairs.
    """
    x, y = float(xy[0]), float(xy[1])
    number = len(session.pairs) + 1
    if target == REFERENCE:
        if not session.references:
            raise PointsError("upload a reference first")
        w, h = session.references[session.active].size
        _inside((x, y), (w, h), "reference")
        if len(session.pairs) >= limits.max_pairs:
            raise PointsError(f"at most {limits.max_pairs} point pairs")
        return (
            replace(session, pending=(session.active, (x, y))),
            f"Pair {number}: reference point ({x:g}, {y:g}); now click the matching spot on the line art.",
        )
    if target != LINEART:
        raise ValueError(f"click target must be 'reference' or 'lineart', got {target!r}")
    if session.lineart is None:
        raise PointsError("upload a line art first")
    if session.pending is None:
        raise PointsError(f"click the reference first, then the line art (pair {number})")
    _inside((x, y), session.lineart.size, "line art")
    index, ref_xy = session.pending
    pair = PointPair(reference=ref_xy, lineart=(x, y), reference_index=index)
    return (
        replace(session, pairs=session.pairs + (pair,), pending=None),
        f"Pair {number} added: reference {index + 1} ({ref_xy[0]:g}, {ref_xy[1]:g}) -> line art ({x:g}, {y:g}).",
    )


def _inside(xy: tuple[float, float], size: tuple[int, int], what: str) -> None:
    if not (0 <= xy[0] < size[0] and 0 <= xy[1] < size[1]):
        raise PointsError(f"{what} click ({xy[0]:g}, {xy[1]:g}) is outside the {size[0]}x{size[1]} image")


def undo(session: Session) -> tuple[Session, str]:
    """Drop the pending reference click, else the last pair."""
    if session.pending is not None:
        return replace(session, pending=None), "Pending reference click removed."
    if not session.pairs:
        return session, "Nothing to undo."
    return replace(session, pairs=session.pairs[:-1]), f"Pair {len(session.pairs)} removed."


def delete_pair(session: Session, number: int) -> tuple[Session, str]:
    """Remove pair ``number`` (1-based); later pairs are renumbered.

    Raises:
        PointsError: no such pair.
    """
    if not 1 <= int(number) <= len(session.pairs):
        raise PointsError(f"there is no pair {number} (pairs: 1..{len(session.pairs)})" if session.pairs else "there are no pairs to delete")
    i = int(number) - 1
    return replace(session, pairs=session.pairs[:i] + session.pairs[i + 1:]), f"Pair {number} deleted; later pairs renumbered."


def clear_points(session: Session) -> Session:
    return replace(session, pairs=(), pending=None)


def with_points(session: Session, points: PointPairs, limits: UiLimits = UiLimits()) -> Session:
    """Replace the pairs with ``points`` after checking them against the uploaded images.

    Raises:
        PointsError: no images yet, or a pair outside its image / of a missing reference.
    """
    if not session.references or session.lineart is None:
        raise PointsError("upload the references and the line art before importing points")
    points.validate([r.size for r in session.references], session.lineart.size, max_pairs=limits.max_pairs)
    return replace(session, pairs=tuple(points), pending=None)


def with_suggestions(session: Session, suggest: SuggestFn, k: int, limits: UiLimits = UiLimits()) -> Session:
    """Append up to ``k`` pairs suggested between the shown reference and the line art (kept
    within ``limits.max_pairs``); the pending click is dropped.

    Raises:
        PointsError: no images yet, or ``k`` < 1.
    """
    if not session.references or session.lineart is None:
        raise PointsError("upload a reference and a line art first")
    room = limits.max_pairs - len(session.pairs)
    if k < 1 or room < 1:
        raise PointsError(f"cannot suggest {k} pair(s): {len(session.pairs)} of at most {limits.max_pairs} pairs are used")
    found = suggest(session.references[session.active], session.lineart, min(k, room))
    new = [replace(p, reference_index=session.active) for p in found]
    return with_points(session, PointPairs(list(session.pairs) + new), limits)


def points_json(session: Session) -> str:
    """The pairs as point-file JSON (image pixels)."""
    pairs = session.points.to_dict()["pairs"]
    if not pairs:
        return '{"pairs": []}'
    return '{"pairs": [\n' + ",\n".join("  " + json.dumps(p) for p in pairs) + "\n]}"


# ----------------------------------------------------------------------------------------------
# Rendering


def _marker_radius(size: tuple[int, int]) -> int:
    return max(5, round(max(size) / 50))


def _draw(image: Image.Image, markers: Sequence[tuple[int, tuple[float, float]]]) -> Image.Image:
    out = image.convert("RGB")
    radius = _marker_radius(out.size)
    font = ImageFont.load_default(size=max(10, radius * 3))
    draw = ImageDraw.Draw(out)
    for number, xy in markers:
        draw_marker(draw, xy, number, radius, font)
    return out


def render_reference(session: Session) -> Image.Image | None:
    """The shown reference with its pairs' markers (and the pending one), in image pixels."""
    if not session.references:
        return None
    markers = [(i + 1, p.reference) for i, p in enumerate(session.pairs) if p.reference_index == session.active]
    if session.pending is not None and session.pending[0] == session.active:
        markers.append((len(session.pairs) + 1, session.pending[1]))
    return _draw(session.references[session.active], markers)


def lineart_display(lineart: Lines) -> Image.Image:
    """Black lines on white (RGB), for display."""
    return Image.fromarray(np.rint(255.0 - 255.0 * lineart.array).astype(np.uint8)).convert("RGB")


def render_lineart(session: Session) -> Image.Image | None:
    """The line art (black on white) with all pairs' markers, in image pixels."""
    if session.lineart is None:
        return None
    return _draw(lineart_display(session.lineart), [(i + 1, p.lineart) for i, p in enumerate(session.pairs)])


def describe(session: Session, resolution: int | None) -> str:
    """One line on the inputs' sizes and the model's working size."""
    parts = [f"reference {i + 1}: {r.width}x{r.height}" for i, r in enumerate(session.references)]
    if session.lineart is not None:
        w, h = session.lineart.size
        parts.append(f"line art: {w}x{h}")
        if resolution:
            ww, hh = fit_long_side((w, h), resolution)
            parts.append(f"model works at {ww}x{hh}")
    parts.append(f"{len(session.pairs)} pair(s)")
    return " · ".join(parts)


# ----------------------------------------------------------------------------------------------
# Colorizing


#: The run options the page's controls set (named as in :data:`manganinja.settings.RUN_OPTIONS`).
PAGE_OPTIONS = ("steps", "guidance_ref", "guidance_point", "seed", "snap", "guide_fill")


def page_settings(base: RunSettings, engine: str, **controls: object) -> RunSettings:
    """The run's settings tree for the Colorize button: ``base`` (the settings the page was
    started with) with the page's ``engine`` and ``controls`` (options of :data:`PAGE_OPTIONS`),
    built by :meth:`~manganinja.settings.RunSettings.from_options` like every front end's. A bad
    value raises a one-line ``ValueError`` naming it."""
    unknown = sorted(set(controls) - set(PAGE_OPTIONS))
    if unknown:
        raise TypeError(f"unknown page control(s) {unknown}; known: {', '.join(PAGE_OPTIONS)}")
    try:
        return RunSettings.from_options(**{**base.options(), **controls, "engine": engine})
    except ValueError as exc:
        raise ValueError(describe_error(exc)) from None


@dataclass
class Colorizer:
    """The engines behind the page and the references last prepared for each (prepared once per
    set of references; a lock keeps one colorization at a time even outside Gradio's queue)."""

    engines: Mapping[str, Engine[Any]]
    suggest: SuggestFn | None = None
    _cache: dict[str, tuple[tuple[str, ...], PreparedEngine]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def resolution(self) -> int | None:
        engine = self.engines.get(NINJA)
        return engine.sampling.resolution if isinstance(engine, NinjaEngine) else None

    def base(self) -> RunSettings:
        """The settings the page starts from: the loaded model's (its sampling values decided:
        the model's recommendation, else the official ones), with the first engine chosen."""
        engine = self.engines.get(NINJA)
        ninja = NinjaSettings()
        if isinstance(engine, NinjaEngine):
            s = engine.sampling
            ninja = engine.settings.model_copy(update={
                "steps": s.steps, "guidance_scale_ref": s.guidance_scale_ref,
                "guidance_scale_point": s.guidance_scale_point})
        first = next(iter(self.engines), FLAT)
        return RunSettings(engine=first if first in (NINJA, FLAT) else FLAT, ninja=ninja)  # type: ignore[arg-type]

    def settings(self, engine: str | None = None, **controls: object) -> RunSettings:
        """:func:`page_settings` over :meth:`base`."""
        base = self.base()
        return page_settings(base, engine or base.engine, **controls)

    def colorize(self, session: Session, settings: RunSettings, layers: bool = True) -> tuple[np.ndarray, Layers | None]:
        """Colorize the session's line art through the library's road: the engine's references
        prepared once per set (:func:`manganinja.colorize.prepare`, kept while the same
        references come again), configured with the run's settings and colorized
        (:class:`manganinja.colorize.PreparedEngine`). Returns the uint8 ``(H, W, 3)`` result at
        the line art's size and, with ``layers``, layers that recompose
        (:meth:`~manganinja.colorize.PreparedEngine.recomposable`), else None.

        Raises:
            ValueError: missing inputs, bad points or an unavailable engine (message for the
                user); checked before the engine runs.
        """
        if session.lineart is None:
            raise ValueError("upload a line art before colorizing")
        if not session.references:
            raise ValueError("upload at least one reference before colorizing")
        if settings.engine not in self.engines:
            raise ValueError(f"engine {settings.engine!r} is not available (available: {', '.join(self.engines)})")
        points = session.points if session.pairs else None
        if points is not None:
            check_points(points, [r.size for r in session.references], [session.lineart.size], settings.engine)
        with self._lock:
            cached = self._cache.get(settings.engine)
            if cached is None or cached[0] != session.reference_keys:
                cached = (session.reference_keys, prepare(self.engines[settings.engine], session.references))
                self._cache[settings.engine] = cached
            road = cached[1].configured(settings)
            result = road.colorize(session.lineart, points)
        if not layers:
            return result.composite, None
        return result.composite, road.recomposable(result, session.lineart)


def write_outputs(result: np.ndarray, layers: Layers | None, lineart: Lines | np.ndarray, folder: Path) -> list[Path]:
    """Write the result files atomically into ``folder`` and return their paths.

    ``colorized.png`` is ``result`` (uint8 ``(H, W, 3)``). With ``layers``
    (:class:`~manganinja.flat.layers.Layers` of ``lineart``, float ``(H, W)`` white lines):
    ``colorized_color.png`` and ``colorized_lines.png`` when ``result`` is their composite (snapped),
    else ``layers.png``, ``layers_color.png``, ``layers_lines.png`` (a recomposable version next
    to the unsnapped result)."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(lineart, Lines):
        lineart = lineart.array
    if layers is None:
        return [save_image(result, folder / "colorized.png")]
    if np.array_equal(result, layers.composite):
        return list(write_layers(folder / "colorized.png", result, layers.color, lineart).values())
    return [save_image(result, folder / "colorized.png"),
            *write_layers(folder / "layers.png", layers.composite, layers.color, lineart).values()]


# ----------------------------------------------------------------------------------------------
# Gradio app


def default_engines(ninja: Engine | None = None) -> dict[str, Engine]:
    """``{"ninja": ninja, "flat": ...}`` (ninja only when given, and then the default)."""
    engines: dict[str, Engine] = {}
    if ninja is not None:
        engines[NINJA] = ninja
    engines[FLAT] = engine_for(RunSettings(engine=FLAT))
    return engines


def default_suggest() -> SuggestFn | None:
    """The weight-free matcher's point suggestions, when installed."""
    try:
        from manganinja.flat.engine import suggest_points
    except ImportError:
        return None
    return suggest_points


@dataclass
class PageHandlers:
    """What the page's events do, one named method per event (Gradio calls them with the
    components' values and shows what they return). Every method that changes the session
    returns :meth:`view`'s outputs; errors in the user's inputs become a warning on the page."""

    colorizer: Colorizer
    limits: UiLimits
    out_root: Path

    def export_file(self, session: Session) -> str | None:
        """The session's pairs as a points JSON file to download (None without pairs)."""
        if not session.pairs:
            return None
        folder = Path(tempfile.mkdtemp(prefix="points-", dir=self.out_root))
        return str(session.points.to_json(folder / "points.json"))

    def view(self, session: Session, message: str) -> tuple:
        """The outputs shown for ``session``: state, both views, the pairs' JSON and file, the
        status line (``message`` above the inputs' description) and the reference picker."""
        import gradio as gr

        n = len(session.references)
        about = describe(session, self.colorizer.resolution())
        return (
            session,
            render_reference(session),
            render_lineart(session),
            points_json(session),
            gr.update(value=self.export_file(session)),
            f"{message}\n\n{about}" if message else about,
            gr.update(choices=[str(i + 1) for i in range(max(n, 1))], value=str(session.active + 1)),
        )

    def warn(self, session: Session, exc: Exception) -> tuple:
        import gradio as gr

        gr.Warning(str(exc))
        return self.view(session, f"⚠ {exc}")

    def on_references(self, session: Session, files: list[Upload] | None) -> tuple:
        """Returns :meth:`view`'s outputs and the upload component's (cleared when rejected)."""
        import gradio as gr

        try:
            paths = [f if isinstance(f, str) else f.name for f in (files or [])]
            images = [read_upload(p, f"reference {i + 1}", self.limits) for i, p in enumerate(paths)]
            session = with_references(session, images, self.limits)
        except ValueError as exc:
            empty = replace(session, references=(), reference_keys=(), pairs=(), pending=None, active=0)
            return self.warn(empty, exc) + (None,)
        return self.view(session, f"{len(images)} reference(s) loaded." if images else "") + (gr.update(),)

    def on_lineart(self, session: Session, file: Upload | None, extract: bool) -> tuple:
        """Returns :meth:`view`'s outputs and the upload component's (cleared when rejected)."""
        import gradio as gr

        if file is None:
            return self.view(with_lineart(session, None), "") + (gr.update(),)
        try:
            image = read_upload(file if isinstance(file, str) else file.name, "line art", self.limits)
            session = with_lineart(session, prepare_lineart(image, extract))
        except ValueError as exc:
            return self.warn(with_lineart(session, None), exc) + (None,)
        return self.view(session, "Line art extracted." if extract else "Line art loaded.") + (gr.update(),)

    def on_pick(self, session: Session, value: str | None) -> tuple:
        i = int(value) - 1 if value else 0
        if 0 <= i < len(session.references):
            session = replace(session, active=i)
        return self.view(session, "")

    def on_click(self, target: str) -> Callable:
        """The handler of a click on the ``target`` view (:data:`REFERENCE` or :data:`LINEART`)."""
        import gradio as gr

        def handler(session: Session, evt: gr.SelectData) -> tuple:
            try:
                session, message = add_click(session, target, evt.index, self.limits)
            except ValueError as exc:
                return self.warn(session, exc)
            return self.view(session, message)

        # Gradio finds the event-data argument by its annotation object (this module's
        # annotations are strings).
        handler.__annotations__ = {"session": Session, "evt": gr.SelectData}
        return handler

    def on_undo(self, session: Session) -> tuple:
        return self.view(*undo(session))

    def on_delete(self, session: Session, number: float | None) -> tuple:
        try:
            return self.view(*delete_pair(session, int(number or 0)))
        except ValueError as exc:
            return self.warn(session, exc)

    def on_clear(self, session: Session) -> tuple:
        return self.view(clear_points(session), "All pairs cleared.")

    def on_import(self, session: Session, file: Upload | None) -> tuple:
        try:
            path = file if isinstance(file, str) else file.name
            if Path(path).stat().st_size > 1_000_000:
                raise UploadError(f"points file '{Path(path).name}' is over 1 MB")
            session = with_points(session, PointPairs.from_json(path), self.limits)
        except ValueError as exc:
            return self.warn(session, exc)
        return self.view(session, f"Imported {len(session.pairs)} pair(s).")

    def on_suggest(self, session: Session, k: float) -> tuple:
        try:
            if self.colorizer.suggest is None:
                raise ValueError("point suggestions need the weight-free engine (manganinja.flat.engine)")
            before = len(session.pairs)
            session = with_suggestions(session, self.colorizer.suggest, int(k or 0), self.limits)
        except ValueError as exc:
            return self.warn(session, exc)
        return self.view(session, f"Suggested {len(session.pairs) - before} pair(s); review them and delete wrong ones.")

    def generate(self, session: Session, engine: str, steps: float, g_ref: float, g_pt: float,
                 seed: float, snap: bool, layers: bool, guide_fill: bool) -> tuple[Image.Image, list[str], str]:
        """Colorize with the page's settings (:meth:`Colorizer.settings`) and write the files;
        a ``ValueError`` names what to fix."""
        settings = self.colorizer.settings(engine, steps=int(steps), guidance_ref=g_ref, guidance_point=g_pt,
                                           seed=int(seed), snap=snap, guide_fill=guide_fill)
        result, layer_set = self.colorizer.colorize(session, settings, layers)
        folder = Path(tempfile.mkdtemp(prefix="result-", dir=self.out_root))
        files = write_outputs(result, layer_set, session.lineart, folder)  # type: ignore[arg-type]
        return Image.fromarray(result), [str(p) for p in files], f"Done: {engine}, {len(session.pairs)} pair(s)."

    def on_generate(self) -> Callable:
        """The Colorize button's handler: :meth:`generate` with Gradio's progress and errors."""
        import gradio as gr

        def handler(session: Session, engine: str, steps: float, g_ref: float, g_pt: float, seed: float,
                    snap: bool, layers: bool, guide_fill: bool,
                    progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:
            progress(0.0, desc=f"colorizing with {engine}")
            try:
                return self.generate(session, engine, steps, g_ref, g_pt, seed, snap, layers, guide_fill)
            except ValueError as exc:
                raise gr.Error(str(exc)) from exc

        return handler


@dataclass
class PageControls:
    """The page's components (made by :func:`page_layout`)."""

    session: gr.State
    ref_files: gr.File
    ref_pick: gr.Radio
    ref_view: gr.Image
    line_file: gr.File
    extract: gr.Checkbox
    line_view: gr.Image
    result_view: gr.Image
    downloads: gr.File
    status: gr.Markdown
    undo: gr.Button
    delete_no: gr.Number
    delete: gr.Button
    clear: gr.Button
    suggest_k: gr.Number
    suggest: gr.Button
    points_view: gr.Code
    import_points: gr.UploadButton
    export_points: gr.DownloadButton
    engine: gr.Radio
    steps: gr.Slider
    g_ref: gr.Slider
    g_pt: gr.Slider
    seed: gr.Number
    snap: gr.Checkbox
    guide_fill: gr.Checkbox
    layers: gr.Checkbox
    generate: gr.Button

    def views(self) -> list[gr.components.Component]:
        """The outputs of :meth:`PageHandlers.view`, in its order."""
        return [self.session, self.ref_view, self.line_view, self.points_view, self.export_points, self.status,
                self.ref_pick]


def page_layout(names: Sequence[str], defaults: RunSettings, limits: UiLimits) -> PageControls:
    """Lay out the page's components (inside an open ``gr.Blocks``): uploads and views, the
    point-pair tools, the settings (starting at ``defaults``) and the Colorize button."""
    import gradio as gr

    gr.Markdown(
        "## MangaNinja: colorize a line art after a reference\n"
        "1. Upload one or more references and a line art (or a picture with *extract line art*). "
        "2. Click a spot on the reference, then the matching spot on the line art: that is one "
        "point pair. 3. Colorize. Coordinates are pixels of the uploaded images."
    )
    c: dict[str, gr.components.Component] = {"session": gr.State(Session())}
    with gr.Row():
        with gr.Column():
            c["ref_files"] = gr.File(label="References", file_count="multiple", elem_id="ref-upload")
            c["ref_pick"] = gr.Radio(["1"], value="1", label="Reference shown", elem_id="ref-pick")
            c["ref_view"] = gr.Image(label="Reference: click a spot", interactive=False, type="pil",
                                     elem_id="ref-view", height=VIEW_HEIGHT, buttons=[])
        with gr.Column():
            c["line_file"] = gr.File(label="Line art (or a color/gray picture)", elem_id="line-upload")
            c["extract"] = gr.Checkbox(label="Extract line art (upload is a color/gray picture)", value=False,
                                       elem_id="extract")
            c["line_view"] = gr.Image(label="Line art: click the matching spot", interactive=False, type="pil",
                                      elem_id="line-view", height=VIEW_HEIGHT, buttons=[])
        with gr.Column():
            c["result_view"] = gr.Image(label="Result", interactive=False, type="pil", elem_id="result-view",
                                        height=VIEW_HEIGHT)
            c["downloads"] = gr.File(label="Downloads (composite and layers)", file_count="multiple",
                                     interactive=False, elem_id="downloads")
    c["status"] = gr.Markdown("Upload a reference and a line art.", elem_id="status")
    with gr.Row():
        c["undo"] = gr.Button("Undo", elem_id="undo")
        c["delete_no"] = gr.Number(label="Pair to delete", value=1, precision=0, minimum=1, elem_id="delete-no")
        c["delete"] = gr.Button("Delete pair", elem_id="delete")
        c["clear"] = gr.Button("Clear pairs", elem_id="clear")
        c["suggest_k"] = gr.Number(label="Pairs to suggest", value=5, precision=0, minimum=1,
                                   maximum=limits.max_pairs, elem_id="suggest-k")
        c["suggest"] = gr.Button("Suggest points", elem_id="suggest")
    with gr.Row():
        c["points_view"] = gr.Code(value=points_json(Session()), language="json", label="Point pairs (image pixels)",
                                   interactive=False, max_lines=14, elem_id="points-json")
        with gr.Column():
            c["import_points"] = gr.UploadButton("Import points JSON", file_types=[".json"], elem_id="import")
            c["export_points"] = gr.DownloadButton("Export points JSON", elem_id="export")
    ninja = defaults.ninja
    with gr.Accordion("Settings", open=True):
        with gr.Row():
            c["engine"] = gr.Radio(list(names), value=names[0], label="Engine", elem_id="engine")
            c["steps"] = gr.Slider(1, 100, value=ninja.steps, step=1, label="Steps (model)")
            c["g_ref"] = gr.Slider(0, 20, value=ninja.guidance_scale_ref, step=0.5, label="Reference guidance (model)")
            c["g_pt"] = gr.Slider(0, 30, value=ninja.guidance_scale_point, step=0.5, label="Point guidance (model)")
            c["seed"] = gr.Number(value=ninja.seed, precision=0, label="Seed")
        with gr.Row():
            c["snap"] = gr.Checkbox(value=ninja.snap, label="Snap the model's colors to line-art regions (ninja)",
                                    elem_id="snap")
            c["guide_fill"] = gr.Checkbox(value=ninja.guide_fill, label="Snapped: each pair's region takes its reference color (ninja)",
                                          elem_id="guide-fill")
            c["layers"] = gr.Checkbox(value=True, label="Layers (color, lines) for download", elem_id="layers")
    c["generate"] = gr.Button("Colorize", variant="primary", elem_id="generate")
    return PageControls(**c)


def wire_page(c: PageControls, h: PageHandlers) -> None:
    """Connect the components' events to the handlers."""
    outs = c.views()
    for event in (c.ref_files.upload, c.ref_files.clear):
        event(h.on_references, [c.session, c.ref_files], outs + [c.ref_files])
    for event in (c.line_file.upload, c.line_file.clear, c.extract.input):
        event(h.on_lineart, [c.session, c.line_file, c.extract], outs + [c.line_file])
    c.ref_pick.input(h.on_pick, [c.session, c.ref_pick], outs)
    c.ref_view.select(h.on_click(REFERENCE), [c.session], outs)
    c.line_view.select(h.on_click(LINEART), [c.session], outs)
    c.undo.click(h.on_undo, [c.session], outs)
    c.delete.click(h.on_delete, [c.session, c.delete_no], outs)
    c.clear.click(h.on_clear, [c.session], outs)
    c.import_points.upload(h.on_import, [c.session, c.import_points], outs)
    c.suggest.click(h.on_suggest, [c.session, c.suggest_k], outs)
    c.generate.click(h.on_generate(), [c.session, c.engine, c.steps, c.g_ref, c.g_pt, c.seed, c.snap, c.layers, c.guide_fill],
                     [c.result_view, c.downloads, c.status])


def build_app(
    engines: Mapping[str, Engine] | None = None,
    *,
    suggest: SuggestFn | None = None,
    limits: UiLimits = UiLimits(),
    workdir: str | Path | None = None,
) -> gr.Blocks:
    """Build the page (a ``gr.Blocks``; call ``.queue(default_concurrency_limit=1).launch(...)``
    or use :func:`launch`): :func:`page_layout`'s components wired by :func:`wire_page` to
    :class:`PageHandlers`.

    Args:
        engines: name -> :class:`~manganinja.engines.Engine`; default: the weight-free engine
            only. Its first entry is the default choice.
        suggest: point suggester for the "suggest points" button (default: the weight-free
            matcher's, when available).
        limits: upload limits.
        workdir: where result files are written before Gradio serves them (default: a temp dir).
    """
    import gradio as gr

    colorizer = Colorizer(dict(engines) if engines is not None else default_engines(),
                          suggest=suggest if suggest is not None else default_suggest())
    out_root = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="manganinja-ui-"))
    out_root.mkdir(parents=True, exist_ok=True)
    with gr.Blocks(title="MangaNinja colorization", analytics_enabled=False) as demo:
        # The controls start at the model's values (its recommendation, else the official ones).
        controls = page_layout(list(colorizer.engines), colorizer.base(), limits)
        wire_page(controls, PageHandlers(colorizer, limits, out_root))
    demo.queue(default_concurrency_limit=1)
    demo.manganinja_limits = limits  # read by launch()
    return demo


def check_port(host: str, port: int) -> None:
    """Raise a one-line ``ValueError`` when ``host``:``port`` cannot be listened on (in use, or
    an address of another machine)."""
    import socket

    if not 0 < port < 65536:
        raise ValueError(f"port must be in 1..65535, got {port}")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, port))
    except OSError as exc:
        raise ValueError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port, e.g. --port {port + 1}") from None


def launch(
    load: LoadSettings | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    limits: UiLimits = UiLimits(),
    settings: NinjaSettings | None = None,
    prevent_thread_lock: bool = False,
    announce: Callable[[str], None] = print,
) -> gr.Blocks:
    """Check the port, load the model once (when ``load`` names one), build the page and serve
    it on ``host``:``port`` (localhost by default); ``announce`` gets the page's URL. Returns the
    ``gr.Blocks``."""
    check_port(host, port)
    ninja = None
    if load is not None and (load.model is not None or load.official is not None):
        ninja = engine_for(RunSettings(engine="ninja", load=load, ninja=settings or NinjaSettings()))
    demo = build_app(default_engines(ninja), limits=limits)
    return serve(demo, host=host, port=port, prevent_thread_lock=prevent_thread_lock, announce=announce)


def serve(
    demo: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    prevent_thread_lock: bool = False,
    announce: Callable[[str], None] | None = None,
) -> gr.Blocks:
    """Serve a page from :func:`build_app` on ``host``:``port`` with its upload limit; with
    ``prevent_thread_lock`` return at once (the server runs in a thread; ``demo.close()`` stops
    it). ``announce`` gets the URL once the server listens. Returns ``demo``."""
    limits: UiLimits = getattr(demo, "manganinja_limits", UiLimits())
    demo.launch(server_name=host, server_port=port, max_file_size=limits.max_upload_bytes,
                prevent_thread_lock=True, show_error=True, quiet=True)
    if announce is not None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        announce(f"manganinja ui: open http://{shown}:{port}/ (Ctrl+C stops it)")
    if not prevent_thread_lock:
        demo.block_thread()
    return demo
