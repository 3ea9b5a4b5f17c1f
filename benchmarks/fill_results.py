"""Regenerate the result tables of the docs from the benchmark JSON files.

    python benchmarks/fill_results.py                  # JSON from docs/rd_*.json and docs/results/
    python benchmarks/fill_results.py --bench-dir out  # bench_*.json straight from a fresh run in out/
    python benchmarks/fill_results.py --check          # exit 1 if a doc is not up to date

Every generated table sits in a doc between two marker comments,

    <!-- BEGIN speed -->
    ...
    <!-- END speed -->

and only the text between them is replaced; the prose around the blocks is left alone (read it
after a refresh: it may state numbers or conclusions that changed). A block whose JSON file is
missing is kept as it is, with a warning. Sources:

    docs/rd_kodak.json          walloc rd ../shared/data/images/kodak --out docs/rd_kodak.json ...
    docs/rd_audio.json          walloc rd <clips> --out docs/rd_audio.json ...
    BENCH_DIR/bench_peers.json    benchmarks/bench_peers.py
    BENCH_DIR/bench_cli.json      benchmarks/bench_cli.py
    BENCH_DIR/bench_scaling.json  benchmarks/bench_scaling.py
    BENCH_DIR/bench_entropy.json  benchmarks/bench_entropy.py
    BENCH_DIR/bench_memory.json   benchmarks/bench_memory.py
    BENCH_DIR/bench_entropy_bound.json               benchmarks/bench_entropy_bound.py
    BENCH_DIR/bench_entropy_bound_raster_own.json    benchmarks/bench_entropy_bound.py --context raster-own
    BENCH_DIR/bench_entropy_bound_checkerboard.json  benchmarks/bench_entropy_bound.py --context checkerboard
    BENCH_DIR/bench_artifacts{,_trim4}.json  benchmarks/bench_artifacts.py ../shared/data/images/kodak [--trim 4]
    BENCH_DIR/bench_audio.json    benchmarks/bench_audio.py
    BENCH_DIR/bench_cdl.json      benchmarks/bench_cdl.py
    BENCH_DIR/bench_cdl_cv.json   benchmarks/bench_cdl.py --folds 5 (clothing, the earlier classifier)
    BENCH_DIR/bench_cdl_{dtd10,dtd10_b,fsdd,fsdd_q4,clothing_a,clothing_b,clothing_c}.json  benchmarks/bench_cdl.py --data <tree> --folds 5
                                  (dtd10 and dtd10_b: the variants split over two processes, one table)
    BENCH_DIR/bench_cdl_{fsdd_shifts,fsdd_shifts16_all,fsdd_shifts16_q4,fsdd_shifts32,fsdd_band,dtd10_4x_shifts2,dtd10_4x_shifts4,dtd10_thumbs_shifts}.json  the same with
                                  --shifts N or --down-numbers N (docs/compressed-learning.md names each command)
    BENCH_DIR/bench_cdl_fsdd_shifts16_seed1.json  samples_down and walloc_5x with --shifts 16 at fold seed 1
    BENCH_DIR/bench_cdl_dtd10_{v,full}_seed{0,1,2}.json  the dtd10 variants again with the shipped models, at fold
                                  seeds 0, 1 and 2 (--seed), in two processes per seed (one table)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# ------------------------------------------------------------------------------------------------
# formatting


def sig(x: float | None, digits: int = 3) -> str:
    """``digits`` significant digits, no trailing zeros, never in exponent notation; '-' if missing."""
    if x is None:
        return "-"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def span(values: list[float], digits: int = 2) -> str:
    """'lo-hi' when the values spread by more than 30 %, else their mean."""
    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo > 1.3:
        return f"{sig(lo, digits)}-{sig(hi, digits)}"
    return sig(sum(values) / len(values), digits)


def pct(x: float | None) -> str:
    return "n/a" if x is None else ("0" if x == 0 else f"{x:+.1f}%")


def table(header: list[str], align: str, rows: list[list[str]]) -> str:
    """Markdown table; ``align`` has one letter per column: l(eft) or r(ight)."""
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(map(str, r)) + " |" for r in [header, *rows]]
    return "\n".join([lines[0], "|" + "|".join(rule) + "|", *lines[1:]])


def seconds(s: float) -> str:
    return f"{s / 60:.0f} min" if s >= 120 else f"{s:.0f} s"


# ------------------------------------------------------------------------------------------------
# rate-distortion sweeps (walloc rd)

# codec key in the rd JSON -> (name, library, prefix of the swept quality value); the settings it ran
# with are read from the JSON (``settings.NAME.options``), so a table never names other settings
RD_CODECS = {
    "jpeg": ("JPEG", "Pillow / libjpeg-turbo, 4:2:0", "q"),
    "webp": ("WebP", "Pillow / libwebp", "q"),
    "jpeg2000": ("JPEG 2000", "Pillow / OpenJPEG, 9/7", "ratio "),
    "avif": ("AVIF", "Pillow / libavif", "q"),
    "jpegxl": ("JPEG XL", "libjxl", "distance "),
    "opus": ("Opus", "libsndfile", "level "),
    "mp3": ("MP3", "libsndfile / LAME, CBR", "level "),
}


def rd_label(rd: dict, codec: str) -> str:
    qualities = [p["quality"] for p in rd["codecs"][codec]]
    if codec.startswith("walloc:"):
        return f"WaLLoC `{codec.split(':', 1)[1]}` (q{min(qualities)}-q{max(qualities)})"
    name, how, prefix = RD_CODECS.get(codec, (codec, "", ""))
    options = rd.get("settings", {}).get(codec, {}).get("options", {})
    parts = [how] + [key if value is True else f"{key} {value}" for key, value in options.items()]
    return f"{name} ({', '.join(p for p in parts if p)}, {prefix}{qualities[0]:g}-{qualities[-1]:g})"


def rd_bd_table(rd: dict, anchors: tuple[str, str], unit: str) -> str:
    """BD-rate of every codec against the two anchors, rate range and speed ranges."""
    rate = rd["rate"]
    rows = []
    for codec, points in rd["codecs"].items():
        rates = [p[rate] for p in points]
        rows.append([rd_label(rd, codec), *(pct(rd[f"bd_rate_vs_{a}"].get(codec)) for a in anchors),
                     f"{sig(min(rates), 2)}-{sig(max(rates), 2)}",
                     span([p["enc_mps"] for p in points]), span([p["dec_mps"] for p in points])])
    header = ["codec (library, settings)", *(f"BD-rate vs {RD_CODECS[a][0].split(' ')[0]}" for a in anchors),
              f"{rate} range", f"encode {unit}/s", f"decode {unit}/s"]
    out = [table(header, "lrrrrr", rows)]
    libraries = [f"{c}: {s['library']}" for c, s in rd.get("settings", {}).items() if not c.startswith("walloc:")]
    if libraries:
        out.append("\nLibraries: " + "; ".join(libraries) + ".")
    for codec, why in rd.get("skipped", {}).items():
        out.append(f"\n`{codec}` skipped: {why}")
    for pair, why in rd.get("bd_rate_notes", {}).items():  # "codec vs anchor": why there is no BD-rate
        out.append(f"\nNo BD-rate for {pair}: {why}")
    return "\n".join(out)


def rd_points_table(rd: dict, columns: list[tuple[str, str, int]]) -> str:
    """Every operating point of every WaLLoC model; columns: (key, header, decimals)."""
    rows = []
    for codec, points in rd["codecs"].items():
        if codec.startswith("walloc:"):
            for p in points:
                rows.append([f"`{codec.split(':', 1)[1]}`", p["quality"], *(f"{p[k]:.{d}f}" for k, _, d in columns)])
    return table(["model", "quality", *(h for _, h, _ in columns)], "lr" + "r" * len(columns), rows)


def kodak_bdrate(rd: dict) -> str:
    return rd_bd_table(rd, ("webp", "jpeg"), "MP")


def kodak_points(rd: dict) -> str:
    return rd_points_table(rd, [("bpp", "bpp", 3), ("psnr", "PSNR (dB)", 2), ("ms_ssim", "MS-SSIM", 4)])


def audio_bdrate(rd: dict) -> str:
    return rd_bd_table(rd, ("opus", "mp3"), "Msamples")


def audio_points(rd: dict) -> str:
    return rd_points_table(rd, [("kbps", "kbps", 1), ("psnr", "PSNR (dB)", 2), ("si_sdr", "SI-SDR (dB)", 2)])


def models(rd_kodak: dict, rd_audio: dict) -> str:
    """The model hashes the rd sweeps ran with."""
    found = []
    for rd in (rd_kodak, rd_audio):
        for codec, s in rd.get("settings", {}).items():
            m = re.search(r"sha256 (\w+)", s.get("library", ""))
            if codec.startswith("walloc:") and m:
                found.append(f"`{codec.split(':', 1)[1]}` sha256 `{m.group(1)}`")
    return "Models: " + ", ".join(found) + "."


# ------------------------------------------------------------------------------------------------
# benchmarks/bench_peers.py

PEERS = {"walloc_rgb16x": "WaLLoC `rgb-16x` (q{quality}, full .wlc path)",
         "webp": "WebP (Pillow, q{quality})",
         "jpeg": "JPEG (Pillow, q{quality})",
         "compressai_factorized": "CompressAI bmshj2018-factorized (N=128, M=192)",
         "compressai_hyperprior": "CompressAI bmshj2018-hyperprior (N=128, M=192)",
         "reference_walloc16x": "reference WaLLoC 16x architecture (Nd=768)"}


def speed(b: dict) -> str:
    rows = []
    for name, r in b["codecs"].items():
        label = PEERS.get(name, name).format(quality=r.get("quality"))
        rows.append([label, f"{r['params_m']} M" if "params_m" in r else "-", r.get("bpp", "-"),
                     sig(r["enc_mps"]), sig(r["dec_mps"]), f"{r['enc_peak_mb']} / {r['dec_peak_mb']}"])
    for name, why in b.get("skipped", {}).items():
        rows.append([f"{name}: skipped ({why})", "", "", "", "", ""])
    return table(["codec", "params", "bpp", "encode MP/s", "decode MP/s", "peak MB (enc / dec)"], "lrrrrr", rows)


def goals(b: dict) -> str:
    rows = [[g["goal"], f"{g['target']:g}x", "-" if g["ratio"] is None else f"{g['ratio']}x",
             {True: "yes", False: "no", None: "not measured"}[g["met"]]] for g in b["goals"]]
    return table(["goal", "target", "measured", "met"], "lrrl", rows)


# ------------------------------------------------------------------------------------------------
# benchmarks/bench_cli.py


STARTUP = {"python": "`python -c pass` (the interpreter alone)", "webp_oneliner": "Pillow WebP one-liner (quality 30)",
           "walloc_help": "`walloc --help`", "encode_image": "`walloc encode` Kodak image",
           "decode_image": "`walloc decode` Kodak image", "encode_audio": "`walloc encode` audio clip",
           "decode_audio": "`walloc decode` audio clip"}


def startup(b: dict) -> str:
    """Whole processes beside the WebP one-liner, then whether the start-up goals are met."""
    rel = b["ratio_to_baseline"]
    rows = []
    for name, r in b["commands"].items():
        x = rel.get(name, {"wall_s": 1.0, "peak_rss_mib": 1.0})
        rows.append([STARTUP.get(name, name), sig(r["wall_s"]), f"{x['wall_s']:g}x", f"{r['peak_rss_mib']:.0f}", f"{x['peak_rss_mib']:g}x"])
    head = table(["whole process", "wall s (median)", "vs WebP", "peak MiB (median)", "vs WebP"], "lrrrr", rows)
    met = [f"- {g['goal']}: {g['ratio']}x, {'met' if g['met'] else 'not met'}" for g in b["goals"]]
    return head + "\n\n" + "\n".join(met) + f"\n\n({b['repeats']} runs each; `{b['command']}`)"


# ------------------------------------------------------------------------------------------------
# benchmarks/bench_scaling.py


def scaling(s: dict) -> str:
    out = []
    for kind, unit in (("image", "MP"), ("audio", "s")):
        if kind not in s:
            continue
        rows = [[f"{r['size']:g}", "x".join(map(str, r["shape"])), sig(r["enc_s"]), sig(r["dec_s"]),
                 f"{r['enc_peak_mb']:.0f} ({r['enc_peak_mb'] - r['input_mb']:.0f})",
                 f"{r['dec_peak_mb']:.0f} ({r['dec_peak_mb'] - r['input_mb']:.0f})"] for r in s[kind]["rows"]]
        out.append(table([f"{kind} size ({unit})", "shape", "encode s", "decode s", "enc peak MB (beyond signal)",
                          "dec peak MB (beyond signal)"], "rlrrrr", rows))
        for key, a in s[kind]["analysis"].items():
            out.append(f"{kind} {'encode' if key == 'enc' else 'decode'}: time grows as size^{a['time_slope']} "
                       f"({'linear' if a['linear'] else 'not linear'}), {a['s_per_unit_at_largest']} s per {unit} "
                       f"at the largest size; peak memory {a['memory']}; beyond the signal it "
                       f"{a['working_memory_beyond_signal']}.")
    return "\n\n".join(out)


# ------------------------------------------------------------------------------------------------
# benchmarks/bench_entropy.py

CODERS = {"walloc": "walloc rANS, 1 thread",
          "walloc_mt": "walloc rANS, chunks on all threads",
          "walloc_cuda": "walloc rANS, CUDA",
          "constriction_range": "constriction range coder",
          "constriction_ans": "constriction ANS",
          "compressai_rans": "CompressAI rANS"}


def entropy(e: dict) -> str:
    rows = [[f"{CODERS.get(name, name)} (`{name}`)", sig(c["encode_msym_s"]), sig(c["decode_msym_s"]),
             f"{sig(c['overhead_pct'], 2)}%"] for name, c in e["coders"].items()]
    out = [table(["coder", "encode Msym/s", "decode Msym/s", "size over ideal"], "lrrr", rows)]
    data = [f"{name} ({d['symbols']:,} symbols: {d['describe']})" for name, d in e.get("datasets", {}).items()]
    if data:
        out.append("Data: " + "; ".join(data) + ".")
    return "\n\n".join(out)


# ------------------------------------------------------------------------------------------------
# benchmarks/bench_memory.py


def memory(m: dict) -> str:
    rows = []
    for name, c in m["cases"].items():
        rows.append([f"`{name}`", f"{c['input_bytes'] / 1e6:,.1f} MB", f"{c['wlc_bytes'] / 1e6:,.1f} MB",
                     f"{c['encode']['seconds']:.0f}", f"{c['encode']['peak_mb']:,.0f}",
                     f"{c['decode']['seconds']:.0f}", f"{c['decode']['peak_mb']:,.0f}",
                     "yes" if c["under_limit"] else "**no**"])
    return table(["case", "input file", ".wlc", "encode s", "encode peak MB", "decode s", "decode peak MB",
                  f"under {m['limit_mb']:,} MB"], "lrrrrrrl", rows)


# ------------------------------------------------------------------------------------------------
# benchmarks/bench_cdl.py


def points(x: float | None) -> str:
    """An accuracy (fraction) in percentage points, one decimal."""
    return "-" if x is None else f"{100 * x:.1f}"


def acc(v: dict, key: str) -> str:
    """Mean accuracy with its spread over seeds when there are several: '72.0 ± 1.2%'."""
    spread = v.get(f"{key}_std")
    return f"{points(v[key])}%" if spread is None else f"{points(v[key])} ± {points(spread)}%"


def paired_lines(c: dict, items: str) -> list[str]:
    """One line per paired comparison: mean difference, per seed when there are several, standard errors."""
    out = []
    for pair, d in c.get("paired", {}).items():
        per_seed = f"per seed: {', '.join(f'{100 * x:+.1f}' for x in d['per_seed'])}; " if len(d["per_seed"]) > 1 else ""
        se = "" if d["se_seeds"] is None else f"{points(d['se_seeds'])} over seeds, "
        out.append(f"Paired `{pair}`: {100 * d['mean']:+.1f} points ({per_seed}standard error {se}"
                   f"{points(d['se_test_images'])} over the {d['test_images']:,} {items}).")
    return out


def cdl_cv(c: dict) -> str:
    """bench_cdl.py --folds: cross-validated accuracy over every photo."""
    rows = [[f"`{name}`", "x".join(map(str, v["input_shape"])), f"{points(v['cv_acc'])}%",
             f"{points(min(v['fold_acc']))}-{points(max(v['fold_acc']))}%", f"{v['train_s']:.0f}"]
            for name, v in c["variants"].items() if "skipped" not in v]
    out = [table(["variant", "input", "cross-validated acc", "fold range", "train s / fold"], "llrrr", rows)]
    out += paired_lines(c, "photos")
    out.append(f"{c['protocol']}; {c['epochs']} epochs, batch {c['batch']}, fold seed {c['seeds'][0]}, "
               f"{c['threads']} training threads, torch {c.get('torch', '?')}; the benchmark took {seconds(c['total_s'])}.")
    return "\n\n".join(out)


def cdl(c: dict) -> str:
    rows, used = [], []
    for name, v in c["variants"].items():
        if "skipped" in v:
            rows.append([f"`{name}`", "-", f"skipped: {v['skipped']}", "", "", "", ""])
            continue
        rows.append([f"`{name}`", "x".join(map(str, v["input_shape"])), acc(v, "test_acc"), acc(v, "val_acc"),
                     f"{v['train_s']:.0f}", f"{v['bytes_per_example']:,.0f}", f"{v['load_items_s']:,.0f}"])
        if "model" in v:
            used.append(f"`{v['model']}` quality {v['quality']}")
    out = [table(["variant", "input", "test acc", "val acc", "train s", "bytes / example", "load items/s"],
                 "llrrrrr", rows)]
    out += paired_lines(c, "test images")
    seeds = c.get("seeds", [c.get("seed")])
    spread = " (± is the standard deviation over seeds)" if len(seeds) > 1 else ""
    out.append(f"Measured with {' and '.join(used) or 'no WaLLoC model'}; {c['epochs']} epochs, batch {c['batch']}, "
               f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}{spread}, "
               f"{c['threads']} training thread{'' if c['threads'] == 1 else 's'}, torch {c.get('torch', '?')}; "
               f"the benchmark took {seconds(c['total_s'])}.")
    return "\n\n".join(out)


def merged(runs: tuple[dict, ...] | list[dict]) -> dict:
    """Runs of one tree and one fold seed as one result: each variant from the first run that has it."""
    c = {**runs[0], "variants": {}, "paired": {}, "total_s": sum(r["total_s"] for r in runs)}
    for r in runs:
        c["variants"] |= {k: v for k, v in r["variants"].items() if k not in c["variants"]}
        c["paired"] |= r["paired"]
    return c


def shifts_note(run: dict) -> str:
    """What --shifts added to a run's training, for its table's footnote ("" without it)."""
    n = run.get("shifts", 1)
    return (f"every input also trained on as moved by k/{n} of a latent position along each axis, k < {n} (--shifts {n}), "
            if n > 1 else "")


def cdl_repeats(*runs: dict) -> str:
    """bench_cdl.py --folds repeated with other fold seeds (--seed): each variant's accuracy per fold seed
    and their mean, and each paired difference per fold seed (the standard error over items in brackets)."""
    by_seed = {s: merged([r for r in runs if r["seeds"][0] == s]) for s in sorted({r["seeds"][0] for r in runs})}
    # a variant whose model was not shipped has no numbers (cdl_tree shows it as skipped)
    trained = [{k: v for k, v in c["variants"].items() if "skipped" not in v} for c in by_seed.values()]
    rows = []
    for name in dict.fromkeys(k for variants in trained for k in variants):
        got = [variants.get(name) for variants in trained]
        accs = [v["test_acc"] for v in got if v]
        latents = sorted({f"{v['model']}" + (f" v{v['model_version']}" if "model_version" in v else "") + f" q{v['quality']}"
                          for v in got if v and "model" in v})
        first = next(v for v in got if v)
        rows.append([f"`{name}`", f"{first['dims']:,}", *[f"{points(v['test_acc'])}%" if v else "-" for v in got],
                     f"{points(sum(accs) / len(accs))}%", " / ".join(f"{v['train_s']:,.0f}" if v else "-" for v in got),
                     ", ".join(latents)])
    out = [table(["variant", "numbers", *[f"fold seed {s}" for s in by_seed], "mean", "train s (all folds), per fold seed",
                  "latents of"], "lr" + "r" * len(by_seed) + "rrl", rows)]
    pairs = list(dict.fromkeys(k for c in by_seed.values() for k in c["paired"]))
    for pair in pairs:
        got = [(s, c["paired"][pair]) for s, c in by_seed.items() if pair in c["paired"]]
        each = "; ".join(f"fold seed {s}: {100 * d['mean']:+.1f} ({points(d['se_test_images'])})" for s, d in got)
        mean = sum(d["mean"] for _, d in got) / len(got)
        out.append(f"Paired `{pair}`: {each}; mean {100 * mean:+.1f} points.")
    c = runs[0]
    out.append(f"{c['protocol']}, once per fold seed (the folds and the classifiers' initial weights differ); "
               f"{c['epochs']} epochs, batch {c['batch']}, body width {c['width']}, crops {c['crop']}, "
               f"{c['threads']} training thread{'' if c['threads'] == 1 else 's'}, {shifts_note(c)}torch {c.get('torch', '?')}; "
               f"the benchmark took {seconds(sum(r['total_s'] for r in runs))} in {len(runs)} runs.")
    return "\n\n".join(out)


def cdl_tree(*runs: dict) -> str:
    """bench_cdl.py --data TREE --folds: accuracy, cost and loading of every variant, paired differences.
    Several runs on the same tree and folds (``--variants`` split over processes) make one table: a
    variant is shown from the first run that has it."""
    c = merged(runs)
    rows = []
    for name, v in c["variants"].items():
        if "skipped" in v:
            rows.append([f"`{name}`", "-", f"skipped: {v['skipped']}"] + [""] * 7)
            continue
        t = v["time"]
        rows.append([f"`{name}`", "x".join(map(str, v["input_shape"])), f"{v['dims']:,}", f"{points(v['test_acc'])}%",
                     f"{points(min(v['fold_acc']))}-{points(max(v['fold_acc']))}%", f"{v['train_s']:,.0f}",
                     f"{t['forward_backward_s']:.1f} + {t['batches_s']:.1f}", f"{v['flops_per_example'] / 1e6:,.1f}",
                     f"{v['bytes_per_example']:,.0f}", f"{v['load_items_s']:,.0f} ({t['read_ms_per_item']:.2f} + {t['decode_ms_per_item']:.2f} ms)"])
    out = [table(["variant", "input", "numbers", "cross-validated acc", "fold range", "train s (all folds)",
                  "s / epoch: forward+backward + batches", "MFLOP / example", "bytes / example",
                  "load items/s (read + decode ms / item)"], "llrrrrrrrr", rows)]
    out += paired_lines(c, "items")
    losses = "; ".join(f"`{k}` {v['loss_history'][len(v['loss_history']) // 2]:.3f} -> {v['loss_history'][-1]:.3f}"
                       for k, v in c["variants"].items() if "loss_history" in v)
    out.append(f"Training loss (mean over folds) at the middle and the last of the {c['epochs']} epochs: {losses}.")
    out.append(f"{c['protocol']}; {c['epochs']} epochs, batch {c['batch']}, body width {c['width']}, crops {c['crop']}, "
               f"fold seed {c['seeds'][0]}, {c['threads']} training thread{'' if c['threads'] == 1 else 's'}, "
               f"{shifts_note(c)}"
               f"torch {c.get('torch', '?')}; the benchmark took {seconds(c['total_s'])}"
               f"{f' in {len(runs)} runs' if len(runs) > 1 else ''}.")
    return "\n\n".join(out)


def entropy_bound(*runs: dict) -> str:
    """bench_entropy_bound.py: per quality, every model's bytes on Kodak as a ratio to lossless WebP."""
    label = {"raster": "neural raster", "raster-own": "neural raster, own channel", "checkerboard": "neural checkerboard"}
    rows = []
    for q, r in runs[0]["qualities"].items():
        rows.append([q, f"{r['webp_lossless']:,}", f"{r['factorized_to_webp']:.3f}", f"{r['context_to_webp']:.3f}",
                     f"{r['wlc_file_to_webp']:.3f}"]
                    + [f"{run['qualities'][q]['neural_ar_to_webp']:.3f}" if q in run["qualities"] else "-" for run in runs])
    header = ["quality", "lossless WebP bytes", "factorized (ideal)", "context model (ideal)", ".wlc files"]
    header += [f"{label[run['context']]} (ideal)" for run in runs]
    steps = ", ".join(f"{run['context']} {run['steps']:,} steps" for run in runs)
    return (table(header, "r" * len(header), rows) + f"\n\nRatios to lossless WebP of the same integer latents, "
            f"`{runs[0]['model']}`, {runs[0]['images']} Kodak images; neural models trained on the training latents ({steps}, "
            f"torch {runs[0]['torch']}); target {runs[0]['target_to_webp']:.2f}.")


