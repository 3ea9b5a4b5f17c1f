"""The shipped models (installed as ``walloc.models``): weights, context tables, configs and cards.

Nothing here is code; the package exists so that the files install as package data."""
