"""The 8-view test-time average inside an exported graph (issue 10, item 8)."""
import numpy as np
import pytest
import torch

import skinedge
from skinedge.api import SAMPLE_DATA, softmax
from skinedge.errors import ConfigError
from skinedge.preprocess import to_model_input
from skinedge.models.views import ViewAverage, dihedral_views, with_views
from skinedge.recipes import Recipe, all_recipes, by_name_or_file, resolve


def test_the_eight_views_are_the_dihedral_group():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    v = dihedral_views(x).reshape(8, 2, 3, 4, 4)
    # built independently: 4 rotations, each with and without a mirror
    want = [torch.rot90(m, k, (2, 3)) for m in (x, x.flip(3)) for k in range(4)]
    got = {v[i].numpy().tobytes() for i in range(8)}
    assert got == {w.numpy().tobytes() for w in want} and len(got) == 8


def test_view_average_is_the_mean_of_the_view_probabilities():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 6, 7)).eval()
    x = torch.rand(3, 3, 8, 8)
    with torch.no_grad():
        out = ViewAverage(model)(x)
        ref = torch.stack([model(torch.rot90(m, k, (2, 3))).softmax(-1)
                           for m in (x, x.flip(3)) for k in range(4)]).mean(0)
    torch.testing.assert_close(out.softmax(-1), ref, atol=1e-6, rtol=1e-5)
    assert with_views(model, 1) is model
    with pytest.raises(ValueError, match="views"):
        with_views(model, 4)


def test_view_recipes_are_chosen_only_by_name(tmp_path):
    assert all(r.views == 1 for r in resolve("all", "all"))
    assert [r.name for r in resolve("executorch", "int8")] == ["executorch-int8"]
    assert by_name_or_file("executorch-int8-tta8").views == 8
    assert all_recipes()["onnx-fp32-tta8"].views == 8
    with pytest.raises(ConfigError, match="shipped"):
        by_name_or_file("executorch-int8-tta9")
    bad = tmp_path / "bad.toml"
    bad.write_text('target = "onnx"\nquantization = "fp32"\nviews = 4\n')
    with pytest.raises(ConfigError, match="views must be 1 or 8"):
        Recipe.from_file(bad)


def test_a_tta8_onnx_export_averages_the_views_on_device(small_model, tmp_path):
    from skinedge.exporting import ExportConfig, run_export

    [res] = run_export(ExportConfig(model=str(small_model), recipe="onnx-fp32-tta8",
                                    out=str(tmp_path), progress=False))
    assert res.status == "ok", res.problems
    assert res.path.endswith("_fp32_tta8.onnx")
    clf, eager = skinedge.load(res.path), skinedge.load(small_model)
    assert clf.card.views == 8 and clf.card.flops == 8 * eager.card.flops
    images = [str(p) for p in sorted((SAMPLE_DATA / "images").iterdir())[:4]]
    got = np.array([[p.probabilities[c] for c in skinedge.CLASSES] for p in clf.predict(images)])
    x = torch.from_numpy(to_model_input(np.stack([eager.preprocess(i) for i in images])))
    with torch.no_grad():
        ref = softmax(ViewAverage(eager.runtime.model)(x).numpy())
        plain = softmax(eager.runtime.model(x).numpy())
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert np.abs(got - plain).max() > 1e-3  # the views changed something