# ------------------------------------------------------------------------------------------------
# blocks: marker name -> (doc, JSON sources, renderer)


# ------------------------------------------------------------------------------------------------
# benchmarks/bench_artifacts.py and bench_audio.py


def artifacts(*runs: dict) -> str:
    """One table per run of bench_artifacts.py: the whole images, then (``trim``) without Kodak's frame."""
    out = []
    for a in runs:
        rows = [[name.replace("walloc:", ""), str(p["quality"]), f"{p['bpp']:.3f}", f"{p['psnr']:.2f}", f"{p['grid_db']:+.2f}",
                 f"{p['grid_interior_db']:+.2f}", f"{p['border_db']:+.2f}", f"{p['top_row_bias']:+.2f}"]
                for name, points in a["codecs"].items() for p in points]
        what = f"without {a['trim']} pixels on every side" if a.get("trim") else "whole"
        out.append(f"{a['files']} images, {what}; flat areas (8x8 cells varying by at most {a['flat_levels']:g} levels) are "
                   f"{100 * a['flat_fraction']:.0f}% of the pixels.\n\n"
                   + table(["codec", "quality", "bpp", "PSNR (dB)", "grid (dB)", f"grid, {a['interior']} px in (dB)", "border (dB)",
                         "top row bias (levels)"], "lrrrrrrr", rows))
    return "\n\n".join(out)


