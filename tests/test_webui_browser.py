"""The web page in a real headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright).

Each test starts the app on a free localhost port in a thread, uploads a synthetic pair, clicks
point pairs at known image pixels, exports and checks the point JSON, undoes one pair, colorizes
and checks that a non-blank result appears. Skips when Chromium is missing, fails then in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest
from PIL import Image

from manganinja.images import save_image
from manganinja.webui import FLAT, NINJA, UiLimits, build_app, serve

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: (reference (x, y), line art (x, y)) in image pixels of the synthetic pair below.
CLICKS = [((40, 40), (40, 40)), ((110, 50), (110, 50)), ((80, 100), (80, 100))]
TIMEOUT_MS = 20_000


def require_chromium() -> None:
    if not CHROMIUM.exists():
        message = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so this must not be skipped")
        pytest.skip(message)


def synthetic_pair(folder: Path) -> tuple[Path, Path]:
    """A 160x128 reference (three colored shapes with black outlines on light paper) and its
    line art (the outlines, black on white)."""
    h, w = 128, 160
    ref = np.full((h, w, 3), 235, np.uint8)
    line = np.full((h, w), 255, np.uint8)
    shapes = [
        ("circle", (40, 40), 22, (220, 40, 40)),
        ("rect", (90, 25, 140, 75), None, (40, 80, 220)),
        ("circle", (80, 100), 18, (40, 180, 60)),
    ]
    for kind, a, b, color in shapes:
        for img, fill in ((ref, color), (ref, None), (line, None)):
            stroke = (0, 0, 0) if img.ndim == 3 else 0
            if kind == "circle":
                if fill is not None:
                    cv2.circle(img, a, b, fill, -1)
                cv2.circle(img, a, b, stroke, 2)
            else:
                if fill is not None:
                    cv2.rectangle(img, a[:2], a[2:], fill, -1)
                cv2.rectangle(img, a[:2], a[2:], stroke, 2)
    return save_image(ref, folder / "reference.png"), save_image(line, folder / "lineart.png")


class StandInEngine:
    """Test stand-in: paints every closed region of the line art with the reference's mean
    color (lines stay black)."""

    name = FLAT

    def prepare(self, references):
        return np.asarray(references[0].convert("RGB"), np.float32).reshape(-1, 3).mean(0)

    def colorize(self, prepared, lineart, points=None):
        lines = np.asarray(lineart.convert("L")) > 127
        out = np.zeros((*lines.shape, 3), np.uint8)
        out[~lines] = np.rint(prepared).astype(np.uint8)
        return Image.fromarray(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(engines, tmp_path: Path, limits: UiLimits = UiLimits()) -> Iterator[str]:
    demo = build_app(engines, limits=limits, workdir=tmp_path / "work")
    port = free_port()
    serve(demo, host="127.0.0.1", port=port, prevent_thread_lock=True)
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


def status_text(page) -> str:
    return page.locator("#status").inner_text()


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
    wait_status(page, "line art: 160x128")


def click_pairs(page) -> None:
    for n, (ref_xy, line_xy) in enumerate(CLICKS, start=1):
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
    assert src
    data = page.request.get(src if src.startswith("http") else page.url.rstrip("/") + "/" + src.lstrip("/")).body()
    out = tmp_path / "result.png"
    out.write_bytes(data)
    result = np.asarray(Image.open(out).convert("RGB"))
    assert result.shape == (128, 160, 3)
    assert result.std() > 5, "result is blank"
    page.screenshot(path=str(shot), full_page=True)
    downloads = page.locator("#downloads").inner_text()
    for name in ("colorized", "colorized_color", "colorized_lines"):
        assert name in downloads
    assert shot.stat().st_size > 10_000
    return result


def run_flow(page, tmp_path: Path, ref: Path, line: Path) -> np.ndarray:
    load_pair(page, ref, line)
    click_pairs(page)
    data = exported_points(page, tmp_path)
    assert [(p["reference"], p["lineart"]) for p in data["pairs"]] == [
        (list(r), list(l)) for r, l in CLICKS
    ]
    page.locator("#undo").click()
    wait_status(page, "Pair 3 removed")
    data = exported_points(page, tmp_path)
    assert len(data["pairs"]) == 2
    return generate_and_check(page, tmp_path, tmp_path / "webui.png")


def test_click_pairs_export_undo_generate_flat(tmp_path: Path) -> None:
    require_chromium()
    ref, line = synthetic_pair(tmp_path)
    with running_app({FLAT: StandInEngine()}, tmp_path) as url, browser_page(url) as page:
        result = run_flow(page, tmp_path, ref, line)
    # The stand-in paints the shapes' insides with the reference's mean color.
    assert (np.abs(result[40, 40].astype(int) - result[100, 80].astype(int)).max()) <= 2


def test_bad_inputs_show_messages_and_app_keeps_running(tmp_path: Path) -> None:
    require_chromium()
    ref, line = synthetic_pair(tmp_path)
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    big = save_image(np.zeros((200, 200, 3), np.uint8), tmp_path / "big.png")
    limits = UiLimits(max_pixels=150 * 150)
    with running_app({FLAT: StandInEngine()}, tmp_path, limits) as url, browser_page(url) as page:
        page.locator("#generate").click()
        page.get_by_text("upload a line art before colorizing").first.wait_for()
        upload(page, "ref-upload", notes)
        page.get_by_text("'notes.png': cannot be read as an image").first.wait_for()
        upload(page, "line-upload", big)
        page.get_by_text("200x200", exact=False).first.wait_for()
        page.get_by_text("limit", exact=False).first.wait_for()
        # Still serving: the normal flow works afterwards in the same page.
        load_pair(page, ref, line)
        click_image_pixel(page, "line-view", (40, 40))
        page.get_by_text("click the reference first").first.wait_for()
