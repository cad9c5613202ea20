"""One settings type per engine: ranges checked at construction, defaults in one place, the
model's recommendation between the user's value and the official one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from manganinja.settings import (
    OFFICIAL_SAMPLING,
    FlatSettings,
    LoadSettings,
    NinjaSettings,
    check_recommended,
    describe_error,
    resolve_sampling,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "manganinja"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"steps": 0}, "steps"),
        ({"guidance_scale_ref": -1.0}, "guidance_scale_ref"),
        ({"guidance_scale_point": float("nan")}, "guidance_scale_point"),
        ({"resolution": 100}, "resolution"),
        ({"resolution": 0}, "resolution"),
        ({"guidance": "classic"}, "guidance"),
        ({"reference_mode": "mosaic"}, "reference_mode"),
        ({"seed": -1}, "seed"),
        ({"stepz": 3}, "stepz"),
    ],
)
def test_ninja_settings_refuse_bad_values(kwargs, field):
    with pytest.raises(ValidationError) as info:
        NinjaSettings(**kwargs)
    message = describe_error(info.value, {"steps": "--steps"})
    assert field in message or "--steps" in message
    assert "\n" not in message


def test_other_settings_refuse_bad_values():
    for make in (lambda: LoadSettings(dtype="fp8"), lambda: LoadSettings(offload="disk"),
                 lambda: LoadSettings(device="gpu"), lambda: LoadSettings(attention_chunk=0),
                 lambda: FlatSettings(two_tone="maybe")):
        with pytest.raises(ValidationError):
            make()
    with pytest.raises(ValueError, match="unknown key"):
        check_recommended({"resolutoin": 128})
    with pytest.raises(ValueError, match="multiple of 64"):
        check_recommended({"resolution": 100})


def test_settings_are_frozen():
    s = NinjaSettings()
    with pytest.raises(ValidationError):
        s.steps = 3  # type: ignore[misc]


def test_user_then_model_then_official():
    assert resolve_sampling(None).model_dump() == OFFICIAL_SAMPLING
    assert resolve_sampling(None, fast=True).steps == 20
    rec = {"resolution": 128, "steps": 20, "guidance_scale_point": 12.0}
    got = NinjaSettings().resolve(rec)
    assert (got.resolution, got.steps, got.guidance_scale_ref, got.guidance_scale_point) == (128, 20, 9.0, 12.0)
    got = NinjaSettings(resolution=256, steps=3, guidance_scale_point=0.0).resolve(rec)
    assert (got.resolution, got.steps, got.guidance_scale_point) == (256, 3, 0.0)


def test_sampling_defaults_live_in_one_place():
    """The official guidance scales are written once (settings.py); every signature that takes
    them defaults to None (= the model's recommendation, else the official value)."""
    where: dict[float, list[str]] = {9.0: [], 15.0: []}
    for path in SRC.rglob("*.py"):
        if path.parts[-2] == "data":  # synthetic drawing parameters, unrelated
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and type(node.value) is float and node.value in where:
                where[node.value].append(f"{path.name}:{node.lineno}")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args.args + node.args.kwonlyargs
                defaults = [None] * (len(node.args.args) - len(node.args.defaults)) + list(node.args.defaults)
                defaults += list(node.args.kw_defaults)
                for arg, default in zip(args, defaults):
                    if arg.arg in ("guidance_scale_ref", "guidance_scale_point", "resolution", "steps") and isinstance(default, ast.Constant):
                        assert default.value is None, f"{path.name}:{node.lineno} {node.name}({arg.arg}={default.value})"
    assert [w.split(":")[0] for w in where[15.0]] == ["settings.py"], where[15.0]
    assert [w.split(":")[0] for w in where[9.0]] == ["settings.py"], where[9.0]


def test_each_constant_is_written_once():
    """The pair limit, the image suffixes and the line-art choices are each written in one
    place and imported everywhere else."""
    import re

    package = Path(__file__).resolve().parents[1] / "src" / "manganinja"
    sources = {p.relative_to(package).as_posix(): p.read_text(encoding="utf-8") for p in package.rglob("*.py")}

    def where(pattern: str) -> list[str]:
        return sorted(name for name, text in sources.items() if re.search(pattern, text, re.IGNORECASE))

    assert where(r'"\.png", "\.jpg"') == ["images.py"]
    assert where(r'Literal\["auto", "xdog", "informative"\]') == ["lines.py"]
    assert where(r'Literal\["auto", "dark-on-light", "light-on-dark"\]') == ["lines.py"]
    assert where(r"(?:pair|point)s?\w*\s*(?::[^=\n]*)?=\s*24\b") == ["points.py"]
