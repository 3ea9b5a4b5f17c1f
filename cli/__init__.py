"""The ``walloc`` command line (installed as ``walloc.cli``): a thin shell over the Python API."""
