"""Training: export into a model folder, exact resume, and data-parallel ranks that agree."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, run_cli
from walloc.codec import Codec
from walloc.train import ConfigError, TrainConfig, train
from walloc.train.loop import weights_digest


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        ramp = np.linspace(0, 255, 64)[None, :, None] * rng.random(3)[None, None, :]
        arr = np.clip(ramp + rng.normal(0, 20, (64, 64, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(images / f"{i}.png")
    cfg = root / "configs" / "tiny.toml"
    cfg.parent.mkdir()
    cfg.write_text(f"""
name = "tiny-trained"
folders = ["{images}"]
eval_folders = ["{images}"]
val_folders = ["{images}"]
val_every = 2
crop = 32
batch = 2
steps = 4
qualities = [2.0, 1.0]
default = true

[net]
modality = "image"
channels = 3
levels = 2
latent_dim = 6
width = 8
blocks = 1
""")
    return cfg


def test_train_exports_a_loadable_measured_model(config, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    r = run_cli("train", str(config), "--workdir", str(tmp_path / "run"), models=models)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert "validation PSNR" in r.stderr.decode()
    for suffix in (".json", ".safetensors", ".md"):
        assert (models / f"tiny-trained{suffix}").exists()
    codec = Codec.load("tiny-trained", models)
    assert codec.stream.qualities == [1, 2] and codec.config["training"]["steps"] == 4
    assert codec.config["qualities"][0]["measured"]["files"] == 3
    x = torch.rand(3, 20, 24)
    assert codec.decompress(codec.compress(x)).shape == x.shape
    stream = codec.compress(x)
    (models / "tiny-trained.context.safetensors").unlink()
    r = run_cli("train", str(config), "--refit-context", models=models)  # weights stay: old streams decode
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    again = Codec.load("tiny-trained", models)
    assert again.sha256 == codec.sha256 and torch.equal(again.read_latents(stream)[1], codec.read_latents(stream)[1])
    card = json.loads((models / "tiny-trained.json").read_text())
    measured = card["qualities"][0]["measured"]["psnr"]
    card["qualities"][0]["measured"]["psnr"] = -1.0  # stale numbers
    (models / "tiny-trained.json").write_text(json.dumps(card))
    r = run_cli("train", str(config), "--measure", models=models)  # re-measured; no new version
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    card = json.loads((models / "tiny-trained.json").read_text())
    assert card["qualities"][0]["measured"]["psnr"] == measured and card["version"] == again.config["version"]


def test_resume_continues_exactly(config, tmp_path):
    cfg = TrainConfig.load(config)
    straight = train(cfg, tmp_path / "a", progress=False)
    cut = TrainConfig.load(config)
    cut.minutes = 1e-5  # the wall-clock budget runs out after the first step, as in a preempted job
    assert train(cut, tmp_path / "b", progress=False)[2]["steps"] == 1
    resumed = train(cfg, tmp_path / "b", resume=True, progress=False)
    assert resumed[2]["steps"] == 4
    assert weights_digest(*straight[:2]) == weights_digest(*resumed[:2])


def test_two_cpu_ranks_end_with_identical_weights(config, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "walloc", "train", str(config), "--workdir", str(tmp_path), "--no-export"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    digests = [(tmp_path / f"rank{i}.sha256").read_text() for i in range(2)]
    assert digests[0] == digests[1]
    single = train(TrainConfig.load(config), tmp_path / "single", progress=False)
    assert weights_digest(*single[:2]) + "\n" != digests[0]  # the ranks really trained on more data


NET = '[net]\nmodality = "image"\nchannels = 3\nlevels = 2\nlatent_dim = 6\n'


@pytest.mark.parametrize("text, fragment", [
    ('name = \n', "not valid TOML"),
    ('name = "x"\nfolders = ["a"]\n', "no [net] table"),
    ('name = "x"\nfolders = ["a"]\nbogus = 1\n' + NET, "unknown field(s) bogus"),
    ('folders = ["a"]\n' + NET, "missing field(s) name"),
    ('name = "x"\nfolders = ["a"]\n' + NET.replace("latent_dim = 6\n", ""), "[net]: missing field(s) latent_dim"),
    ('name = "x"\nfolders = ["a"]\n' + NET + "depth = 2\n", "[net]: unknown field(s) depth"),
    ('name = "x"\nfolders = ["a"]\n' + NET.replace('"image"', '"video"'), "modality must be"),
    ('name = "x"\nfolders = "a"\n' + NET, "folders must be a list"),
    ('name = "x"\nfolders = ["a"]\n' + NET + 'extension = "zero"\n', "[net]: extension must be one of periodic, symmetric"),
    ('name = "x"\nfolders = ["a"]\nsource = "y.toml"\n' + NET, "'source' is set from the file's own name"),
    ('name = "x"\nfolders = ["a"]\npolarity = true\n' + NET, "an audio augmentation; this is an image model"),
    ('name = "x"\nfolders = ["a"]\nbalance_qualities = true\n' + NET, "balance_qualities applies to decoder_only"),
    ('name = "x"\nfolders = ["a"]\nsample_rate = 16000\n' + NET, "sample_rate apply to audio models"),
    ('name = "x"\nfolders = ["a"]\nlevel_db = [-10.0, -30.0]\n' + NET.replace('"image"', '"audio"'), "level_db must be [low, high]"),
    ('name = "x"\nfolders = ["a"]\ntarget_rms_db = 3.0\n' + NET.replace('"image"', '"audio"'), "target_rms_db must be below 0 dBFS"),
])
def test_bad_configs_are_named_in_one_line(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        TrainConfig.load(path)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_cli_train_with_a_bad_config_says_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nfolders = ["a"]\nbogus = 1\n' + NET)
    r = run_cli("train", str(path), "--workdir", str(tmp_path / "run"))
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err and err.strip().count("\n") == 0 and "bogus" in err, err


def test_grown_decoder_starts_as_the_old_one_and_is_told_the_step():
    from walloc.config import NetConfig
    from walloc.model import WallocNet

    torch.manual_seed(0)
    small = WallocNet(NetConfig("image", 3, 2, 6, width=8, blocks=1))
    for p in small.decoder[-1].parameters():  # a trained output layer, not the zero start
        torch.nn.init.normal_(p, std=0.1)
    grown = WallocNet(NetConfig("image", 3, 2, 6, width=8, blocks=3, qualities=2))
    grown.grow_from(small.state_dict())
    y = small.encode(torch.rand(1, 3, 16, 16))
    with torch.no_grad():
        assert torch.equal(grown.decode(y, 1), small.decode(y)) and torch.equal(grown.decode(y), small.decode(y))
        grown.hidden_film[1, 0].fill_(0.5)  # quality 2 only
        assert torch.equal(grown.decode(y, 1), small.decode(y)) and not torch.equal(grown.decode(y, 2), small.decode(y))
    with pytest.raises(ValueError, match="1..2"):
        grown.decode(y, 3)
    with pytest.raises(ValueError, match="cannot grow"):
        small.grow_from(grown.state_dict())


def _stage_after_version_1(config: Path, tmp_path: Path, settings: str, blocks: int) -> tuple:
    """Train tiny-trained version 1, code a signal with it, then train a stage started from it with
    ``settings`` and ``blocks`` residual blocks (told the quality): (models, version 1, the signal,
    its stream, that stream decoded, the stage's stderr)."""
    models = tmp_path / "models"
    models.mkdir()
    r = run_cli("train", str(config), "--workdir", str(tmp_path / "run1"), models=models)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    old = Codec.load("tiny-trained", models)
    x = torch.rand(3, 24, 28)
    old_stream, old_out = old.compress(x, 1), old.decompress(old.compress(x, 1))
    stage = tmp_path / "configs" / "tiny.stage.toml"
    stage.parent.mkdir()
    stage.write_text(config.read_text().replace('name = "tiny-trained"', f'name = "tiny-trained"\nstart_from = "tiny-trained@1"\n{settings}')
                     .replace("blocks = 1", f"blocks = {blocks}\nqualities = 2"))
    r = run_cli("train", str(stage), "--workdir", str(tmp_path / "run2"), models=models)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return models, old, x, old_stream, old_out, r.stderr.decode()


def _version_1_decodes_its_stream(models: Path, old_stream: bytes, old_out: torch.Tensor) -> None:
    from walloc import bitstream, zoo

    header = bitstream.peek_header(old_stream)
    release = zoo.folder_for("tiny-trained", header.model_hash, header.coder, models)
    assert release.name == "tiny-trained@1"
    assert torch.equal(Codec.load("tiny-trained", release).decompress(old_stream), old_out)


def test_decoder_stage_keeps_rates_and_old_streams(config, tmp_path):
    """Stage 2 (start_from, decoder_only): encoder, density and tables stay bit-identical, so the
    streams are the same bytes but for the model hash; the old version is archived and still decodes
    its streams exactly; the new decoder is conditioned and deeper."""
    models, old, x, old_stream, old_out, _ = _stage_after_version_1(config, tmp_path, "decoder_only = true\nlr = 1e-2", 2)
    new = Codec.load("tiny-trained", models)
    assert new.config["version"] == 2 and new.cfg.blocks == 2 and new.cfg.qualities == 2
    card = (models / "tiny-trained.md").read_text()
    assert "decoder only, on rounded latents, from tiny-trained@1" in card and "told the quality" in card
    assert "Config: `configs/tiny.stage.toml`." in card
    assert torch.equal(new.net.encoder.weight, old.net.encoder.weight)
    assert all(np.array_equal(new.stream.tables(q).cdfs, old.stream.tables(q).cdfs) for q in new.stream.qualities)
    new_stream = new.compress(x, 1)
    assert len(new_stream) == len(old_stream) and torch.equal(new.read_latents(new_stream)[1], old.read_latents(old_stream)[1])
    _version_1_decodes_its_stream(models, old_stream, old_out)
    assert not torch.equal(new.decompress(new_stream), old_out)                 # the decoder did train


def _clips(folder: Path, rng: np.random.Generator) -> Path:
    """Two short stereo 'recordings' with a DC offset (a mean that polarity must remove)."""
    import soundfile as sf

    folder.mkdir()
    for i in range(2):
        sf.write(folder / f"{i}.wav", (0.3 + 0.1 * rng.standard_normal((8192, 2))).clip(-1, 1), 44100)
    return folder


def test_audio_polarity(tmp_path):
    from walloc.train.data import AudioSegments

    rng = np.random.default_rng(0)
    folder = _clips(tmp_path / "clips", rng)
    plain = AudioSegments([str(folder)], 4096).batch(64, rng)
    assert (plain.mean(dim=(1, 2)) > 0).all()                 # every segment keeps the recording's sign
    flipped = AudioSegments([str(folder)], 4096, polarity=True).batch(64, rng)
    signs = torch.sign(flipped.mean(dim=(1, 2)))
    assert 16 < int((signs > 0).sum()) < 48                    # about half of them flipped


def test_polarity_starts_from_a_zero_mean(tmp_path):
    from walloc.train.loop import make_data, pca_init
    from walloc.model import WallocNet

    folder = _clips(tmp_path / "clips", np.random.default_rng(1))
    text = f'name = "a"\nfolders = ["{folder}"]\ncrop = 4096\nbatch = 2\npolarity = true\n'
    path = tmp_path / "configs" / "a.toml"
    path.parent.mkdir()
    path.write_text(text + '[net]\nmodality = "audio"\nchannels = 2\nlevels = 3\nlatent_dim = 4\n')
    for polarity in (True, False):
        cfg = TrainConfig.load(path)
        cfg.polarity = polarity
        net = WallocNet(cfg.net)
        pca_init(net, make_data(cfg), cfg, np.random.default_rng(0), batches=2)
        mean = net.linear_decoder.bias.abs().max().item()
        assert (mean < 1e-6) == polarity, mean                 # the clips' offset is a mean without it


def test_a_missing_training_folder_is_refused(tmp_path):
    from walloc.train.loop import make_data

    path = tmp_path / "configs" / "a.toml"
    path.parent.mkdir()
    path.write_text(f'name = "a"\nfolders = ["{tmp_path}", "{tmp_path / "nowhere"}"]\n' + NET)
    with pytest.raises(FileNotFoundError, match="training folder.*nowhere"):
        make_data(TrainConfig.load(path))


def test_measure_records_new_notes_without_evaluation_files(config, tmp_path):
    from walloc.train.export import export_model, measure_model

    text = config.read_text().replace(f'eval_folders = ["{config.parent.parent / "images"}"]\n', "")
    bare = config.parent / "bare.toml"
    bare.write_text(text.replace('default = true\n', 'default = true\nnotes = "first"\n'))
    cfg = TrainConfig.load(bare)
    assert not cfg.eval_folders
    net, density, stats = train(cfg, tmp_path / "run", progress=False)
    export_model(cfg, net, density, stats, tmp_path / "models")
    saved = json.loads((tmp_path / "models" / "tiny-trained.json").read_text())
    assert saved["notes"] == "first" and saved["config_file"].endswith("bare.toml")
    bare.write_text(text.replace('default = true\n', 'default = true\nnotes = "second"\n'))
    measure_model(TrainConfig.load(bare), tmp_path / "models")
    assert json.loads((tmp_path / "models" / "tiny-trained.json").read_text())["notes"] == "second"
    assert "second" in (tmp_path / "models" / "tiny-trained.md").read_text()


def test_laplace_bins_sum_to_one():
    from walloc.train.rate import laplace_bin_log2

    v = torch.arange(-400, 401, dtype=torch.float64)
    for scale in (0.05, 0.4, 1.0, 9.0):
        for mean in (0.0, 0.3, -2.7):
            assert abs((2 ** laplace_bin_log2(v - mean, torch.tensor(scale, dtype=torch.float64))).sum().item() - 1) < 1e-6


def test_context_rate_prices_what_neighbours_predict():
    """Latents whose magnitude comes in patches (as detail channels' does) cost less under the fitted
    stand-in than the same values shuffled in place (same marginal, no context): the factorized
    density cannot tell the two apart."""
    from walloc.train.rate import ContextRate

    rng = np.random.default_rng(0)
    patches = np.kron(rng.choice([0.5, 8.0], size=(4, 2, 8, 8)), np.ones((1, 1, 8, 8)))
    y = torch.tensor(np.round(rng.laplace(size=patches.shape) * patches), dtype=torch.float32)
    shuffled = y.flatten(2)[..., torch.randperm(64 * 64)].reshape(y.shape)
    patchy, flat = ContextRate(2).fit([y], [1.0], iters=200), ContextRate(2).fit([shuffled], [1.0], iters=200)
    assert patchy < 0.92 * flat, (patchy, flat)  # 0.89 measured; context-free data costs the same


def test_whole_model_stage_on_the_context_rate(config, tmp_path):
    """start_from without decoder_only, rate = "context", mixed: a new version whose encoder moved,
    whose card says how it was trained, while version 1 still decodes its own streams."""
    models, old, _, old_stream, old_out, err = _stage_after_version_1(config, tmp_path, 'rate = "context"\nmixed = true\nlr = 1e-2', 1)
    assert "context rate stand-in fitted" in err
    new = Codec.load("tiny-trained", models)
    assert new.config["version"] == 2 and new.config["training"]["rate"] == "context" and new.config["training"]["mixed"]
    card = (models / "tiny-trained.md").read_text()
    assert "on the context coder's rate" in card and "from tiny-trained@1." in card and "decoder only" not in card
    assert not torch.equal(new.net.encoder.weight, old.net.encoder.weight)
    _version_1_decodes_its_stream(models, old_stream, old_out)


@pytest.mark.parametrize("extra, fragment", [('rate = "bits"', "rate must be one of"),
                                             ('start_from = "x@1"\ndecoder_only = true\nmixed = true', "decoder_only keeps")])
def test_bad_rate_settings_are_refused(config, tmp_path, extra, fragment):
    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text().replace('name = "tiny-trained"', f'name = "tiny-trained"\n{extra}'))
    with pytest.raises(ConfigError, match=fragment):
        TrainConfig.load(bad)


