"""benchmarks/bench_cli.py: each child process is timed and sized on its own, failures are loud."""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_cli  # noqa: E402


def test_peak_memory_is_the_childs_own(tmp_path):
    touch = "x = bytearray(80 << 20); x[::4096] = b'a' * len(x[::4096])"  # 80 MiB, every page written
    big = bench_cli.run_once([sys.executable, "-c", touch], tmp_path)
    small = bench_cli.run_once([sys.executable, "-c", "pass"], tmp_path)
    assert big[1] > 80 > small[1] and big[0] > 0 and small[0] > 0


def test_a_failing_command_stops_the_run_with_its_message(tmp_path):
    with pytest.raises(SystemExit, match="boom"):
        bench_cli.run_once([sys.executable, "-c", "raise SystemExit('boom')"], tmp_path)


def test_medians_over_interleaved_runs_and_ratios_to_the_baseline(tmp_path):
    cmds = {bench_cli.BASELINE: [sys.executable, "-c", "pass"],
            "bigger": [sys.executable, "-c", "x = bytearray(40 << 20); x[::4096] = b'a' * len(x[::4096])"]}
    results = bench_cli.measure(cmds, 3, tmp_path)
    assert all(len(r["runs_wall_s"]) == 3 == len(r["runs_peak_rss_mib"]) for r in results.values())
    rel = bench_cli.ratios(results)
    assert set(rel) == {"bigger"} and rel["bigger"]["peak_rss_mib"] > 1.5
