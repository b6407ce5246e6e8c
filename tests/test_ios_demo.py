"""ios_demo: what can be checked here, where there is no Swift toolchain and no Core ML.

Every Swift file parses (tree-sitter-swift, no ERROR or MISSING node); the golden files and
JSON keys the XCTest cases read exist in a golden folder that ``skinedge export`` writes; the
Swift sources take labels and preprocessing from the card (no label names, no mean/std, no
platform scaler); Package.swift declares the targets the tests and the app import; and every
constant the Swift code mirrors (card schema, metadata key, image limits, gate features, bench
JSON keys, CoreML parity tolerances) equals skinedge's own. Compiling and running the Swift
tests (`swift test`) and the app needs a Mac: see ios_demo/README.md.
"""
from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IOS = ROOT / "ios_demo"
PACKAGE = IOS / "SkinedgeCore"
CORE = PACKAGE / "Sources" / "SkinedgeCore"
TESTS = PACKAGE / "Tests" / "SkinedgeCoreTests"
APP = IOS / "SkinedgeDemo"
SWIFT_FILES = sorted(IOS.rglob("*.swift"))
APPLE_MODULES = {"Foundation", "XCTest", "SwiftUI", "UIKit", "PhotosUI", "CoreML", "CoreVideo",
                 "CoreGraphics", "ImageIO", "UniformTypeIdentifiers", "PackageDescription"}
# Platform scalers: a model image made with one of these is not Pillow's (README.md).
PLATFORM_SCALERS = ("VNCoreMLRequest", "imageCropAndScaleOption", "vImageScale",
                    "CILanczosScaleTransform", "UIGraphicsImageRenderer", "MLFeatureValue(cgImage")
IMAGENET = (0.485, 0.456, 0.406, 0.229, 0.224, 0.225)
# Its string literals are bench JSON keys and file names, not golden paths (it reads golden/
# only through index.json).
BENCH_TESTS = TESTS / "BenchReportTests.swift"


def _parser():
    why = "tree-sitter and tree-sitter-swift (dev extra) parse the Swift sources"
    ts = pytest.importorskip("tree_sitter", reason=why)
    swift = pytest.importorskip("tree_sitter_swift", reason=why)
    return ts.Parser(ts.Language(swift.language()))


