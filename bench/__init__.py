"""Benchmarks of courier against the usual way, printed as ratios (``make bench``).

Not tests: nothing here asserts a time. See ``python -m bench --help`` and the README's
"Benchmarks" section.
"""
