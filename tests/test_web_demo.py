"""web_demo/ (issue 13 item 4): the page's JS shared logic under `node --test` over the golden
vectors, and the page itself in headless Chromium (Playwright driving Debian's chromium; never
`playwright install`): every golden image classified through the real UI path must give Python
onnxruntime's probabilities within 1e-4, the same label, referral and gate verdict; bad input
gives a message, never a label. Skips with the reason only where node, chromium or
web_demo/node_modules (`npm ci`, tests/tools.sh) is missing."""
from __future__ import annotations

import functools
import hashlib
import http.server
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skinedge.card import PLACEHOLDER, seal
from skinedge.golden import GOLDEN
from skinedge.layout import SAMPLE_DATA
from skinedge.preprocess import model_image

WEB = Path(__file__).resolve().parents[1] / "web_demo"
ORT = WEB / "node_modules" / "onnxruntime-web" / "dist" / "ort.wasm.min.mjs"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CARD_KEY = "skinedge.model_card"


def _need_node() -> str:
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed (Node 20+ runs web_demo's JS tests)")
    return node


def _need_browser() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium is not installed (tests/tools.sh installs it with apt-get)")
    if not ORT.is_file():
        pytest.skip("web_demo/node_modules is missing: run `npm ci` in web_demo (tests/tools.sh does)")
    pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    return chromium


@pytest.fixture(scope="module")
def small_golden(exported) -> Path:
    """The golden folder `skinedge export` wrote beside the small test model's artifacts."""
    roots = {Path(r.path).parent for r in exported.values() if r.path}
    assert len(roots) == 1
    return roots.pop() / GOLDEN


@pytest.fixture(scope="module")
def shipped_golden(shipped_export) -> Path:
    """The golden folder of the shipped (calibrated, gated) model's export (conftest): the card's
    calibration, referral and gate in the browser."""
    return shipped_export / GOLDEN


# --- extra PNG layouts the golden set does not hold, with Pillow's model images -------------

def _png(path: Path, w: int, h: int, color: int, depth: int, pixels: bytes,
         interlace: bool = False, extra: tuple = ()) -> None:
    """A PNG written by hand (Pillow cannot write 16-bit colour, sub-byte grey or Adam7), every
    row filtered with one of the five filters in turn."""
    bits = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color] * depth
    passes = ([(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
               (0, 1, 1, 2)] if interlace else [(0, 0, 1, 1)])
    row_bytes = (w * bits + 7) // 8
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        xs, ys = range(x0, w, dx), range(y0, h, dy)
        if not xs or not ys:
            continue
        stride, bpp = (len(xs) * bits + 7) // 8, max(1, bits // 8)
        prev = bytes(stride)
        for k, y in enumerate(ys):
            row = _pick(pixels[y * row_bytes:(y + 1) * row_bytes], xs, bits, stride)
            f = k % 5
            out = bytearray(stride)
            for i in range(stride):
                a = row[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][f]
                out[i] = (row[i] - pred) & 255
            raw += bytes([f]) + out
            prev = row
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, int(interlace))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + b"".join(chunk(t, d) for t, d in extra)
                     + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


