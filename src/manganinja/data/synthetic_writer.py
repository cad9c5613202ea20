"""Synthetic data sets on disk: the writer of :mod:`manganinja.data.synthetic`.

:func:`write_dataset` writes ``manifest.json`` and one folder of :data:`PAIR_FILES` per pair,
built in a temporary sibling folder and moved into place (:func:`build_folder_atomically`), so a
failure leaves nothing behind; only a folder this generator wrote is ever replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from manganinja.data.synthetic_pairs import SynthOptions, SyntheticDataError, SyntheticPair, check_size, generate_pair
from manganinja.images import save_image, write_json_atomic

#: Bump when the same seed would produce different bytes.
GENERATOR_VERSION = "1.2"
GENERATOR_NAME = "manganinja.data.synthetic"

#: Files written for every pair by :func:`write_pair` (name -> what it holds).
PAIR_FILES: dict[str, str] = {
    "reference": "reference.png",
    "target": "target.png",
    "lineart": "lineart.png",
    "lineart_soft": "lineart_soft.png",
    "lineart_binary": "lineart_binary.png",
    "mask": "mask.png",
    "reference_mask": "reference_mask.png",
    "points": "points.json",
}


def write_pair(pair: SyntheticPair, out_dir: str | os.PathLike) -> dict[str, str]:
    """Write one pair's files (:data:`PAIR_FILES`) into ``out_dir``; returns key -> file name."""
    out = Path(out_dir)
    images = {
        "reference": pair.reference,
        "target": pair.target,
        "lineart": pair.lineart,
        "lineart_soft": pair.lineart_soft,
        "lineart_binary": pair.lineart_binary,
        "mask": pair.target_mask.astype(np.uint8) * 255,
        "reference_mask": pair.reference_mask.astype(np.uint8) * 255,
    }
    for key, arr in images.items():
        save_image(arr, out / PAIR_FILES[key])
    pair.points.to_json(out / PAIR_FILES["points"])
    return dict(PAIR_FILES)


def check_dataset_args(out_dir: str | os.PathLike, n_pairs: int, size: int, seed: int,
                       overwrite: bool = False) -> Path:
    """Validate :func:`write_dataset` arguments without writing anything; returns the folder."""
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise SyntheticDataError(f"number of pairs must be an integer >= 1, got {n_pairs!r}")
    check_size(size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SyntheticDataError(f"seed must be an integer >= 0, got {seed!r}")
    return check_output_folder(out_dir, overwrite, GENERATOR_NAME)


def check_output_folder(out_dir: str | os.PathLike, overwrite: bool, generator: str) -> Path:
    """The output folder of a generated set: new, empty, or (with ``overwrite``) a set that
    ``generator`` wrote (its ``manifest.json`` says so). Raises :class:`SyntheticDataError`."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SyntheticDataError(f"output '{out}' exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise SyntheticDataError(
                f"output directory '{out}' is not empty; pass overwrite=True (--overwrite) "
                "to replace it"
            )
        if not _written_by(out, generator):
            raise SyntheticDataError(
                f"output directory '{out}' is not empty and holds no set written by {generator} "
                "(no manifest.json of it); refusing to replace it"
            )
    return out


def _written_by(path: Path, generator: str) -> bool:
    try:
        data = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("generator") == generator


def pair_dir_name(index: int) -> str:
    """Folder name of pair ``index`` inside a data set."""
    return f"pair_{index:05d}"


def write_dataset(
    out_dir: str | os.PathLike,
    n_pairs: int,
    size: int = 256,
    seed: int = 0,
    overwrite: bool = False,
    options: SynthOptions | None = None,
) -> Path:
    """Generate ``n_pairs`` pairs into ``out_dir`` (``pair_00000/`` ... and ``manifest.json``).

    Pair ``i`` is ``generate_pair(np.random.default_rng([seed, i]), size, options)``, so any pair
    can be regenerated alone. The set is built in a temporary sibling folder and moved into place
    at the end: on error nothing is left at ``out_dir``. With ``overwrite``, an existing data set
    written by this generator is replaced; any other non-empty folder is refused.

    Raises:
        SyntheticDataError: bad ``n_pairs``, ``size``, ``seed`` or output folder (nothing written).
    """
    out = check_dataset_args(out_dir, n_pairs, size, seed, overwrite)
    options = SynthOptions(**{**asdict(options or SynthOptions()), "size": int(size)})
    options.validate()

    def build(tmp: Path) -> None:
        entries = []
        for i in range(int(n_pairs)):
            pair = generate_pair(np.random.default_rng([int(seed), i]), options=options)
            files = write_pair(pair, tmp / pair_dir_name(i))
            entries.append(dict(index=i, dir=pair_dir_name(i), files=files,
                                n_points=len(pair.points), params=pair.params))
        manifest = dict(
            generator=GENERATOR_NAME,
            version=GENERATOR_VERSION,
            seed=int(seed),
            size=int(size),
            n_pairs=int(n_pairs),
            rng="numpy.random.default_rng([seed, pair_index])",
            options=asdict(options),
            pairs=entries,
        )
        write_json_atomic(manifest, tmp / "manifest.json", sort_keys=True)

    return build_folder_atomically(out, build)


def build_folder_atomically(out: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp)`` on a temporary sibling folder of ``out`` and move it into place
    (replacing an existing ``out``); on any error the temporary folder is removed and ``out`` is
    left as it was. Returns ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        build(tmp)
        os.chmod(tmp, 0o755)
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, trash / "old")
            os.replace(tmp, out)
            shutil.rmtree(trash)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