class Swift:
    """One parsed Swift file."""

    def __init__(self, path: Path, source: bytes | None = None):
        self.path = path
        self.src = path.read_bytes() if source is None else source
        self.tree = _parser().parse(self.src)

    def text(self, node) -> str:
        return self.src[node.start_byte:node.end_byte].decode()

    def nodes(self, node=None):
        node = node or self.tree.root_node
        yield node
        for child in node.children:
            yield from self.nodes(child)

    def syntax_errors(self) -> list[str]:
        return [f"{self.path.name}:{n.start_point[0] + 1}:{n.start_point[1] + 1}: "
                f"{'missing ' + n.type if n.is_missing else 'cannot parse'} "
                f"{self.text(n)[:60]!r}" for n in self.nodes() if n.type == "ERROR" or n.is_missing]

    def string(self, node) -> str | None:
        """A string literal's text; None when it interpolates anything."""
        if node.type != "line_string_literal" or any(
                c.type == "interpolated_expression" for c in node.children):
            return None
        return "".join(self.text(c) for c in node.children if c.type in ("line_str_text",
                                                                        "str_escaped_char"))

    def strings(self) -> list[str]:
        return [s for n in self.nodes() if (s := self.string(n)) is not None]

    def templates(self) -> list[list]:
        """Every string literal as its parts: text, or the interpolated expression's source."""
        return [[self.text(c) if c.type == "line_str_text" else ("expr", self.text(c))
                 for c in n.children if c.type in ("line_str_text", "interpolated_expression")]
                for n in self.nodes() if n.type == "line_string_literal"]

    def numbers(self) -> list[float]:
        return [float(self.text(n).replace("_", "")) for n in self.nodes()
                if n.type in ("real_literal", "integer_literal")
                and not self.text(n).startswith("0x")]

    def identifiers(self) -> set[str]:
        return {self.text(n) for n in self.nodes() if n.type == "simple_identifier"}

    def imports(self) -> set[str]:
        return {self.text(n).split()[-1] for n in self.nodes() if n.type == "import_declaration"}

    def subscript_keys(self) -> set[str]:
        """String literals used as subscripts: ``x["key"]``."""
        out = set()
        for n in self.nodes():
            p = n.parent
            if (s := self.string(n)) is not None and p is not None and p.type == "value_argument" \
                    and p.parent.type == "value_arguments" and self.text(p.parent).startswith("["):
                out.add(s)
        return out

    def property(self, name: str):
        """The value node of the property declaration named ``name``."""
        for n in self.nodes():
            if n.type == "property_declaration":
                bound = n.child_by_field_name("name")
                if bound is not None and self.text(bound) == name:
                    return n.child_by_field_name("value")
        raise AssertionError(f"{self.path.name}: no property {name}")

    def value(self, name: str):
        """A literal property as Python: string, number, range (lo, hi), list or dict."""
        node = self.property(name)
        if node.type == "range_expression":
            return tuple(float(self.text(node.child_by_field_name(k)).replace("_", ""))
                         for k in ("start", "end"))
        text = re.sub(r"(?<=\d)_(?=\d)", "", self.text(node))
        if node.type == "dictionary_literal":
            text = "{" + text.strip()[1:-1] + "}"
        return ast.literal_eval(text)

    def _entries(self, d) -> list[tuple[str, object]]:
        """(key, value node) of a dictionary literal."""
        keys = [i for i in range(d.child_count) if d.field_name_for_child(i) == "key"]
        values = [i for i in range(d.child_count) if d.field_name_for_child(i) == "value"]
        return [(self.string(d.children[k]), d.children[v]) for k, v in zip(keys, values)]

    def dictionary_keys(self, function: str, under: str | None = None) -> list[str]:
        """Keys of the dictionary literal ``function`` returns, or of the dictionary literal
        that is the value of its key ``under``."""
        for n in self.nodes():
            if n.type == "function_declaration" \
                    and self.text(n.child_by_field_name("name")) == function:
                ret = next(r for r in self.nodes(n) if r.type == "control_transfer_statement"
                           and self.text(r).startswith("return"))
                d = next(d for d in self.nodes(ret) if d.type == "dictionary_literal")
                if under is not None:
                    value = dict(self._entries(d))[under]
                    d = next(x for x in self.nodes(value) if x.type == "dictionary_literal")
                return [k for k, _ in self._entries(d)]
        raise AssertionError(f"{self.path.name}: no function {function}")


def swift(path: Path) -> Swift:
    return Swift(path)


# --- every file parses ---------------------------------------------------------------------

def test_the_demo_has_its_sources():
    names = {p.name for p in SWIFT_FILES}
    assert {"Package.swift", "ModelCard.swift", "Preprocessor.swift", "PillowResize.swift",
            "InputGate.swift", "BenchReport.swift", "ImageDecoder.swift", "CoreMLClassifier.swift",
            "SkinedgeDemoApp.swift", "ClassifyView.swift", "BenchmarkView.swift"} <= names
    assert len(list(TESTS.glob("*Tests.swift"))) >= 4


@pytest.mark.parametrize("path", SWIFT_FILES, ids=lambda p: str(p.relative_to(IOS)))
def test_swift_file_parses(path):
    assert swift(path).syntax_errors() == []


def test_the_parse_check_catches_broken_swift():
    good = (CORE / "Prediction.swift").read_bytes()
    assert Swift(CORE / "Prediction.swift", good).syntax_errors() == []
    broken = good.replace(b"guard raw.count == card.labels.count else {",
                          b"guard raw.count == card.labels.count else", 1)
    assert broken != good
    assert Swift(CORE / "Prediction.swift", broken).syntax_errors()


# --- the package and the app -----------------------------------------------------------------

def _package_targets() -> dict[str, list[str]]:
    """Target name -> dependencies, from Package.swift's .target / .testTarget calls."""
    text = (PACKAGE / "Package.swift").read_text()
    out = {}
    for m in re.finditer(r"\.(?:target|testTarget)\(\s*name:\s*\"(\w+)\"(.*?)\)(?=,?\s*\n)", text,
                         re.DOTALL):
        out[m[1]] = re.findall(r"\"(\w+)\"", m[2])
    return out


