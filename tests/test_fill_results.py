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


def _run(seed: int, variants: dict, paired: dict) -> dict:
    return {"seeds": [seed], "protocol": "5-fold", "epochs": 45, "batch": 32, "width": 48, "crop": "28/32", "threads": 1,
            "total_s": 600.0, "variants": variants, "paired": paired}


def test_repeated_cross_validation_keeps_each_fold_seed_apart_and_averages_them():
    """Two fold seeds, each split over two processes: one row per variant with an accuracy per seed and
    their mean; the latents' model version where the run recorded it; a paired line per comparison."""
    thumbs = {"test_acc": 0.50, "dims": 12288, "train_s": 300.0}
    latents = {"test_acc": 0.56, "dims": 12288, "train_s": 400.0, "model": "rgb-16x", "quality": 4}
    pair = {"walloc_16x - pixels_down": {"mean": 0.06, "se_test_images": 0.014}}
    runs = [_run(0, {"pixels_down": thumbs, "walloc_16x": latents}, pair),
            _run(0, {"walloc_16x": {**latents, "test_acc": 0.99}}, {}),  # a later process: the first one's entry is shown
            _run(1, {"pixels_down": {**thumbs, "test_acc": 0.52}, "walloc_16x": {**latents, "model_version": 4},
                     "walloc_4x": {"skipped": "model 'rgb-4x' is not shipped"}},
                 {"walloc_16x - pixels_down": {"mean": 0.04, "se_test_images": 0.015}})]
    text = fill_results.cdl_repeats(*runs)
    assert "| `pixels_down` | 12,288 | 50.0% | 52.0% | 51.0% | 300 / 300 |  |" in text
    assert "| `walloc_16x` | 12,288 | 56.0% | 56.0% | 56.0% | 400 / 400 | rgb-16x q4, rgb-16x v4 q4 |" in text
    assert "Paired `walloc_16x - pixels_down`: fold seed 0: +6.0 (1.4); fold seed 1: +4.0 (1.5); mean +5.0 points." in text
    assert "in 3 runs" in text and "walloc_4x" not in text
