"""Every `walloc` command spells the same thing the same way (cli/options.py), and its help tells the truth."""

import json
import re
from pathlib import Path

import click
import pytest

from cli.main import cli
from walloc import io

ROOT = Path(__file__).resolve().parents[1]

# concept (the parameter's name) -> the only option names --help may show for it
VOCABULARY = {"output": ("-o", "--output"), "jobs": ("-j", "--jobs"), "threads": ("--threads",),
              "model": ("-m", "--model"), "quality": ("-q", "--quality"), "force": ("-f", "--force")}
# spellings of those concepts that other tools (or earlier releases) use: never shown
SYNONYMS = {"--out", "--outdir", "--output-dir", "--workers", "--processes", "--procs", "--nproc", "--num-workers",
            "--num-threads", "--nthreads", "--overwrite", "--level", "--preset", "--codec-model", "-w", "-t", "-p"}
# old spellings kept, hidden, for one release: (command, old option, the concept it sets)
OLD = [("rd", "--out", "output"), ("latents", "--workers", "jobs")]


def commands() -> list[tuple[str, click.Command]]:
    return sorted(cli.commands.items())


def shown(command: click.Command, name: str) -> list[tuple[str, tuple[str, ...]]]:
    """(parameter name, option names --help shows) of every visible option."""
    ctx = click.Context(command, info_name=name)
    out = []
    for p in command.get_params(ctx):
        record = p.get_help_record(ctx) if isinstance(p, click.Option) and not p.hidden else None
        if record:  # "-o, --output TEXT": the names before the metavar
            out.append((p.name, tuple(part.split(" ")[0] for part in record[0].split(", "))))
    return out


@pytest.mark.parametrize("name,command", commands())
def test_options_follow_the_vocabulary(name, command):
    for param, names in shown(command, name):
        if param in VOCABULARY:
            assert names == VOCABULARY[param], f"walloc {name}: {param} is shown as {names}, not {VOCABULARY[param]}"
        assert not set(names) & SYNONYMS, f"walloc {name} shows {set(names) & SYNONYMS}; the vocabulary says {VOCABULARY}"
        for concept, canonical in VOCABULARY.items():
            short = canonical[0]
            if short in names and param != concept:
                assert False, f"walloc {name}: {short} means {param} here but {concept} everywhere else"


def test_threads_has_one_default():
    defaults = {name: p.default for name, c in commands() for p in c.params if p.name == "threads"}
    assert {"encode", "decode", "rd", "latents", "train"} <= set(defaults), defaults
    assert len(set(defaults.values())) == 1, defaults


@pytest.mark.parametrize("name,old,concept", OLD)
def test_old_spellings_still_parse_but_are_hidden(name, old, concept):
    command = cli.commands[name]
    args = {"rd": [old, "x.json", "in"], "latents": [old, "3", "src", "dst"]}[name]
    ctx = command.make_context(name, list(args))
    assert ctx.params[concept] == (3 if concept == "jobs" else "x.json")
    assert not re.search(rf"{old}(?![\w-])", command.get_help(click.Context(command, info_name=name)))


def test_encode_help_names_every_readable_format_and_the_real_quality_range():
    text = cli.commands["encode"].get_help(click.Context(cli.commands["encode"], info_name="encode"))
    words = set(re.findall(r"[A-Za-z0-9]+", text.upper()))
    same = {"JPG": "JPEG", "TIF": "TIFF", "OGA": "OGG"}
    for suffix in sorted(io.IMAGE_SUFFIXES | io.AUDIO_SUFFIXES):
        fmt = suffix.lstrip(".").upper()
        assert same.get(fmt, fmt) in words, f"walloc encode --help does not name {suffix}"
    cards = {p.stem: json.loads(p.read_text()) for p in (ROOT / "models").glob("*.json")}
    for line in text.splitlines():
        m = re.search(r"-q (\d+).*highest quality", line)
        if m:
            model = re.search(r"(stereo|rgb)-\w+", line).group(0)
            top = max(q["quality"] for q in cards[model]["qualities"])
            assert int(m.group(1)) == top, f"{line.strip()}: {model}'s highest quality is {top}"