def test_package_declares_the_targets_the_code_uses():
    text = (PACKAGE / "Package.swift").read_text()
    assert text.startswith("// swift-tools-version:5.9")
    assert ".iOS(.v17)" in text and ".macOS(.v14)" in text
    targets = _package_targets()
    assert set(targets) == {p.name for p in (PACKAGE / "Sources").iterdir()} | {TESTS.name}
    ours = set(targets)
    for target, deps in targets.items():
        folder = (PACKAGE / "Sources" / target) if target != TESTS.name else TESTS
        imported = set().union(*(swift(p).imports() for p in folder.glob("*.swift")))
        undeclared = imported & ours - set(deps)
        assert not undeclared, f"{target} imports {undeclared}, not among its dependencies"
        assert imported - ours <= APPLE_MODULES, target
    # SkinedgeCore is Foundation only: it must build and test on any Swift platform.
    assert set().union(*(swift(p).imports() for p in CORE.glob("*.swift"))) == {"Foundation"}
    assert targets["SkinedgeCore"] == []


def test_app_imports_only_the_package_products_it_links():
    package = (PACKAGE / "Package.swift").read_text()
    products = set(re.findall(r'\.library\(name:\s*"(\w+)"', package))
    spec = (IOS / "project.yml").read_text()
    linked = set(re.findall(r"product:\s*(\w+)", spec))
    assert linked <= products
    imported = set().union(*(swift(p).imports() for p in APP.rglob("*.swift")))
    assert imported - APPLE_MODULES == linked
    assert 'iOS: "17.0"' in spec and 'xcodeVersion: "16.0"' in spec
    assert (IOS / re.search(r"SkinedgeCore:\n\s+path: (\S+)", spec)[1] / "Package.swift").is_file()
    assert "- path: SkinedgeDemo\n" in spec and APP.is_dir()


# --- nothing duplicates the card ---------------------------------------------------------------

def _card_duplicates(file: Swift) -> list[str]:
    """Label codes or names and mean/std values written into a Swift file."""
    from skinedge.card import ModelCard
    from skinedge.labels import CLASS_NAMES
    from skinedge.layout import DEFAULT_MODEL

    codes = set(CLASS_NAMES)
    names = {n.lower() for n in CLASS_NAMES.values()}
    found = [f"label {s!r}" for s in file.strings()
             if set(re.findall(r"[a-z]+", s.lower())) & codes or any(n in s.lower() for n in names)]
    found += [f"identifier {i}" for i in file.identifiers() & codes]
    card = ModelCard.load(DEFAULT_MODEL / "card.json")
    values = {*IMAGENET, *card.mean, *card.std}
    found += [f"mean/std {v}" for v in file.numbers() if any(abs(v - x) < 5e-7 for x in values)]
    return found


@pytest.mark.parametrize("path", SWIFT_FILES, ids=lambda p: str(p.relative_to(IOS)))
def test_swift_takes_labels_and_normalization_from_the_card(path):
    assert _card_duplicates(swift(path)) == []


def test_the_duplicate_check_catches_a_hard_coded_label_or_mean():
    assert _card_duplicates(Swift(Path("x.swift"), b'let malignant = ["akiec", "bcc"]'))
    assert _card_duplicates(Swift(Path("x.swift"), b'let name = "Melanoma"'))
    assert _card_duplicates(Swift(Path("x.swift"), b"let mean: [Float] = [0.485, 0.456, 0.406]"))


@pytest.mark.parametrize("path", sorted(APP.rglob("*.swift")) + sorted(PACKAGE.rglob("*.swift")),
                         ids=lambda p: p.name)
def test_no_platform_scaler_makes_the_model_image(path):
    text = path.read_text()
    assert [s for s in PLATFORM_SCALERS if s in text] == []


# --- constants the Swift code mirrors -----------------------------------------------------------

def test_mirrored_constants_equal_skinedges():
    from skinedge import calibration, card, gate, preprocess
    from skinedge.bench import report
    from skinedge.targets.common import CARD_KEY

    model_card = swift(CORE / "ModelCard.swift")
    assert model_card.value("schema") == card.CARD_SCHEMA
    assert model_card.value("metadataKey") == CARD_KEY
    assert model_card.value("inputSizeRange") == (card.MIN_INPUT_SIZE, card.MAX_INPUT_SIZE)
    assert model_card.value("viewsRange") == (1, card.MAX_VIEWS)
    fixed = dict(re.findall(r'\("(\w+)", \.string\("([^"]+)"\)\)', model_card.text(
        model_card.property("fixedFields"))))
    assert fixed == {"color_order": "RGB", "layout": "NCHW", "normalization": "in_graph",
                     "resize": preprocess.RESIZE_POLICY, "interpolation": preprocess.INTERPOLATION}
    limits = swift(CORE / "RawImage.swift")
    names = ("maxPixels", "minSide", "maxAspectRatio", "maxResizedPixels")
    assert [limits.value(n) for n in names] \
        == [preprocess.MAX_PIXELS, preprocess.MIN_SIDE, preprocess.MAX_ASPECT_RATIO,
            preprocess.MAX_RESIZED_PIXELS]
    assert swift(CORE / "TrustFields.swift").value("temperatureRange") == calibration.T_RANGE
    assert swift(CORE / "InputGate.swift").value("featureNames") == list(gate.FEATURES)
    assert swift(CORE / "BenchReport.swift").value("schema") == report.SCHEMA


