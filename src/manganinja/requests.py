"""A colorization request, checked completely before any model is loaded or any page computed.

:func:`validate_colorize` turns what a user gave (paths, options, settings) into a
:class:`ColorizeRequest` or raises :class:`RequestError` with one line naming the bad value and
the fix: the inputs are readable images within the size limit, the points fit the engine (at most
24 pairs for the model), their references and every page; the output paths are writable files
with a known image extension and unique; the model source exists and has the right layout. A
chapter with one unwritable output fails in a second, not after the model is loaded.

The CLI (``manganinja colorize``) and the web UI (:func:`check_points`,
:func:`check_output_path`) call these. Imports neither torch nor diffusers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Literal, Mapping, Sequence

from PIL import Image, UnidentifiedImageError

from manganinja.images import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS, ImageInputError, bomb_message, check_whole
from manganinja.lines import Lines, find_official_extractor
from manganinja.points import MAX_POINT_PAIRS, PointPairs
from manganinja.settings import EngineName, FlatSettings, InputSettings, LoadSettings, NinjaSettings

if TYPE_CHECKING:
    from manganinja.shots.format import Shot

#: Extensions an output image may have (written with PIL).
OUTPUT_SUFFIXES = IMAGE_SUFFIXES


class RequestError(ValueError):
    """A request that cannot run; the message is one line naming the bad value and the fix."""


@dataclass(frozen=True)
class ColorizeRequest:
    """A checked request. ``pages[i]`` is written to ``outputs[i]``; with ``picture`` the pages
    are color/gray pictures whose line art is extracted (:meth:`lines`), else drawings."""

    engine: EngineName
    references: tuple[Path, ...]
    pages: tuple[Path, ...]
    outputs: tuple[Path, ...]
    picture: bool
    points: PointPairs | None
    layers: bool
    overwrite: bool
    ninja: NinjaSettings
    flat: FlatSettings
    inputs: InputSettings
    load: LoadSettings | None
    latents: Path | None = None
    #: The ``--output-dir`` folder (its results manifest records the pages), None for ``--output``.
    output_dir: Path | None = None

    def recorded(self) -> dict[str, object]:
        """What a page's result depends on, as JSON-able values: recorded in the output folder's
        manifest, so a rerun with other settings redoes the pages."""
        settings: dict[str, object] = {
            "engine": self.engine,
            "references": [str(r) for r in self.references],
            "points": self.points.to_dict() if self.points is not None else None,
            "picture": self.picture,
            "inputs": self.inputs.model_dump(mode="json"),
            "latents": str(self.latents) if self.latents is not None else None,
        }
        if self.engine == "ninja":
            settings["ninja"] = self.ninja.model_dump(mode="json", exclude={"progress"})
            load = self.load or LoadSettings()
            settings["model"] = load.model_dump(mode="json", include={"model", "official", "dtype"})
        else:
            settings["flat"] = self.flat.model_dump(mode="json")
        return settings

    def lines(self, page: Path) -> Lines:
        """The page's :class:`~manganinja.lines.Lines`, made once here (the edge): extracted from
        a picture (the official extractor when its weights are given or found in the official
        folder) or normalized from a drawing."""
        if self.picture:
            weights = self.inputs.extractor_weights
            if weights is None and self.inputs.extractor != "xdog" and self.load is not None:
                weights = find_official_extractor(self.load.official)
            return Lines.from_picture(page, self.inputs.extractor, weights)
        return Lines.from_input(page, self.inputs.polarity)


def image_size(path: Path, what: str, max_pixels: int | None = MAX_IMAGE_PIXELS, whole: bool = False) -> tuple[int, int]:
    """(width, height) of an image file from its header, checked readable and within
    ``max_pixels``; with ``whole``, also checked not truncated or damaged
    (:func:`~manganinja.images.check_whole`, a fraction of a full decode). One-line
    :class:`RequestError` otherwise."""
    where = f"{what} '{path}'"
    if not path.exists():
        raise RequestError(f"{where}: file not found")
    if path.is_dir():
        raise RequestError(f"{where}: is a folder, expected an image file")
    try:
        with Image.open(path) as img:
            size = img.size
            try:
                orientation = img.getexif().get(0x0112, 1)
            except (OSError, SyntaxError, ValueError):  # metadata past a truncation: decoding will tell
                orientation = 1
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise RequestError(f"{where}: cannot be read as an image ({exc})") from None
    except Image.DecompressionBombError as exc:
        raise RequestError(bomb_message(where, exc)) from None
    if orientation in (5, 6, 7, 8):
        size = (size[1], size[0])
    if size[0] <= 0 or size[1] <= 0:
        raise RequestError(f"{where}: image has zero size")
    if max_pixels is not None and size[0] * size[1] > max_pixels:
        raise RequestError(f"{where}: {size[0]}x{size[1]} pixels is over the limit of {max_pixels}; downscale it first")
    if whole:
        try:
            check_whole(path, what)
        except ImageInputError as exc:
            raise RequestError(str(exc)) from None
    return size


def check_output_path(path: Path, layers: bool = False) -> None:
    """An output file path that can be written: not a folder, a known image extension (``.png``
    with layers), inside a folder that exists or can be made and is writable."""
    path = Path(path)
    if path.is_dir():
        raise RequestError(f"output '{path}' is a folder, not an image file; remove it or choose another output path")
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise RequestError(f"output '{path}': unknown image extension '{path.suffix}'; use one of {', '.join(OUTPUT_SUFFIXES)}")
    if layers and suffix != ".png":
        raise RequestError(f"output '{path}': layers need a .png path (alpha); change the extension to .png")
    check_folder_writable(path.parent, f"output '{path}'")


def _file_key(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, None for a path with nothing there yet."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def check_inputs_kept(outputs: Iterable[Path], inputs: Iterable[tuple[str, Path]], fix: str, label: str = "output") -> None:
    """Refuse an output that is, or would be written over, an input (nothing of the user's is ever
    overwritten): the same path once symlinks are resolved (a symlinked folder or file counts),
    or the same existing file (a hard link, a case-insensitive file system).

    Args:
        outputs: every file a run would write (its images, layers, records).
        inputs: ``(what, path)`` of every file it reads (``("line art", p)``).
        fix: how to choose another output, for the message (``"choose another --output-dir"``).
        label: what names the output in the message (``"output"``, ``"--json"``).

    Raises:
        RequestError: naming the first output that would overwrite an input, and the input.
    """
    by_path: dict[str, tuple[str, Path]] = {}
    by_file: dict[tuple[int, int], tuple[str, Path]] = {}
    for what, path in inputs:
        by_path.setdefault(os.path.realpath(path), (what, Path(path)))
        key = _file_key(Path(path))
        if key is not None:
            by_file.setdefault(key, (what, Path(path)))
    for out in outputs:
        found = by_path.get(os.path.realpath(out))
        if found is None:
            key = _file_key(Path(out))
            found = by_file.get(key) if key is not None else None
        if found is not None:
            what, path = found
            same = "is" if os.path.abspath(out) == os.path.abspath(path) else "would overwrite"
            raise RequestError(f"{label} '{out}' {same} the {what} '{path}'; {fix} (inputs are never overwritten)")


def check_folder_kept(folder: Path, inputs: Iterable[tuple[str, Path]], fix: str) -> None:
    """Refuse an output folder that a run may replace as a whole (``convert --overwrite``) when it
    is, or holds, an input (symlinks resolved)."""
    target = Path(os.path.realpath(folder))
    for what, path in inputs:
        real = Path(os.path.realpath(path))
        if real == target or target in real.parents:
            same = "is" if real == target else "holds"
            raise RequestError(f"output folder '{folder}' {same} the {what} '{path}'; {fix} (inputs are never overwritten)")


def check_points_output(path: Path, option: str = "--output") -> None:
    """Where a command writes point pairs: a ``.json`` file (so a slip of ``-o`` never writes JSON
    over a picture) in a folder that exists or can be made and is writable.

    Raises:
        RequestError: one line naming ``option``, the path and the fix.
    """
    path = Path(path)
    if path.suffix.lower() != ".json":
        raise RequestError(f"{option} '{path}': point pairs are written as JSON; give a path ending in .json")
    if path.is_dir():
        raise RequestError(f"{option} '{path}' is a folder; give a file path ending in .json")
    check_folder_writable(path.parent, f"{option} '{path}'")


def check_at_least(values: Mapping[str, int | float], least: int) -> None:
    """Each of ``values`` (option -> value, ``{"--steps": 0}``) is at least ``least``.

    Raises:
        RequestError: ``--steps must be >= 1, got 0`` for the first that is not.
    """
    for option, value in values.items():
        if value < least:
            raise RequestError(f"{option} must be >= {least}, got {value}")


def check_report_path(path: Path, option: str, inputs: Iterable[tuple[str, Path]] = (), folder: bool = False) -> None:
    """Where a benchmark or diagnostic writes its figures (``--json FILE``, ``--out FOLDER``),
    checked before it runs: a file path is not a folder (``folder=True``: not a file), and its
    folder exists or can be made (when writing) and is writable; and the path is none of the
    ``inputs`` (``(what, path)``: a model or data folder, a config file) and lies inside no input
    folder, symlinks resolved, so a run never writes into a model or over a config it reads.

    Raises:
        RequestError: one line naming ``option``, the path and the fix.
    """
    path = Path(path)
    if folder:
        check_output_folder(path, option)
    else:
        if path.is_dir():
            raise RequestError(f"{option} '{path}' is a folder; give a file path")
        check_folder_writable(path.parent, f"{option} '{path}'")
    target = Path(os.path.realpath(path))
    inputs = list(inputs)
    for what, source in inputs:
        real = Path(os.path.realpath(source))
        if Path(source).is_dir() and (real == target or real in target.parents):
            where = "is" if real == target else "is inside"
            raise RequestError(f"{option} '{path}' {where} the {what} '{source}'; give a path outside it (inputs are never overwritten)")
    check_inputs_kept([path], [(w, p) for w, p in inputs if not Path(p).is_dir()], "give another path", label=option)


def written_files(outputs: Sequence[Path], layers: bool, output_dir: Path | None) -> list[Path]:
    """Every file a ``colorize`` run writes for ``outputs``: each image (with ``layers``, its
    ``_color``/``_lines`` files too) and, with an output folder, its results manifest."""
    from manganinja.flat.layers import layer_paths
    from manganinja.manifest import manifest_path

    files = list(outputs)
    if layers:
        files += [f for out in outputs if out.suffix.lower() == ".png" for f in layer_paths(out).values()]
    if output_dir is not None:
        files.append(manifest_path(output_dir))
    return files


def check_shot_output(shot: "Shot", output_dir: Path, layers: bool = False) -> None:
    """Refuse a ``shot colorize`` output folder whose files would overwrite the shot's own files
    (its line frames, colored frames, point files, ``shot.json``): e.g. ``--output-dir SHOT/line``.
    The output folder may be inside the shot (``SHOT/out``) or the shot folder itself. Also checks
    that the folder can be made and written (:func:`check_output_folder`)."""
    from manganinja.manifest import manifest_path
    from manganinja.shots.render import layer_paths
    from manganinja.shots.plan import RUN_FILE

    root = Path(shot.root)
    output_dir = Path(output_dir)
    check_output_folder(output_dir, "--output-dir")
    kinds = {"line": "line frame", "gt": "colored frame", "points": "point file"}
    inputs = [(what, p) for sub, what in kinds.items() if (root / sub).is_dir()
              for p in sorted((root / sub).iterdir()) if p.is_file()]
    if (root / "shot.json").is_file():
        inputs.append(("shot file", root / "shot.json"))
    outputs = [output_dir / f"{frame.stem}.png" for frame in shot.frames]
    if layers:
        outputs += [f for out in list(outputs) for f in layer_paths(out).values()]
    outputs += [output_dir / RUN_FILE, manifest_path(output_dir)]
    check_inputs_kept(outputs, inputs, "choose another --output-dir")


#: The folders a benchmark or diagnostic script reads, by kind: the file that marks one and how
#: to get one (:func:`check_input_folder`).
FolderKind = Literal["pipeline", "benchmark", "AutoencoderKL"]
INPUT_FOLDERS: dict[FolderKind, tuple[str, str]] = {
    "pipeline": ("model_index.json", "give a saved model folder such as models/tiny-synthetic"),
    "benchmark": ("manifest.json", "make one with manganinja benchmark synth"),
    "AutoencoderKL": ("config.json", "give a train-autoencoder output's final/ folder"),
}


def check_input_folder(path: Path, option: str, kind: FolderKind) -> None:
    """``path`` (given as ``option``; ``""`` for a positional argument) is a local folder of
    ``kind`` (:data:`INPUT_FOLDERS`: ``pipeline``, ``benchmark`` or ``AutoencoderKL``). Scripts
    take models only as folders: unlike :func:`manganinja.engines.check_model_source`, a missing
    name is not read as a Hugging Face id.

    Raises:
        RequestError: ``--model x is not a pipeline folder (no model_index.json); give ...``.
    """
    marker, fix = INPUT_FOLDERS[kind]
    if not (Path(path) / marker).is_file():
        raise RequestError(f"{f'{option} ' if option else ''}{path} is not {'an' if kind[0] in 'AEIOU' else 'a'} "
                           f"{kind} folder (no {marker}); {fix}")


def check_output_folder(folder: Path, option: str) -> None:
    """An output folder that exists or can be made, and is writable."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RequestError(f"{option} '{folder}' is a file; give a folder")
    check_folder_writable(folder, f"{option} '{folder}'")


