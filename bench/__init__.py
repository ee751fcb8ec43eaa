"""Load benchmarks of the real services (`make bench`, `python -m bench E1 E3`).

See docs/benchmarks.md for how to run them and the latest table; the
registry and the load loop are in bench.core, one module per service.
"""