def test_coreml_parity_tolerances_are_the_export_recipes():
    recipes = {}
    for path in (ROOT / "export").glob("*.toml"):
        r = tomllib.loads(path.read_text())
        if r["target"] == "coreml":
            recipes[r["quantization"]] = r["parity"]["max_abs_diff"]
    assert recipes
    assert swift(TESTS / "CoreMLParityTests.swift").value("recipeMaxAbsDiff") == recipes


def test_bench_writer_keys_are_the_host_schema():
    """A phone row has the host row's keys (less fraction_of_matmul_peak, which needs the
    host's fp32 matmul peak: the host omits it on non-fp32 rows too); the document has the
    host document's keys plus ``device``; latency statistics have the host's keys."""
    from skinedge.bench import report
    from skinedge.bench.runner import BenchConfig, Row
    from skinedge.layout import DEFAULT_MODEL

    cfg = BenchConfig()
    row = report._row_doc(Row(name="m", kind="artifact", target="eager", quantization="fp16",
                              path=str(DEFAULT_MODEL), timings={"1": [1.0, 2.0]}, load_s=[0.1]),
                          cfg, {"peak": 1.0}, {})
    report._add_ratios([row])
    host_doc = report.assemble([], cfg, 1, {"peak": 1.0}, [], 1.0)
    writer = swift(CORE / "BenchReport.swift")
    assert sorted(writer.dictionary_keys("rowDocument")) == sorted(row)
    assert sorted(writer.dictionary_keys("document")) == sorted([*host_doc, "device"])
    assert sorted(writer.dictionary_keys("stats")) == sorted(report.stats([1.0, 2.0]))
    assert sorted(writer.dictionary_keys("document", under="host")) == sorted(host_doc["host"])
    assert sorted(writer.dictionary_keys("document", under="settings")) \
        == sorted(host_doc["settings"])


def test_app_answers_skinedge_bench_device_ios():
    """The launch arguments and bundle id `skinedge bench --device ios` uses (read from
    skinedge/bench/ios.py) are the ones the app reads, and it writes into the harness's folder."""
    from skinedge.bench import ios

    harness = (ROOT / "skinedge" / "bench" / "ios.py").read_text()
    launch = re.search(r'"--terminate-existing", bundle, (.*?)\],', harness, re.DOTALL)[1]
    wanted = re.findall(r'"(-\w+)"', launch)
    request = swift(CORE / "BenchRequest.swift")
    mirrored = [request.value(n) for n in ("folderArgument", "warmupArgument", "runsArgument",
                                           "resultArgument")]
    assert wanted == mirrored
    assert f"PRODUCT_BUNDLE_IDENTIFIER: {ios.IOS_BUNDLE}\n" in (IOS / "project.yml").read_text()
    runner = (APP / "App" / "BenchmarkRunner.swift").read_text()
    assert "request.folder" in runner and "request.resultFile" in runner
    assert 'pathExtension == "mlpackage"' in runner


# --- the golden files the Swift tests read ------------------------------------------------------

@pytest.fixture(scope="module", params=["small_model", "shipped_model"])
def golden(request) -> Path:
    """golden/ of the small test model's export (no calibration, referral or gate) and of the
    shipped, calibrated model's (conftest's shipped_export): the Swift tests read both kinds."""
    if request.param == "small_model":
        exported = request.getfixturevalue("exported")
        folder = Path(next(iter(exported.values())).path).parent / "golden"
    else:
        folder = request.getfixturevalue("shipped_export") / "golden"
    assert (folder / "index.json").is_file(), f"skinedge export wrote no {folder}"
    return folder


def _keys(doc) -> set[str]:
    if isinstance(doc, dict):
        return set(doc) | set().union(*(_keys(v) for v in doc.values()))
    if isinstance(doc, list):
        return set().union(*(_keys(v) for v in doc)) if doc else set()
    return set()