def check_folder_writable(folder: Path, where: str) -> None:
    """``folder`` exists or can be made (its first existing ancestor is a folder) and is writable;
    ``where`` names what needs it in the message (``output 'a/b.png'``)."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise RequestError(f"{where}: '{existing}' is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RequestError(f"{where}: folder '{existing}' is not writable; choose another output folder")


def check_points(
    points: PointPairs,
    reference_sizes: Sequence[tuple[int, int]],
    lineart_sizes: Sequence[tuple[int, int]],
    engine: str,
    source: str = "points",
) -> None:
    """The pairs fit the engine (at most :data:`~manganinja.points.MAX_POINT_PAIRS` for the model),
    their reference and every line-art size given."""
    limit = MAX_POINT_PAIRS if engine == "ninja" else None
    for size in dict.fromkeys(lineart_sizes):
        try:
            points.validate(list(reference_sizes), size, max_pairs=limit)
        except ValueError as exc:
            raise RequestError(f"{source}: {exc}") from None


def validate_colorize(
    *,
    engine: str,
    references: Sequence[Path],
    lineart: Sequence[str | Path] = (),
    image: Path | None = None,
    points: Path | None = None,
    output: Path | None = None,
    output_dir: Path | None = None,
    layers: bool = False,
    overwrite: bool = False,
    ninja: NinjaSettings | None = None,
    flat: FlatSettings | None = None,
    inputs: InputSettings | None = None,
    load: LoadSettings | None = None,
    latents: Path | None = None,
) -> ColorizeRequest:
    """Check everything a ``colorize`` run needs before any work; see the module doc.

    ``lineart``: files, folders or glob patterns of drawings; ``image``: one picture to extract
    line art from instead. ``load`` (model source, device...) is for ``engine="ninja"``.

    Raises:
        RequestError: the first problem, in one line.
    """
    from manganinja.batch import expand_pages, output_paths

    ninja = ninja or NinjaSettings()
    flat = flat or FlatSettings()
    inputs = inputs or InputSettings()
    if engine not in ("ninja", "flat"):
        raise RequestError(f"--engine must be 'ninja' or 'flat', got {engine!r}")
    if image is not None and lineart:
        raise RequestError("give either --lineart pages or --image, not both")
    if image is None and not lineart:
        raise RequestError("give --lineart (one or more pages) or --image (a picture to extract line art from)")
    if (output is None) == (output_dir is None):
        raise RequestError("give exactly one of --output (one page) or --output-dir (many pages)")
    if not references:
        raise RequestError("give at least one --reference image")
    if engine == "flat":
        if load is not None and (load.model is not None or load.official is not None):
            raise RequestError("--engine flat needs no model; drop --model/--official")
        load = None
    elif layers and not ninja.snap:
        raise RequestError("--layers needs --snap with the ninja engine (the fills come from the line art's regions)")

    try:
        pages = [Path(image)] if image is not None else expand_pages(list(lineart))
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    if output is not None and len(pages) != 1:
        raise RequestError(f"--output takes one page but {len(pages)} were given; use --output-dir")
    try:
        outputs = [Path(output)] if output is not None else output_paths(pages, Path(output_dir))  # type: ignore[arg-type]
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    if output_dir is not None:
        check_output_folder(Path(output_dir), "--output-dir")
    check_inputs_kept(
        written_files(outputs, layers, Path(output_dir) if output_dir is not None else None),
        [(f"reference {i + 1}", Path(r)) for i, r in enumerate(references)]
        + [("image" if image is not None else "line art", p) for p in pages]
        + [(what, Path(f)) for what, f in (("points file", points), ("--latents file", latents),
                                           ("--extractor-weights file", inputs.extractor_weights)) if f is not None],
        "choose another --output-dir" if output_dir is not None else "choose another --output",
    )

    reference_sizes = [image_size(Path(r), f"reference {i + 1}", whole=True) for i, r in enumerate(references)]
    page_sizes = [image_size(p, "image" if image is not None else "line art", whole=True) for p in pages]
    for out in outputs:
        check_output_path(out, layers)

    pairs = None
    if points is not None:
        try:
            pairs = PointPairs.from_json(points)
        except ValueError as exc:
            raise RequestError(str(exc).replace("\n", " ")) from None
        check_points(pairs, reference_sizes, page_sizes, engine, source=f"points '{points}'")

    if image is not None:
        weights = inputs.extractor_weights
        if weights is not None and not Path(weights).is_file():
            raise RequestError(f"--extractor-weights '{weights}': file not found")
        found = weights or (find_official_extractor(load.official) if load is not None else None)
        if inputs.extractor == "informative" and found is None:
            raise RequestError("--extractor informative needs the official extractor weights: pass --extractor-weights sk_model.pth")
    if latents is not None and not Path(latents).is_file():
        raise RequestError(f"--latents '{latents}': file not found")
    if engine == "ninja":
        from manganinja.engines import check_model_source

        load = load or LoadSettings()
        try:
            check_model_source(load)
        except ValueError as exc:
            raise RequestError(str(exc)) from None
    return ColorizeRequest(
        engine=engine,  # type: ignore[arg-type]
        references=tuple(Path(r) for r in references),
        pages=tuple(pages),
        outputs=tuple(outputs),
        picture=image is not None,
        points=pairs,
        layers=layers,
        overwrite=overwrite,
        ninja=ninja,
        flat=flat,
        inputs=inputs,
        load=load,
        latents=latents,
        output_dir=Path(output_dir) if output_dir is not None else None,
    )