def _level_scores(v: dict) -> str:
    """Full-scale PSNR, and the SNR against the signal itself where the run measured it."""
    return f"{v['psnr']:.2f} dB" + (f" (SNR {v['snr_db']:.2f} dB)" if "snr_db" in v else "")


def audio_checks(b: dict) -> str:
    rows = [[f"sine {name.replace('Hz_', ' Hz at ').replace('dBFS', ' dBFS')}", _level_scores(v),
             f"gain code {v['gain']}"] for name, v in b["sines"].items()]
    rows.append(["digital silence, 1 s (RMS)", f"{b['silence']['rms_dbfs']} dBFS", ""])
    if "lines" in b:
        where = f" at {b['lines']['at_hz']:g} Hz" if b["lines"]["at_hz"] else ""
        rows.append(["music: worst spectral line above the original", f"{b['lines']['excess_db']:+.2f} dB{where}",
                     f"{b['lines']['count']} line bins"])
        rows.append(["music: energy above 8 kHz", f"{100 * b['above_8k']['share_of_energy']:.3f}% of the clip's",
                     f"error {b['above_8k']['error_over_energy_db']:+.2f} dB against it"])
    for name, c in b.get("clips", {}).items():
        rows.append([f"clip {name}", _level_scores(c), f"{c['ratio']:.1f}:1"])
    return (f"Model `{b['model']}` (sha256 `{b['model_sha256'][:12]}`), quality {b['quality']}; PSNR with full scale 1, "
            "SNR against the signal itself.\n\n" + table(["check", "measured", ""], "lrl", rows))


