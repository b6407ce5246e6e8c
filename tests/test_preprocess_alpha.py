"""Transparent pixels are composited on white (preprocess.py: a transparent background is not
skin, and black would look like a lesion), whatever form the image arrives in."""
import numpy as np
import pytest
from PIL import Image

from skinedge.preprocess import load_image, resize_center_crop

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
HALF = 128  # alpha of the middle band: 128 / 255, about one half


def _rgba() -> np.ndarray:
    """30x30 RGBA: columns 0-9 opaque red, 10-19 blue at alpha 128, 20-29 green at alpha 0."""
    a = np.zeros((30, 30, 4), dtype=np.uint8)
    a[:, :10] = (*RED, 255)
    a[:, 10:20] = (*BLUE, HALF)
    a[:, 20:] = (*GREEN, 0)  # fully transparent: its colour must not show
    return a


def _over_white(rgb, alpha: int) -> np.ndarray:
    """The composite worked out independently: c * a + 255 * (1 - a), a = alpha / 255."""
    a = alpha / 255
    return np.array(rgb, dtype=np.float64) * a + 255 * (1 - a)


EXPECTED = {"opaque": _over_white(RED, 255),              # (255, 0, 0)
            "half": _over_white(BLUE, HALF),               # (127, 127, 255)
            "transparent": _over_white(GREEN, 0)}          # (255, 255, 255)


def _inputs(tmp_path):
    arr = _rgba()
    path = tmp_path / "lesion.png"
    Image.fromarray(arr, "RGBA").save(path)
    return {"png file": path, "PIL image": Image.fromarray(arr, "RGBA"), "HxWx4 array": arr}


@pytest.mark.parametrize("kind", ["png file", "PIL image", "HxWx4 array"])
def test_alpha_is_composited_on_white(kind, tmp_path):
    img = load_image(_inputs(tmp_path)[kind])
    assert img.mode == "RGB"
    px = resize_center_crop(img, 30).astype(np.float64)  # same size: no resampling
    for name, cols in (("opaque", slice(0, 10)), ("half", slice(10, 20)),
                       ("transparent", slice(20, 30))):
        diff = np.abs(px[:, cols] - EXPECTED[name]).max()
        assert diff <= 1, (name, px[15, cols.start], EXPECTED[name])


def test_alpha_composite_survives_the_resize(tmp_path):
    # Down to 15 px: each 10-px band becomes 5 px; pixels 1-3 of each band see only that band.
    px = resize_center_crop(load_image(_inputs(tmp_path)["png file"]), 15).astype(np.float64)
    for name, cols in (("opaque", slice(1, 4)), ("half", slice(6, 9)),
                       ("transparent", slice(11, 14))):
        assert np.abs(px[:, cols] - EXPECTED[name]).max() <= 1, name


def test_grey_alpha_and_palette_transparency_are_composited_on_white(tmp_path):
    la = np.zeros((20, 20, 2), dtype=np.uint8)
    la[:, :10] = (40, 255)   # opaque dark grey
    la[:, 10:] = (40, 0)     # transparent
    px = np.asarray(load_image(Image.fromarray(la, "LA")), dtype=np.float64)
    assert np.abs(px[:, :10] - 40).max() <= 1 and np.abs(px[:, 10:] - 255).max() <= 1

    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)  # index 0 black, index 1 dark red
    pal.paste(1, (0, 0, 10, 20))
    pal.info["transparency"] = 0  # black pixels are transparent
    path = tmp_path / "palette.png"
    pal.save(path, transparency=0)
    px = np.asarray(load_image(path), dtype=np.float64)
    assert np.abs(px[:, :10] - (200, 30, 30)).max() <= 1
    assert np.abs(px[:, 10:] - 255).max() <= 1  # white, not the palette's black
