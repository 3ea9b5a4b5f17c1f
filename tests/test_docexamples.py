"""The examples in README.md and the docs run (after constriction's tests/test_docexamples.py).

Every fenced code block of the Markdown files below is one test case:

- a ```python block is executed on its own, in a fresh namespace;
- a ```sh, ```bash, ```shell or unlabelled ``` block is run by ``bash -euo pipefail``, with this
  interpreter's ``walloc`` and ``python`` first on PATH;
- blocks labelled otherwise (```text, ```json, ...) are not code and are not collected;
- a block right after a line that is only a ``<!-- no-test: REASON -->`` comment is skipped with that reason
  (``pytest -rs tests/test_docexamples.py`` lists every such block and why).

The blocks of one document run in document order, in one temporary folder per document (as a
reader who types them one after the other would: a later block may read what an earlier one
wrote), each Python block in a process of its own. The folder starts with the files the examples
name. Those files are
the shipped samples (samples/sample.png, a 384x256 picture; samples/sample.flac, 2 s of stereo
audio), copied under the names in EXAMPLE_FILES and EXAMPLE_TREES: that table is the only
substitution, and the examples' text is run as written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
DOCS = sorted([*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md"), *(ROOT / "samples").glob("*.md"),
               *(ROOT / "models").glob("*.md")])

IMAGE, AUDIO = "sample.png", "sample.flac"
# name in the docs -> the sample it is made from (a .wav is the FLAC sample written as WAV)
EXAMPLE_FILES = {
    "samples/sample.png": IMAGE,
    "samples/sample.flac": AUDIO,
    "photo.png": IMAGE,
    "kodim23.png": IMAGE,
    "song.wav": AUDIO,
    "song.flac": AUDIO,
    "photos/a.png": IMAGE,
    "photos/trip/b.png": IMAGE,
}
# labelled folder trees (SPLIT/LABEL/FILE) of the learning examples: 2 labels x 2 files per split
EXAMPLE_TREES = {"clothing": IMAGE, "clips": AUDIO}

SHELL = {"", "sh", "bash", "shell", "console"}
PYTHON = {"python", "py", "python3"}
NO_TEST = re.compile(r"<!--\s*no-test:\s*(.*?)\s*-->")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)[^\n]*$")


@dataclass
class Block:
    doc: Path
    line: int          # 1-based line of the opening fence
    lang: str          # "python" or "sh"
    code: str
    skip: str | None   # the no-test reason, if any

    @property
    def id(self) -> str:
        return f"{_rel(self.doc)}:{self.line}"


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def blocks(path: Path) -> list[Block]:
    """The code blocks of a Markdown file, each with the no-test reason written just before it."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    reason: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line.strip())
        if fence:
            close, lang = fence.group(1), fence.group(2).lower()
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(close):
                body.append(lines[i])
                i += 1
            if lang in PYTHON | SHELL:
                found.append(Block(path, start + 1, "python" if lang in PYTHON else "sh",
                                   textwrap.dedent("\n".join(body)) + "\n", reason))
            elif reason is not None:
                raise ValueError(f"{_rel(path)}:{start + 1}: a no-test marker before a ```{lang} block, which is never run")
            reason = None
        else:
            marker = NO_TEST.fullmatch(line.strip())
            if marker:
                if reason is not None:
                    raise ValueError(f"{_rel(path)}:{i + 1}: two no-test markers with no code block between them")
                if not marker.group(1):
                    raise ValueError(f"{_rel(path)}:{i + 1}: a no-test marker must give its reason")
                reason = marker.group(1)
            elif line.strip() and reason is not None:
                raise ValueError(f"{_rel(path)}:{i + 1}: text between a no-test marker and its code block")
        i += 1
    if reason is not None:
        raise ValueError(f"{_rel(path)}: a no-test marker at the end, before no code block")
    return found