def _pick(row: bytes, xs: range, bits: int, stride: int) -> bytes:
    """The pixels xs of a packed row, packed again."""
    if bits >= 8:
        n = bits // 8
        return b"".join(row[x * n:(x + 1) * n] for x in xs)
    out, per = bytearray(stride), 8 // bits
    for j, x in enumerate(xs):
        v = (row[x // per] >> (8 - bits * (x % per + 1))) & ((1 << bits) - 1)
        out[j // per] |= v << (8 - bits * (j % per + 1))
    return bytes(out)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.fixture(scope="module")
def extra_images(tmp_path_factory) -> Path:
    """A golden-format folder (index.json, images/, model_image/) of PNG layouts beyond the
    golden set's: palette with tRNS, LA, 16-bit RGB/RGBA/grey-alpha, 1/2/4-bit grey, Adam7, and
    every EXIF orientation; the model images are Python's (skinedge.preprocess.model_image)."""
    root = tmp_path_factory.mktemp("web_extra")
    (root / "images").mkdir()
    (root / "model_image").mkdir()
    with Image.open(SAMPLE_DATA / "images" / "ISIC_0024330.jpg") as im:
        rgb = np.asarray(im.convert("RGB").crop((10, 5, 67, 48)))  # 57 x 43
    h, w = rgb.shape[:2]
    grey = rgb.mean(-1).astype(np.uint8)
    alpha = ((np.arange(w)[None, :] * 7 + np.arange(h)[:, None] * 13) % 256).astype(np.uint8)
    wide = lambda a: (a.astype(np.uint16) * 257 + 31).astype(">u2").tobytes()
    cases = {
        "rgb16": (2, 16, wide(rgb), False),
        "rgba16_adam7": (6, 16, wide(np.dstack([rgb, alpha])), True),
        "la16": (4, 16, wide(np.dstack([grey, alpha])), False),
        "la8_adam7": (4, 8, np.dstack([grey, alpha]).tobytes(), True),
        "grey16_adam7": (0, 16, (grey.astype(np.uint16) * 251).astype(">u2").tobytes(), True),
    }
    for depth in (1, 2, 4):
        levels = (grey.astype(np.int64) * ((1 << depth) - 1) // 255).astype(np.uint8)
        packed = np.packbits(np.unpackbits(levels[..., None], axis=-1)[..., 8 - depth:]
                             .reshape(h, -1), axis=1)
        cases[f"grey{depth}bit"] = (0, depth, packed.tobytes(), depth == 2)
    entries = []
    for name, (color, depth, pixels, interlace) in cases.items():
        _png(root / "images" / f"{name}.png", w, h, color, depth, pixels, interlace)
        entries.append(name)
    pal = Image.fromarray(rgb).quantize(64)
    trns = bytes((i * 37) % 256 for i in range(40))  # shorter than the palette: the rest opaque
    pal.save(root / "images" / "palette_trns.png", transparency=trns)
    pal.save(root / "images" / "palette_one_transparent.png", transparency=5)
    entries += ["palette_trns", "palette_one_transparent"]
    for o in range(2, 9):
        Image.fromarray(rgb).save(root / "images" / f"exif_{o}.png", exif=_exif(o))
        entries.append(f"exif_{o}")
    index = {"input_size": 40, "models": [], "images": []}
    for name in entries:
        file = f"images/{name}.png"
        (root / "model_image" / f"{name}.u8").write_bytes(model_image(root / file, 40).tobytes())
        index["images"].append({"name": name, "file": file,
                                "model_image": {"file": f"model_image/{name}.u8"}})
    (root / "index.json").write_text(json.dumps(index))
    return root


def _run_node(folders: list[Path]) -> subprocess.CompletedProcess:
    env = {**os.environ, "SKINEDGE_GOLDEN": os.pathsep.join(str(f) for f in folders)}
    return subprocess.run([_need_node(), "--test", "--test-reporter=tap", "test/"], cwd=WEB,
                          env=env, capture_output=True, text=True, timeout=240)


def test_js_shared_logic_matches_the_golden_vectors(small_golden, shipped_golden, extra_images):
    proc = _run_node([small_golden, shipped_golden, extra_images])
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    counts = dict(line[2:].split(" ", 1) for line in proc.stdout.splitlines()
                  if line.startswith("# ") and line[2:].split(" ", 1)[0] in ("pass", "fail", "skipped"))
    assert counts["fail"] == "0" and counts["skipped"] == "0", tail
    # images of all three folders, every model's predictions, the .onnx cards, the unit tests
    index = lambda f: json.loads((f / "index.json").read_text())
    images = sum(len(index(f)["images"]) for f in (small_golden, shipped_golden, extra_images))
    assert int(counts["pass"]) >= images + 13, tail


# --- the page in headless Chromium ------------------------------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """web_demo/ over http on a free port (a thread of this process)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(WEB)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser():
    chromium = _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(service_workers="block", viewport={"width": 1100, "height": 900})
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(f"{server}/index.html")
    pg.wait_for_selector("body[data-app=ready]", timeout=20000)
    yield pg
    context.close()
    assert not errors, f"uncaught errors on the page: {errors}"


def _load_model(pg, path: Path) -> str:
    pg.evaluate("delete document.body.dataset.model")
    pg.set_input_files("#model-file", str(path))
    pg.wait_for_selector("body[data-model]", timeout=30000)
    return pg.get_attribute("body", "data-model")


def _classify(pg, files: list[Path]) -> list:
    before = int(pg.get_attribute("body", "data-classified") or 0)
    pg.set_input_files("#image-file", [str(f) for f in files])
    pg.wait_for_selector(f"body[data-classified='{before + 1}']", timeout=30000)
    return pg.locator("#results .result").all()


def _check_golden_model(pg, golden: Path, onnx: Path) -> None:
    index = json.loads((golden / "index.json").read_text())
    entry = next(m for m in index["models"] if m["name"] == onnx.name)
    tol = min(entry["tolerance"]["probabilities_atol"], 1e-4) \
        if entry["quantization"] in ("none", "fp32") else entry["tolerance"]["probabilities_atol"]
    expected = json.loads((golden / entry["expected"]).read_text())
    assert _load_model(pg, onnx) == "ready", pg.inner_text("#message")
    results = _classify(pg, [golden / e["file"] for e in index["images"]])
    assert len(results) == len(index["images"])
    for view, e in zip(results, index["images"]):
        got = json.loads(view.locator(".prediction-json").text_content())
        want = expected[e["name"]]["prediction"]
        where = f"{onnx.name} / {e['name']}"
        s = index["input_size"]
        golden_image = (golden / e["model_image"]["file"]).read_bytes()
        assert view.get_attribute("data-model-image-sha256") == hashlib.sha256(golden_image).hexdigest(), \
            f"{where}: the page's model image differs from the golden one ({s} px)"
        diff = max(abs(got["probabilities"][c] - want["probabilities"][c]) for c in index["labels"])
        assert diff <= tol, f"{where}: probabilities differ from Python onnxruntime's by {diff:.2e}"
        assert got["label"] == want["label"], where
        assert got["refer"] == want["refer"] and got["threshold"] == want["threshold"], where
        assert got["calibrated"] == want["calibrated"], where
        if want["gate"] is None:
            assert got["gate"] is None, where
        else:
            assert got["gate"]["usable"] == want["gate"]["usable"], where
            assert got["gate"]["reasons"] == want["gate"]["reasons"], where
        # what a user reads: the model's pick, the referral and the gate's reasons
        text = view.inner_text()
        assert f"Model's pick: {want['label']}" in text, where
        if want["refer"] is not None:
            assert ("Refer: show a doctor" if want["refer"] else "No referral") in text, where
        for reason in (want["gate"] or {}).get("reasons", []):
            assert reason in text, where


def test_page_classifies_golden_images_as_python_onnxruntime(page, small_golden, shipped_golden,
                                                              tmp_path):
    small = sorted(small_golden.parent.glob("*.onnx"))
    assert small, "the export wrote no .onnx"
    for onnx in small:
        _check_golden_model(page, small_golden, onnx)
    shipped = next(shipped_golden.parent.glob("*.onnx"))
    _check_golden_model(page, shipped_golden, shipped)
    assert "Not a medical device" in page.inner_text("#intended-use")  # the card's intended use
    assert page.locator(".verdict.unusable").count() > 0  # the shipped card's gate, shown
    shot = tmp_path / "web_demo_result.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_page_preprocesses_a_jpeg_as_pillow_does(page, shipped_golden, tmp_path):
    """The browser's own JPEG decoder (libjpeg-turbo, as Pillow's) gives Pillow's pixels, and
    the EXIF orientation is applied once, by the page, as ImageOps.exif_transpose applies it."""
    jpeg = SAMPLE_DATA / "images" / "ISIC_0024329.jpg"
    rotated = tmp_path / "exif_6.jpg"
    with Image.open(jpeg) as im:
        im.save(rotated, quality=95, exif=_exif(6))
    onnx = next(shipped_golden.parent.glob("*.onnx"))
    assert _load_model(page, onnx) == "ready"
    size = json.loads((shipped_golden / "index.json").read_text())["input_size"]
    views = _classify(page, [jpeg, rotated])
    for view, f in zip(views, (jpeg, rotated)):
        want = hashlib.sha256(model_image(f, size).tobytes()).hexdigest()
        assert view.get_attribute("data-model-image-sha256") == want, f.name


def _with_card(src: Path, dest: Path, edit) -> Path:
    """A copy of an .onnx whose card is edited by ``edit(dict)`` (or removed when it returns
    None) and sealed again, as an exporter with that bug would write it."""
    import onnx

    m = onnx.load(str(src))
    props = {p.key: p.value for p in m.metadata_props}
    card = edit(json.loads(props[CARD_KEY]))
    keep = [p for p in m.metadata_props if p.key != CARD_KEY]
    del m.metadata_props[:]
    m.metadata_props.extend(keep)
    if card is not None:
        card["integrity_sha256"] = PLACEHOLDER
        entry = m.metadata_props.add()
        entry.key, entry.value = CARD_KEY, json.dumps(card, indent=2, sort_keys=True)
    onnx.save(m, str(dest))
    if card is not None:
        seal(dest)
    return dest


def test_page_shows_a_message_for_bad_input_never_a_label(page, small_golden, tmp_path):
    onnx = next(p for p in sorted(small_golden.parent.glob("*.onnx")) if "fp32" in p.name)
    cases = {
        "no_card.onnx": (lambda c: None, "no skinedge model card"),
        "other_schema.onnx": (lambda c: {**c, "schema": "skinedge.model_card/2"},
                              "skinedge.model_card/2"),
        "other_size.onnx": (lambda c: {**c, "input_size": c["input_size"] * 2}, "the graph takes"),
    }
    for name, (edit, says) in cases.items():
        assert _load_model(page, _with_card(onnx, tmp_path / name, edit)) == "error", name
        message = page.inner_text("#message")
        assert name in message and says in message, message
        assert page.is_disabled("#image-file")  # nothing to classify with
    page.set_input_files("#model-file", {"name": "garbage.onnx", "mimeType": "application/octet-stream",
                                         "buffer": b"\x08\x07 this is not a model"})
    page.wait_for_function("document.getElementById('message').textContent.includes('garbage.onnx')")

    assert _load_model(page, onnx) == "ready"
    bad = tmp_path / "not_an_image.jpg"
    bad.write_bytes(b"\xff\xd8 not really a JPEG")
    png = small_golden / "images" / "landscape_200x150.png"
    cut = tmp_path / "truncated.png"
    cut.write_bytes(png.read_bytes()[:300])
    results = _classify(page, [bad, cut, png])
    assert [r.get_attribute("data-source") for r in results] == [bad.name, cut.name, png.name]
    assert "the browser cannot decode it" in results[0].get_attribute("data-error")
    assert "corrupt or truncated PNG" in results[1].get_attribute("data-error")
    for r in results[:2]:
        assert r.locator(".prediction-json").count() == 0 and "Model's pick" not in r.inner_text()
    assert results[2].locator(".prediction-json").count() == 1  # the good one still runs
    assert "not_an_image.jpg" in page.inner_text("#message")


def test_benchmark_writes_the_host_bench_schema(page, small_golden, tmp_path):
    onnx = next(p for p in sorted(small_golden.parent.glob("*.onnx")) if "fp32" in p.name)
    assert _load_model(page, onnx) == "ready"
    page.fill("#bench-warmup", "2")
    page.fill("#bench-runs", "5")
    page.fill("#bench-device", "headless Chromium (test)")
    page.click("#bench-run")
    page.wait_for_selector("body[data-bench=done]", timeout=30000)
    with page.expect_download() as dl:
        page.click("#bench-download")
    path = tmp_path / "web-bench.json"
    dl.value.save_as(path)
    doc = json.loads(path.read_text())
    assert doc == json.loads(page.text_content("#bench-json"))
    assert doc["schema"] == "skinedge.bench/2"
    assert doc["settings"]["warmup"] == 2 and doc["settings"]["runs_per_round"] == 5
    (row,) = doc["rows"]
    card = json.loads((small_golden / "cards" / f"{onnx.name}.json").read_text())
    assert row["target"] == "onnx" and row["kind"] == "artifact" and row["status"] == "ok"
    assert row["architecture"] == card["architecture"] and row["input_size"] == card["input_size"]
    assert row["size_bytes"] == onnx.stat().st_size and row["path"] == onnx.name
    lat = row["latency_ms"]["1"]
    assert lat["n"] == 5 and 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["p99"]
    assert "onnxruntime-web" in row["runtime"] and "wasm, 1 thread" in row["runtime"]
    assert row["device"]["model"] == doc["host"]["device"] == "headless Chromium (test)"
    if importlib.util.find_spec("skinedge.bench.importing"):  # `skinedge bench --import` reads it
        from skinedge.bench.importing import rows_of

        (imported,) = rows_of(doc, str(path))
        assert imported["device"]["model"] == "headless Chromium (test)"
        assert imported["latency_ms"]["1"]["median"] == lat["median"]
