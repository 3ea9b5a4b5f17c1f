"""Layering and packaging: the library never imports the command line, `import walloc` loads no
evaluation harness, plotting or peer codecs, and the packaging metadata ships every package."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT

LIBRARY = ROOT / "walloc"
ENTRY = "walloc/__main__.py"  # `python -m walloc`: the one library file that may start the CLI


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Every module a file imports, relative imports resolved, with ``from X import Y`` also as X.Y."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return found


def importers(root: Path, wanted) -> dict[str, set[str]]:
    """{file: the modules it imports that ``wanted(name)`` picks}, over every .py file under root."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        hits = {m for m in imported_modules(path, root) if wanted(m)}
        if hits:
            out[str(path.relative_to(root.parent))] = hits
    return out


def _is_cli(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in ("cli", "walloc.cli"))


def test_the_library_never_imports_the_cli():
    found = {f: m for f, m in importers(LIBRARY, _is_cli).items() if f != ENTRY}
    assert found == {}, f"library modules import the command line: {found}"


def test_benchmarks_use_the_library_not_the_cli():
    """Logic a benchmark needs (e.g. converting a folder to latents) belongs in the library; benchmarks
    may run the `walloc` command as a process, never import its modules."""
    assert importers(ROOT / "benchmarks", _is_cli) == {}


@pytest.mark.parametrize("source", ["from cli.main import main", "import cli.latents", "from ..cli import main",
                                    "from walloc.cli.main import main", "from .. import cli"])
def test_the_scan_sees_every_spelling_of_a_cli_import(tmp_path, source):
    """The scan above would have caught walloc/train/__main__.py's `from cli.main import main`."""
    pkg = tmp_path / "walloc" / "train"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(source + "\n")
    assert list(importers(tmp_path / "walloc", _is_cli)) == ["walloc/train/__main__.py"]


@pytest.mark.parametrize("library, home", [("matplotlib", "walloc/eval/plot.py"), ("imagecodecs", "walloc/eval/peers.py"),
                                           ("pillow_jxl", "walloc/eval/peers.py"), ("compressai", None)])
def test_plotting_and_peer_codecs_live_in_their_own_modules(library, home):
    found = importers(LIBRARY, lambda m: m == library or m.startswith(library + "."))
    assert set(found) <= ({home} if home else set()), f"{library} imported outside {home}: {sorted(found)}"


def _loaded_after(statement: str, names: list[str]) -> list[str]:
    """Which of ``names`` (modules, and their submodules) a fresh interpreter holds after ``statement``."""
    code = (f"import json, sys\n{statement}\n"
            f"print(json.dumps(sorted({{n for n in {names!r} for m in sys.modules if m == n or m.startswith(n + '.')}})))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


HARNESS = ["matplotlib", "imagecodecs", "compressai", "pillow_jxl"]


def test_import_walloc_loads_no_evaluation_plotting_or_peer_codec():
    assert _loaded_after("import walloc", HARNESS + ["walloc.eval", "walloc.cli", "walloc.train"]) == []


def test_model_cards_are_measured_without_peers_or_plotting():
    """Training's export measures a model through the sweep alone (walloc.rd was where the peers lived)."""
    banned = HARNESS + ["walloc.eval.peers", "walloc.eval.plot", "walloc.eval.compare", "walloc.rd"]
    assert _loaded_after("import walloc.train.export", banned) == []


def test_the_command_line_starts_without_the_evaluation_harness():
    """`walloc rd` loads walloc.eval when it runs, so no other command pays for it at start-up."""
    assert _loaded_after("import walloc.cli.main", HARNESS + ["walloc.eval"]) == []


def _declared_packages() -> tuple[list[str], dict[str, str]]:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return tool["packages"], tool.get("package-dir", {})


def test_every_package_of_the_tree_is_declared_and_only_inside_walloc():
    """A package missing from pyproject's list would be missing from the wheel (editable installs hide that)."""
    packages, folders = _declared_packages()
    assert all(p == "walloc" or p.startswith("walloc.") for p in packages), packages
    in_tree = {_module_name(p, LIBRARY) for p in LIBRARY.rglob("__init__.py") if "__pycache__" not in p.parts}
    assert in_tree <= set(packages), f"not in pyproject's packages: {sorted(in_tree - set(packages))}"
    for package, folder in folders.items():
        assert package in packages and (ROOT / folder / "__init__.py").is_file(), (package, folder)


def test_the_sdist_manifest_carries_the_license_configs_docs_models_and_tests():
    manifest = (ROOT / "MANIFEST.in").read_text().split()
    for needed in ("LICENSE", "configs", "docs", "models", "csrc", "tests", "benchmarks"):
        assert needed in manifest, needed


# -- the install without torch (pip install walloc): reading and writing files -----------------------------
TORCH_FREE = ["walloc", "walloc.encoder", "walloc.decoder", "walloc.stream", "walloc.convert", "walloc.io", "walloc.zoo",
              "walloc.signal", "walloc.bands", "walloc.bound", "walloc.level", "walloc.threads", "walloc.tables",
              "walloc.cli.main"]


def test_import_walloc_loads_neither_torch_nor_onnxruntime():
    assert _loaded_after("import walloc", ["torch", "onnxruntime"]) == []


def test_the_modules_for_reading_and_writing_files_import_no_torch():
    """Encode, decode, info, models and read_latents (and the command line) start without torch or ONNX Runtime."""
    assert _loaded_after("import " + ", ".join(TORCH_FREE), ["torch", "onnxruntime"]) == []


def test_a_decode_loads_onnxruntime_and_no_torch():
    statement = ("from pathlib import Path; from walloc.decoder import Decoder\n"
                 "data = Path('tests/fixtures/rgb-16x@4-format2.wlc').read_bytes()\n"
                 "assert Decoder.for_stream(data).decompress(data).shape == (3, 48, 64)")
    assert _loaded_after(statement, ["torch", "onnxruntime"]) == ["onnxruntime"]


def test_torch_is_an_extra_and_onnxruntime_a_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [d.split(">")[0].split("=")[0].strip() for d in project["dependencies"]]
    assert "torch" not in names and "onnxruntime" in names
    assert any(d.startswith("torch") for d in project["optional-dependencies"]["torch"])


def test_the_wheel_ships_the_onnx_graphs():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["walloc.models"]
    assert "onnx/*" in data and "releases/*/onnx/*" in data
    assert "*.onnx" in (ROOT / "MANIFEST.in").read_text()
