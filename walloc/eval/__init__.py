"""Rate-distortion evaluation of WaLLoC and its peers, kept apart from the codec.

Nothing in the codec imports this package; ``walloc rd``, the model cards (``walloc.train.export``)
and the benchmarks do. One module per job:

    codecs   the interface every codec of a sweep has, and WaLLoC's models behind it
    peers    other codecs behind the same interface (Pillow, libjxl, libsndfile)
    sweep    files read once, coded at every quality, scored alike from real sizes
    compare  the whole ``walloc rd``: codecs by name, one sweep, Pareto fronts and BD-rates
    card     a model card's numbers: one quality of one model through the sweep
    plot     quality-against-rate curves as a PNG (needs matplotlib)
    machine  what the numbers were measured on
"""