def _benchmark(name: str):
    """A benchmark script as a module, imported when its block renders (it may need torch)."""
    import importlib

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    return importlib.import_module(name)


def recognize(run: dict) -> str:
    """bench_recognize.py's own tables: pages per dpi, or speech, with the recognizer's version."""
    return _benchmark("bench_recognize").markdown(run)


def colorize(doc: dict) -> str:
    """bench_colorize.py's own table."""
    return _benchmark("bench_colorize").table(doc)


def separate(doc: dict) -> str:
    """bench_separate.py's own table."""
    return _benchmark("bench_separate").table(doc)


def blocks(bench_dir: Path) -> dict[str, tuple[Path, list[Path], Callable[..., str]]]:
    results, learning = DOCS / "results.md", DOCS / "compressed-learning.md"
    kodak, audio = DOCS / "rd_kodak.json", DOCS / "rd_audio.json"
    return {
        "models": (results, [kodak, audio], models),
        "kodak_bdrate": (results, [kodak], kodak_bdrate),
        "kodak_points": (results, [kodak], kodak_points),
        "speed": (results, [bench_dir / "bench_peers.json"], speed),
        "goals": (results, [bench_dir / "bench_peers.json"], goals),
        "startup": (results, [bench_dir / "bench_cli.json"], startup),
        "entropy": (results, [bench_dir / "bench_entropy.json"], entropy),
        "memory": (results, [bench_dir / "bench_memory.json"], memory),
        "scaling": (results, [bench_dir / "bench_scaling.json"], scaling),
        "audio_bdrate": (results, [audio], audio_bdrate),
        "audio_points": (results, [audio], audio_points),
        "entropy_bound": (results, [bench_dir / f"bench_entropy_bound{suffix}.json" for suffix in ("", "_raster_own", "_checkerboard")],
                          entropy_bound),
        "artifacts": (results, [bench_dir / f"bench_artifacts{suffix}.json" for suffix in ("", "_trim4")], artifacts),
        "audio_checks": (results, [bench_dir / "bench_audio.json"], audio_checks),
        "cdl": (learning, [bench_dir / "bench_cdl.json"], cdl),
        "cdl_cv": (learning, [bench_dir / "bench_cdl_cv.json"], cdl_cv),
        "cdl_dtd10": (learning, [bench_dir / f"bench_cdl_dtd10{part}.json" for part in ("", "_b")], cdl_tree),
        "cdl_clothing": (learning, [bench_dir / f"bench_cdl_clothing_{part}.json" for part in ("a", "b", "c")], cdl_tree),
        **{f"cdl_{name}": (learning, [bench_dir / f"bench_cdl_{name}.json"], cdl_tree) for name in ("fsdd", "fsdd_q4", "fsdd_band", "fsdd_shifts",
                                                                                                 "fsdd_shifts16_q4", "fsdd_shifts32")},
        "cdl_fsdd_speech": (learning, [bench_dir / "bench_cdl_fsdd_speech.json"], cdl_tree),
        "cdl_fsdd_shifts16": (learning, [bench_dir / "bench_cdl_fsdd_shifts16_all.json"], cdl_tree),
        "cdl_fsdd_repeats": (learning, [bench_dir / f"bench_cdl_fsdd_shifts16_{part}.json" for part in ("all", "seed1")], cdl_repeats),
        "cdl_dtd10_repeats": (learning, [bench_dir / f"bench_cdl_dtd10_{part}_seed{s}.json" for s in (0, 1, 2) for part in ("v", "full")],
                              cdl_repeats),
        "cdl_dtd10_shifts": (learning, [bench_dir / f"bench_cdl_dtd10_{part}.json" for part in ("4x_shifts2", "thumbs_shifts")], cdl_tree),
        "cdl_dtd10_shifts4": (learning, [bench_dir / "bench_cdl_dtd10_4x_shifts4.json"], cdl_tree),
        "recognize_docs": (results, [bench_dir / "bench_recognize_docs.json"], recognize),
        "recognize_speech": (results, [bench_dir / "bench_recognize_speech.json"], recognize),
        "colorize": (learning, [bench_dir / "bench_colorize.json"], colorize),
        "separate": (learning, [bench_dir / "bench_separate.json"], separate),
    }


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n)(?:.*?\n)?(<!-- END {name} -->)", re.S)
    if not pattern.search(text):
        raise KeyError(name)
    return pattern.sub(lambda m: m.group(1) + body.strip() + "\n" + m.group(2), text, count=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench-dir", type=Path, default=DOCS / "results",
                    help="folder of the bench_*.json files (default: docs/results)")
    ap.add_argument("--only", default="", help="comma-separated block names (default: all)")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a doc would change")
    args = ap.parse_args()

    spec = blocks(args.bench_dir.resolve())
    only = [b for b in args.only.split(",") if b]
    unknown = set(only) - set(spec)
    if unknown:
        ap.error(f"unknown block(s) {sorted(unknown)}; known: {', '.join(spec)}")
    docs: dict[Path, str] = {}
    for name, (doc, sources, render) in spec.items():
        if only and name not in only:
            continue
        missing = [p for p in sources if not p.exists()]
        if missing:
            print(f"{name}: kept as it is, missing {', '.join(map(str, missing))}", file=sys.stderr)
            continue
        text = docs.setdefault(doc, doc.read_text())
        try:
            docs[doc] = replace_block(text, name, render(*(json.loads(p.read_text()) for p in sources)))
        except KeyError:
            print(f"{name}: no '<!-- BEGIN {name} -->' ... '<!-- END {name} -->' markers in {doc}", file=sys.stderr)
            return 2
        print(f"{name}: {doc.relative_to(ROOT)} <- {', '.join(p.name for p in sources)}", file=sys.stderr)
    changed = [doc for doc, text in docs.items() if text != doc.read_text()]
    if args.check:
        for doc in changed:
            print(f"out of date: {doc.relative_to(ROOT)}", file=sys.stderr)
        return 1 if changed else 0
    for doc in changed:
        doc.write_text(docs[doc])
    print(f"updated: {', '.join(str(d.relative_to(ROOT)) for d in changed) or 'nothing'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
