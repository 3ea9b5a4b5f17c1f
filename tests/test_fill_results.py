"""benchmarks/fill_results.py: the generated tables say what the JSON they come from measured."""

from conftest import benchmark

fill_results = benchmark("fill_results")


def test_peer_labels_name_the_settings_the_run_used():
    """A peer's row names the options recorded in the rd JSON (WebP ran at method 6, not a fixed label's 4)."""
    rd = {"codecs": {"webp": [{"quality": 0}, {"quality": 95}], "jpeg2000": [{"quality": 240}, {"quality": 8}],
                     "walloc:rgb-16x": [{"quality": 1}, {"quality": 4}]},
          "settings": {"webp": {"options": {"method": 6}}, "jpeg2000": {"options": {"irreversible": True, "mct": 1}}}}
    assert fill_results.rd_label(rd, "webp") == "WebP (Pillow / libwebp, method 6, q0-95)"
    assert fill_results.rd_label(rd, "jpeg2000") == "JPEG 2000 (Pillow / OpenJPEG, 9/7, irreversible, mct 1, ratio 240-8)"
    assert fill_results.rd_label(rd, "walloc:rgb-16x") == "WaLLoC `rgb-16x` (q1-q4)"
