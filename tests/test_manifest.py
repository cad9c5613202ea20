"""The results manifest's messages (its behaviour is tested through run_pages in test_batch.py)."""

from manganinja.manifest import settings_change


def test_settings_change_never_cuts_a_value():
    points = lambda n: {"pairs": [{"reference": [i, i], "lineart": [i + 1, i + 1]} for i in range(n)]}  # noqa: E731
    old = {"engine": "flat", "points": points(3), "ninja": {"steps": 20, "seed": 0}}
    new = {"engine": "flat", "points": points(4), "ninja": {"steps": 50, "seed": 0}}
    line = settings_change(old, new)
    assert line == "ninja.steps 20 -> 50, points.pairs [3 items] -> [4 items]", line
    same_count = settings_change({"points": points(3)}, {"points": {"pairs": points(3)["pairs"][::-1]}})
    assert same_count == "points.pairs [3 items] -> [3 items] (contents differ)"
    assert settings_change({"a": 1}, {"b": 1}) == "a 1 -> (unset), b (unset) -> 1"
    assert settings_change({"p": "x" * 60}, {"p": "y"}).startswith('p "' + "x" * 36 + '..."')