def test_clips_at_another_rate_are_resampled_and_short_ones_joined(tmp_path):
    """8 kHz digits beside 16 kHz speech: one rate for training, and clips shorter than a segment kept."""
    import soundfile as sf

    from walloc.train.data import AudioSegments, resample

    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    assert resample(torch.from_numpy(tone)[None], 8000, 16000).shape == (1, 16000)
    up = resample(torch.from_numpy(tone)[None], 8000, 16000)[0].numpy()
    want = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)  # the same tone at twice the samples
    assert np.abs(up - want).max() < 1e-4
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(3):
        sf.write(folder / f"{i}.flac", tone[: 3000], 8000)          # 6000 samples each at 16 kHz
    with pytest.raises(FileNotFoundError):                          # each shorter than a segment: none kept
        AudioSegments([str(folder)], 8192, channels=1, sample_rate=16000)
    data = AudioSegments([str(folder)], 8192, channels=1, sample_rate=16000, join_short=True)
    assert [c.shape for c in data.clips] == [(1, 18000)]


def test_level_augmentation_draws_segment_levels_in_its_range(tmp_path):
    from walloc.train.data import AudioSegments

    folder = _clips(tmp_path / "clips", np.random.default_rng(2))
    batch = AudioSegments([str(folder)], 4096, level_db=(-40.0, -20.0)).batch(64, np.random.default_rng(0))
    levels = 10 * torch.log10(batch.pow(2).mean(dim=(1, 2)))
    assert levels.min() >= -40.01 and levels.max() <= -19.99 and levels.max() - levels.min() > 15
