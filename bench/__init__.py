"""The benchmark suite: the real bot against the fake Discord and the fake provider.

``python -m bench`` (or ``./scripts/bench``) runs every measurement and prints a
table; ``bench/results.json`` gets the same numbers. See README "Benchmarks" and
:mod:`bench.__main__` for what is measured and how.
"""
