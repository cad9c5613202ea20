"""The web page in a real headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright).

Each test starts the app on a free localhost port in a thread, uploads a synthetic pair, clicks
point pairs at known image pixels, exports and checks the point JSON, undoes one pair, colorizes
and checks that a non-blank result appears. Skips when Chromium is missing, fails then in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from manganinja.data.synthetic import generate_pair
from manganinja.engines import FlatEngine
from manganinja.images import save_image
from manganinja.webui import FLAT, NINJA, UiLimits, build_app

from _serving import serve_on_a_free_port

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Synthetic pair used by the tests: seed and side (pixels).
SEED, SIZE = 0, 192
TIMEOUT_MS = 20_000
#: Set to a path (e.g. docs/images/webui.png) to also save the page's screenshot there.
SCREENSHOT_ENV = "MANGANINJA_WEBUI_SCREENSHOT"


def require_chromium() -> None:
    if not CHROMIUM.exists():
        message = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so this must not be skipped")
        pytest.skip(message)


def synthetic_pair(folder: Path) -> tuple[Path, Path, list[tuple[tuple[int, int], tuple[int, int]]]]:
    """A synthetic reference and line art (white on black) written as PNGs, and three of the
    pair's true correspondences, spread out: ``[(reference (x, y), line art (x, y)), ...]``."""
    pair = generate_pair(SEED, size=SIZE)
    ref = save_image(pair.reference, folder / "reference.png")
    line = save_image(pair.lineart, folder / "lineart.png")
    pts = list(pair.points)
    chosen = [pts[0], pts[len(pts) // 2], pts[-1]]
    clicks = [(tuple(int(v) for v in p.reference), tuple(int(v) for v in p.lineart)) for p in chosen]
    assert len({c[1] for c in clicks}) == 3
    return ref, line, clicks


@contextmanager
def running_app(engines, tmp_path: Path, limits: UiLimits = UiLimits()) -> Iterator[str]:
    demo, port = serve_on_a_free_port(lambda: build_app(engines, limits=limits, workdir=tmp_path / "work"))
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextmanager
def browser_page(url: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            page.locator("#generate").wait_for()
            yield page
        finally:
            browser.close()


def upload(page, elem_id: str, path: Path) -> None:
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))


def import_points(page, path: Path) -> None:
    with page.expect_file_chooser() as chooser:
        page.locator("#import").click()
    chooser.value.set_files(str(path))


def wait_status(page, text: str) -> None:
    page.locator("#status").get_by_text(text).first.wait_for()


def click_image_pixel(page, elem_id: str, xy: tuple[int, int]) -> None:
    """Click image pixel ``xy`` of the image shown in ``#elem_id``: the displayed box and the
    natural size give the CSS position (the image is fitted, never enlarged, and centred)."""
    img = page.locator(f"#{elem_id} img").first
    img.wait_for()
    box = img.bounding_box()
    nw, nh = img.evaluate("im => [im.naturalWidth, im.naturalHeight]")
    scale = min(box["width"] / nw, box["height"] / nh, 1.0)
    left = box["x"] + (box["width"] - nw * scale) / 2
    top = box["y"] + (box["height"] - nh * scale) / 2
    page.mouse.click(css_position(left, scale, xy[0]), css_position(top, scale, xy[1]))


def css_position(origin: float, scale: float, pixel: int) -> int:
    """The whole CSS pixel (mouse events report whole pixels) that the page maps to image
    ``pixel``: ``round((css - origin) / scale) == pixel``."""
    guess = int(np.floor(origin + pixel * scale))
    for css in range(guess - 2, guess + 3):
        if np.floor((css - origin) / scale + 0.5) == pixel:
            return css
    raise AssertionError(f"image pixel {pixel} is not clickable at scale {scale:.3f}")


def load_pair(page, ref: Path, line: Path) -> None:
    upload(page, "ref-upload", ref)
    page.locator("#ref-view img").wait_for()
    upload(page, "line-upload", line)
    page.locator("#line-view img").wait_for()
    wait_status(page, f"line art: {SIZE}x{SIZE}")


def click_pairs(page, clicks) -> None:
    for n, (ref_xy, line_xy) in enumerate(clicks, start=1):
        click_image_pixel(page, "ref-view", ref_xy)
        wait_status(page, f"Pair {n}: reference point")
        click_image_pixel(page, "line-view", line_xy)
        wait_status(page, f"Pair {n} added")


def exported_points(page, tmp_path: Path) -> dict:
    with page.expect_download() as info:
        page.locator("#export").click()
    path = tmp_path / "exported.json"
    info.value.save_as(str(path))
    return json.loads(path.read_text())


def generate_and_check(page, tmp_path: Path, shot: Path) -> np.ndarray:
    page.locator("#generate").click()
    wait_status(page, "Done:")
    img = page.locator("#result-view img").first
    img.wait_for()
    src = img.get_attribute("src")
    assert src and "gradio_api/file=" in src  # the route that refuses files outside the uploads
    data = page.request.get(src if src.startswith("http") else page.url.rstrip("/") + "/" + src.lstrip("/")).body()
    out = tmp_path / "result.png"
    out.write_bytes(data)
    result = np.asarray(Image.open(out).convert("RGB"))
    assert result.shape == (SIZE, SIZE, 3)
    assert result.std() > 5, "result is blank"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get(SCREENSHOT_ENV):  # refresh the README's picture
        shutil.copyfile(shot, os.environ[SCREENSHOT_ENV])
    downloads = page.locator("#downloads").inner_text()
    for name in ("colorized", "colorized_color", "colorized_lines"):
        assert name in downloads
    assert shot.stat().st_size > 10_000
    return result


def run_flow(page, tmp_path: Path) -> np.ndarray:
    """Upload, click three pairs, check the export, undo one, colorize; returns the result."""
    ref, line, clicks = synthetic_pair(tmp_path)
    load_pair(page, ref, line)
    click_pairs(page, clicks)
    data = exported_points(page, tmp_path)
    assert [(tuple(p["reference"]), tuple(p["lineart"])) for p in data["pairs"]] == clicks
    page.locator("#undo").click()
    wait_status(page, "Pair 3 removed")
    data = exported_points(page, tmp_path)
    assert [(tuple(p["reference"]), tuple(p["lineart"])) for p in data["pairs"]] == clicks[:2]
    return generate_and_check(page, tmp_path, tmp_path / "webui.png")


def test_click_pairs_export_undo_generate_flat(tmp_path: Path) -> None:
    require_chromium()
    with running_app({FLAT: FlatEngine()}, tmp_path) as url, browser_page(url) as page:
        result = run_flow(page, tmp_path)
        page.locator("#status").get_by_text("Done: flat, 2 pair(s)").wait_for()
        # Suggestions from the weight-free matcher are appended for review.
        page.locator("#suggest").click()
        wait_status(page, "Suggested")
        assert len(exported_points(page, tmp_path)["pairs"]) > 2
    # The weight-free engine paints regions, keeping the line art's black lines.
    lines = np.asarray(Image.open(tmp_path / "lineart.png").convert("L")) > 200
    assert result[lines].mean() < 60
    assert len(np.unique(result[~lines].reshape(-1, 3), axis=0)) > 2


def test_click_pairs_export_undo_generate_tiny_model(tmp_path: Path) -> None:
    require_chromium()
    from manganinja.engines import NinjaEngine
    from manganinja.settings import NinjaSettings
    from manganinja.pipeline import build_pipeline

    ninja = NinjaEngine(build_pipeline("tiny"), NinjaSettings(steps=2, resolution=64, progress=False))
    with running_app({NINJA: ninja, FLAT: FlatEngine()}, tmp_path) as url, browser_page(url) as page:
        page.locator("#engine").get_by_text("ninja").wait_for()
        run_flow(page, tmp_path)
        page.locator("#status").get_by_text("Done: ninja, 2 pair(s)").wait_for()


def test_bad_inputs_show_messages_and_app_keeps_running(tmp_path: Path) -> None:
    require_chromium()
    ref, line, _ = synthetic_pair(tmp_path)
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    big = save_image(np.zeros((200, 200, 3), np.uint8), tmp_path / "big.png")
    limits = UiLimits(max_pixels=SIZE * SIZE)
    with running_app({FLAT: FlatEngine()}, tmp_path, limits) as url, browser_page(url) as page:
        page.locator("#generate").click()
        page.get_by_text("upload a line art before colorizing").first.wait_for()
        upload(page, "ref-upload", notes)
        page.get_by_text("'notes.png': cannot be read as an image").first.wait_for()
        upload(page, "line-upload", big)
        page.get_by_text(f"200x200 = 40000 pixels is over the limit of {SIZE * SIZE}").first.wait_for()
        # Files outside the uploads are not served.
        for path in ("/etc/passwd", str(ref)):
            response = page.request.get(f"{url}gradio_api/file={path}")
            assert response.status >= 400 and b"root:" not in response.body()
        # Still serving: the normal flow works afterwards in the same page.
        load_pair(page, ref, line)
        click_image_pixel(page, "line-view", (40, 40))
        page.get_by_text("click the reference first").first.wait_for()
        # Point files: one outside the images is refused with its pair named, a good one imported.
        bad_points = tmp_path / "bad_points.json"
        bad_points.write_text(json.dumps({"pairs": [{"reference": [5, 5], "lineart": [500, 5]}]}))
        import_points(page, bad_points)
        page.get_by_text("(500, 5) is outside").first.wait_for()
        good_points = tmp_path / "points.json"
        good_points.write_text(json.dumps({"pairs": [{"reference": [5, 6], "lineart": [7, 8]}]}))
        import_points(page, good_points)
        wait_status(page, "Imported 1 pair(s)")
        assert exported_points(page, tmp_path)["pairs"] == [{"reference": [5, 6], "lineart": [7, 8]}]


def test_missing_chromium_skips_locally_and_fails_in_ci(monkeypatch, tmp_path: Path) -> None:
    this = sys.modules[__name__]

    monkeypatch.setattr(this, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="browser tests need Debian's chromium"):
        this.require_chromium()
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        this.require_chromium()


class OverlapProbe:
    """Wraps an engine; records how many ``colorize`` calls ran at once. Every call sets
    ``started`` and then holds until the test sets ``release``, so a call is still running for as
    long as the test needs (no sleeping and hoping)."""

    def __init__(self, engine) -> None:
        self.engine, self.name, self.fills_regions = engine, engine.name, engine.fills_regions
        self.active = self.max_active = self.calls = 0
        self.lock = threading.Lock()
        self.started = threading.Event()
        self.release = threading.Event()

    def prepare(self, references):
        return self.engine.prepare(references)

    def colorize(self, prepared, lineart, points=None):
        with self.lock:
            self.active += 1
            self.calls += 1
            self.max_active = max(self.max_active, self.active)
        self.started.set()
        try:
            if not self.release.wait(timeout=TIMEOUT_MS / 1000):
                raise TimeoutError("the test never released the engine")
            return self.engine.colorize(prepared, lineart, points)
        finally:
            with self.lock:
                self.active -= 1


def test_two_users_are_queued_not_run_at_once(tmp_path: Path) -> None:
    """Two users colorize at once: the second waits in the queue, the engine never runs twice at
    the same time, both get their result."""
    require_chromium()
    ref, line, _ = synthetic_pair(tmp_path)
    probe = OverlapProbe(FlatEngine())
    with running_app({FLAT: probe}, tmp_path) as url, browser_page(url) as first:
        second = first.context.browser.new_page()  # a separate context: another user
        second.set_default_timeout(TIMEOUT_MS)
        second.goto(url)
        for page in (first, second):
            load_pair(page, ref, line)
        first.locator("#generate").click()
        assert probe.started.wait(timeout=TIMEOUT_MS / 1000), "the first request never reached the engine"
        second.locator("#generate").click()
        # Gradio's queue holds the second request while the first runs (and says so); the first
        # stays in the engine until released, however slow the machine.
        second.locator("#result-view").get_by_text("queue", exact=False).first.wait_for()
        assert probe.calls == 1
        probe.release.set()
        for page in (first, second):
            wait_status(page, "Done: flat, 0 pair(s)")
    assert probe.calls == 2 and probe.max_active == 1