def make_example_files(folder: Path) -> None:
    """The files and trees the examples name, made from the samples (see EXAMPLE_FILES)."""
    import soundfile as sf

    def put(dst: Path, sample: str) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.suffix == ".wav":
            data, rate = sf.read(SAMPLES / sample, dtype="int16")
            sf.write(dst, data, rate, subtype="PCM_16")
        else:
            shutil.copyfile(SAMPLES / sample, dst)

    for name, sample in EXAMPLE_FILES.items():
        put(folder / name, sample)
    for tree, sample in EXAMPLE_TREES.items():
        for split in ("train", "test"):
            for label in ("a", "b"):
                for k in range(2):
                    put(folder / tree / split / label / f"{k}{Path(sample).suffix}", sample)


def run_block(block: Block, folder: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run one example in folder; the result's returncode is 0 if it ran without an error."""
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("WALLOC_MODEL_DIR", None)  # the shipped models, as a reader of the docs has them
    if block.lang == "python":
        script = folder / f"_example_{block.line}.py"
        script.write_text(block.code)
        cmd = [sys.executable, str(script)]
    else:
        cmd = ["bash", "-euo", "pipefail", "-c", block.code]
    return subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


ALL = [b for doc in DOCS for b in blocks(doc)]


def test_the_docs_have_examples_and_the_runnable_ones_outnumber_none():
    """The collection found the README's examples (a broken fence or glob would find none)."""
    readme = [b for b in ALL if b.doc.name == "README.md" and b.doc.parent == ROOT]
    assert readme and any(b.skip is None for b in readme)
    assert any(b.lang == "python" and b.skip is None for b in readme)
    assert any(b.lang == "sh" and b.skip is None for b in readme)


@pytest.fixture(scope="module")
def doc_folders(tmp_path_factory):
    """One working folder per document, made on its first block and kept for the ones after it."""
    folders: dict[Path, Path] = {}

    def folder(doc: Path) -> Path:
        if doc not in folders:
            folders[doc] = tmp_path_factory.mktemp(re.sub(r"\W", "_", _rel(doc)))
            make_example_files(folders[doc])
        return folders[doc]

    return folder


@pytest.mark.parametrize("block", ALL, ids=[b.id for b in ALL])
def test_doc_example_runs(block: Block, doc_folders):
    if block.skip is not None:
        pytest.skip(f"{block.id} no-test: {block.skip}")
    r = run_block(block, doc_folders(block.doc))
    assert r.returncode == 0, f"{block.id} ({block.lang}) failed with exit code {r.returncode}:\n{block.code}\n" \
                              f"--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"


def test_a_broken_example_fails_and_markers_are_honoured(tmp_path: Path):
    """The runner is not vacuous: a wrong option, a Python error and a missing file each fail; a marker skips."""
    doc = tmp_path / "doc.md"
    doc.write_text("```sh\nwalloc encode photo.png --no-such-option\n```\n\n"
                   "```python\nimport walloc\nwalloc.load('no-such-model')\n```\n\n"
                   "```\nwalloc decode missing.wlc\n```\n\n"
                   "<!-- no-test: needs an hour -->\n```sh\nexit 1\n```\n\n"
                   "```text\nnot code\n```\n")
    found = blocks(doc)
    assert [(b.lang, b.skip) for b in found] == [("sh", None), ("python", None), ("sh", None), ("sh", "needs an hour")]
    work = tmp_path / "work"
    work.mkdir()
    make_example_files(work)
    for b in found[:3]:
        assert run_block(b, work).returncode != 0, b.code


def test_a_marker_must_stand_right_before_a_code_block(tmp_path: Path):
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- no-test: reason -->\nsome text\n```sh\ntrue\n```\n")
    with pytest.raises(ValueError, match="between a no-test marker"):
        blocks(doc)
    doc.write_text("<!-- no-test: -->\n```sh\ntrue\n```\n")
    with pytest.raises(ValueError, match="reason"):
        blocks(doc)