def test_golden_files_the_swift_tests_name_exist(golden):
    folder_swift = swift(TESTS / "GoldenFolder.swift")
    assert (golden / folder_swift.value("indexFile")).is_file()
    index = json.loads((golden / "index.json").read_text())
    checkpoint = folder_swift.value("checkpoint")
    assert checkpoint in {m["name"] for m in index["models"]}
    constants = {"GoldenFolder.checkpoint": checkpoint, "GoldenFolder.indexFile": "index.json"}
    named = []
    for path in set(TESTS.glob("*.swift")) - {BENCH_TESTS}:
        for parts in swift(path).templates():
            if any(isinstance(p, tuple) and p[1] not in constants for p in parts):
                continue
            text = "".join(constants[p[1]] if isinstance(p, tuple) else p for p in parts)
            if re.fullmatch(r"\w+(/[\w.]+)+\.(json|md|u8|f32|png)", text):  # a path in golden/
                named.append(text)
    assert "expected/checkpoint.json" in named
    assert [n for n in named if not (golden / n).is_file()] == []
    # Files the tests reach through index.json: every image, model image, card, expected.
    for e in index["images"]:
        assert (golden / e["file"]).is_file() and (golden / e["model_image"]["file"]).is_file()
    assert any("model_input" in e and (golden / e["model_input"]["file"]).is_file()
               for e in index["images"])
    for m in index["models"]:
        assert (golden / m["card"]).is_file() and (golden / m["expected"]).is_file()


def test_golden_keys_and_images_the_swift_tests_read_exist(golden):
    docs = [json.loads(p.read_text()) for p in [golden / "index.json",
                                                 *golden.glob("expected/*.json"),
                                                 *golden.glob("cards/*.json")]]
    known = set().union(*(_keys(d) for d in docs))
    if "usable" not in known:
        # The small test model has no trust fields, so its golden holds no gate verdict: add the
        # keys skinedge's API writes for one (the shipped model's golden has them all).
        from skinedge.api import Prediction
        from skinedge.gate import Verdict

        known |= _keys(Prediction("s", "l", gate=Verdict(True, [], {"ood": 1.0}).to_dict()).to_dict())
    names = {e["name"] for e in json.loads((golden / "index.json").read_text())["images"]}
    for path in set(TESTS.glob("*.swift")) - {BENCH_TESTS}:
        file = swift(path)
        assert sorted(file.subscript_keys() - known) == [], path.name
        images = {s for s in file.strings() if re.fullmatch(r"[a-z0-9_]+_\d+x\d+", s)}
        assert images <= names, path.name
    bench_keys = set(swift(CORE / "BenchReport.swift").strings())
    assert swift(BENCH_TESTS).subscript_keys() <= bench_keys



def test_swift_trust_path_keys_hold_values_in_the_shipped_golden(shipped_export):
    """What PredictionTests.swift compares of the calibrated model (calibrated probabilities,
    malignant probability, refer/threshold, the gate's verdict, reasons and scores) is in the
    shipped model's golden with values, so `swift test` over it checks every trust path."""
    read = swift(TESTS / "PredictionTests.swift").subscript_keys()
    trust = {"calibrated", "malignant_probability", "refer", "threshold", "gate", "usable",
             "reasons", "scores"}
    assert trust <= read, sorted(trust - read)
    golden = shipped_export / "golden"
    index = json.loads((golden / "index.json").read_text())
    preds = [e["prediction"] for m in index["models"]
             for e in json.loads((golden / m["expected"]).read_text()).values()]
    assert preds and all(p["calibrated"] and p["malignant_probability"] is not None
                         and p["threshold"] is not None and p["gate"]["scores"] for p in preds)
    assert {p["refer"] for p in preds} == {True, False}
    assert {p["gate"]["usable"] for p in preds} == {True, False}
    assert any(p["gate"]["reasons"] for p in preds)

def test_golden_folder_comes_from_the_environment_variable():
    assert swift(TESTS / "GoldenFolder.swift").value("variable") == "SKINEDGE_GOLDEN"
    readme = (IOS / "README.md").read_text()
    assert "SKINEDGE_GOLDEN=" in readme and "swift test" in readme


def test_readme_says_what_is_checked_here_and_what_needs_a_mac():
    readme = (IOS / "README.md").read_text()
    for needed in ("tree-sitter", "Xcode 16", "iOS 17", "xcodegen", ".centerCrop",
                   "skinedge export --target coreml", "CC BY-NC 4.0", "tests/test_ios_demo.py"):
        assert needed in readme, needed
