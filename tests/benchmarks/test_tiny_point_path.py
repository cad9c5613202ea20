"""benchmarks/tiny_point_path.py --attention: the guides' attention is split into the REF and the
POINT branch correctly, and it sees the point embeddings (tiny random pipeline, one pair)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from manganinja.evaluation import benchmark as B
from manganinja.pipeline import build_pipeline

from _scripts import exit_code, load_script


def script():
    return load_script("tiny_point_path")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return B.write_synthetic_benchmark(tmp_path_factory.mktemp("bench") / "b", pairs=1, seed=1, size=128)


def tiny():
    pipe = build_pipeline("tiny", seed=0)
    pipe.set_recommended(resolution=64)
    return pipe


def measure(pipe, data: Path):
    torch.manual_seed(0)
    return script().guide_attention(pipe, data, list(B.read_manifest(data)["pairs"]), n_points=8, steps=2)


def test_both_branches_are_measured_on_every_grid(data):
    pipe = tiny()
    stats, errors = measure(pipe, data)
    sides = {side for side, _ in stats}
    assert sides and all((side, "REF") in stats and (side, "POINT") in stats for side in sides)
    for side in sides:
        assert len(stats[(side, "REF")]) == len(stats[(side, "POINT")]) > 0
    values = np.asarray([v for rows in stats.values() for v in rows])
    assert np.all((values >= 0) & (values <= 1))
    assert len(errors["REF"]) == len(errors["POINT"]) == 1 and np.isfinite(errors["REF"] + errors["POINT"]).all()
    assert pipe.reference_state.observer is None  # removed afterwards
    table = "\n".join(script().attention_markdown(stats, errors))
    assert "| REF branch alone |" in table and "| POINT - REF (paired) |" in table


def test_zero_point_embeddings_make_the_point_branch_the_ref_branch(data):
    """With PointNet's weights at zero its embeddings are zero, so the POINT branch attends exactly
    like the REF branch; with its random weights it does not. A wrong split of the calls into
    branches, or a measure blind to the embeddings, fails one of the two."""
    pipe = tiny()
    random_stats, _ = measure(pipe, data)
    assert any(not np.allclose(random_stats[(side, "POINT")], random_stats[(side, "REF")]) for side, _ in random_stats)
    with torch.no_grad():
        for param in pipe.point_net.parameters():
            param.zero_()
    zero_stats, _ = measure(pipe, data)
    for side, _ in zero_stats:
        np.testing.assert_allclose(zero_stats[(side, "POINT")], zero_stats[(side, "REF")], rtol=1e-5, atol=1e-7)


def test_the_report_names_the_autoencoder_floor(tmp_path, capsys):
    """The point-path table ends with the floor: the error at the guides of the target itself
    through the autoencoder, the same for every sampling run of the pair."""
    import json

    tiny().save_pretrained(tmp_path / "model")
    out = tmp_path / "path.json"
    assert script().main([str(tmp_path / "model"), "--pairs", "1", "--points", "4", "--steps", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "floor, the target itself through the autoencoder at 64 px" in printed
    report = json.loads(out.read_text())
    assert len(report["runs"]["floor"]) == 1 and report["summary"]["floor"] == pytest.approx(report["runs"]["floor"][0])
    assert 0 < report["summary"]["floor"] < 3


def test_a_json_inside_the_model_folder_is_refused_before_loading(tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_index.json").write_text("{}")  # not loadable: the refusal must come first
    assert exit_code(script().main, [str(model), "--json", str(model / "path.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --json '{model / 'path.json'}' is inside the model folder '{model}'; "
                   "give a path outside it (inputs are never overwritten)")
    assert sorted(p.name for p in model.iterdir()) == ["model_index.json"]
