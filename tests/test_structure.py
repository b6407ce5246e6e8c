"""The package's shape, checked: no import loops (counting imports inside functions too), no
function longer than a screen, no target or platform name outside skinedge/targets/, and a
``--help`` that does not import torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "skinedge"
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports anywhere in its source."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            root = base[:len(base) - node.level + 1] if node.level else []
            mod = ".".join(root + (node.module.split(".") if node.module else []))
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                out.add(sub if sub in known else mod)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in known and m != name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_cycle_finder_finds_a_loop():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_imports_itself_back():
    mods = _modules()
    graph = {n: _imports(n, p, set(mods)) for n, p in mods.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_no_long_functions():
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, long


def test_target_and_platform_names_stay_in_the_target_modules():
    found = []
    for name, path in _modules().items():
        if name.startswith("skinedge.targets"):
            continue
        text = path.read_text()
        for needle in ('== "coreml"', '!= "coreml"', '== "onnx"', '== "executorch"',
                       "sys.platform"):
            if needle in text:
                found.append(f"{name}: {needle}")
    assert not found, found


def test_help_does_not_import_torch():
    code = ("import sys; from skinedge.cli import build_parser; build_parser().format_help(); "
            "print(sorted(m for m in ('torch', 'scipy', 'matplotlib', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # the slow imports wait until a command runs
    for argv in (["--help"], ["train", "--help"], ["export", "--help"], ["synth", "train", "--help"]):
        code = ("import sys, runpy; sys.argv = ['skinedge', *%r]\n"
                "try:\n    from skinedge.cli import main; main(sys.argv[1:])\n"
                "except SystemExit:\n    pass\nprint('torch' in sys.modules)" % (argv,))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip().splitlines()[-1] == "False", argv


def test_every_help_text_renders_clean():
    """Each command's --help as a user sees it: no stray "%%" (argparse formats argument help
    with %, but prints descriptions as written) and no unfilled "%(" placeholders."""
    import argparse

    from skinedge.cli import build_parser

    def walk(parser: argparse.ArgumentParser, path: str):
        yield path, parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{path} {name}")

    bad = [(path, needle) for path, text in walk(build_parser(), "skinedge")
           for needle in ("%%", "%(") if needle in text]
    assert not bad, bad
