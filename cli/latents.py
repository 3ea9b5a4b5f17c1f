"""``walloc latents``: the command-line shell of :func:`walloc.convert.latent_tree`."""

from __future__ import annotations

import os

import click

from walloc.errors import MediaError

from . import options

EPILOG = """\b
Examples:
  walloc latents photos/ photos-wlc/                    # every image, default image model
  walloc latents clothing/ clothing-16x/ --size 256     # 256x256 center crops: equal latent shapes
  walloc latents mixed/ mixed-16x/ --size 256 --channels 3   # grayscale and RGBA images as RGB too
  walloc latents clothing/ clothing-16x/ --size 256 --shard-size 1000   # tar shards of 1000 examples
  torchrun --nnodes 4 ... -m walloc latents SRC DST   # each rank converts its share of the files
  walloc latents s3://bucket/photos s3://bucket/photos-16x --shard-size 1000   # object stores (fsspec)
  walloc latents SRC DST --engine ray --address auto   # on a Ray cluster (docs/cluster.md)
"""


@click.command(epilog=EPILOG)
@click.argument("src_dir", type=click.Path(file_okay=False))
@click.argument("dst_dir", type=click.Path(file_okay=False))
@options.model("Model name (see `walloc models`). Default: the default model of the files' modality.")
@options.quality()
@click.option("--size", type=int, help="Resize images' short side to SIZE and center-crop SIZExSIZE (audio: crop or pad to SIZE samples), so all latents share one shape.")
@click.option("--channels", type=int, metavar="N", help="Bring every file to N channels first (images: 1 gray or 3 RGB, alpha dropped; "
              "audio: 1 for a mono mix, or mono repeated to N), so a tree of mixed files gives examples of one shape.")
@options.jobs(default=os.cpu_count() or 1, shown="all CPU cores", old=("--workers",))
@options.threads()
@click.option("--shard-size", type=int, default=0, show_default=True,
              help="Pack N examples per tar shard (shard-00000.tar, ... in each split folder) instead of one .wlc file each; 0: one file each.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where the work runs: worker processes here, or Ray actors (-j of them; default one per CPU of the cluster).")
@click.option("--address", metavar="ADDR", help="With --engine ray: the cluster to join ('auto', HOST:PORT, ray://HOST:10001); default: a Ray started here.")
@click.pass_context
def latents(ctx: click.Context, src_dir: str, dst_dir: str, model: str | None, quality: int | None, size: int | None,
            channels: int | None, jobs: int, threads: int, shard_size: int, engine: str, address: str | None) -> None:
    """Turn a folder tree of images or audio (labels as sub-folders) into the same tree of .wlc latents.

    \b
    SRC_DIR and DST_DIR may be URLs (s3://, gs://, file://). Files (or shards) already converted with
    the same model, quality, size and channels are skipped, so an interrupted run resumes where it
    stopped. Under torchrun (RANK, WORLD_SIZE set) each rank converts its share; on Ray (--engine ray)
    idle actors take the next files and a lost worker's files are redone. Train on the result with
    walloc.data.LatentDataset(DST_DIR/split), which reads loose .wlc files and tar shards alike.
    """
    from walloc import urls
    from walloc.tree import rank_and_world

    jobs = options.check_jobs(jobs)
    if shard_size < 0:
        raise MediaError(f"--shard-size must be 0 or more, got {shard_size}")
    if address and engine != "ray":
        raise MediaError("--address needs --engine ray")
    rank, world = rank_and_world()
    if engine == "ray" and world > 1:
        raise MediaError("--engine ray spreads the work itself; run it once, not under torchrun")
    job = dict(model=model, quality=quality, size=size, shard_size=shard_size, channels=channels)
    if engine == "local" and not (urls.is_url(src_dir) or urls.is_url(dst_dir)):
        from walloc.convert import latent_tree

        s = latent_tree(urls.location(src_dir), urls.location(dst_dir), workers=jobs, threads=options.per_process(threads, jobs),
                        rank=rank, world=world, **job)
    else:
        from walloc.ray import latent_urls

        default_jobs = ctx.get_parameter_source("jobs") is click.core.ParameterSource.DEFAULT
        s = latent_urls(src_dir, dst_dir, engine=engine, address=address, workers=None if engine == "ray" and default_jobs else jobs,
                        threads=(threads or 1) if engine == "ray" else options.per_process(threads, jobs), rank=rank, world=world, **job)
    part = f"rank {rank}/{world}: " if world > 1 else ""
    mean = f", {s.bytes / s.written:,.0f} bytes/file" if s.written else ""
    click.echo(f"{part}{s.written} written, {s.skipped} already done, {len(s.failed)} failed of {s.total} files"
               f"{mean}, {s.seconds:.1f} s -> {dst_dir}", err=True)
    if s.failed:
        raise MediaError(f"{len(s.failed)} file(s) could not be converted, first: {s.failed[0][1]}")
