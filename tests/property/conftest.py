"""Hypothesis profiles of the property tests.

``ci`` (the default, what ``make test`` runs): few examples, derandomized, so every run tries
the same inputs and a failure is reproducible; ``fuzz`` (``make fuzz``): many random examples.
Both give each example 2 s at most and keep no example database: a failure prints the example,
and in ``fuzz`` the blob that reproduces it (Hypothesis still caches what it reads of the code in
``.hypothesis/``, which git ignores by the ``.gitignore`` it writes there).

``HYPOTHESIS_PROFILE`` picks the profile; ``HYPOTHESIS_MAX_EXAMPLES`` overrides its number of
examples per test (``make fuzz FUZZ_EXAMPLES=500``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

DEADLINE_MS = 2000
"""No single input may take longer to parse (the whole test body, per example)."""

_COMMON = settings(
    deadline=DEADLINE_MS,
    database=None,
    # The tests take the credential guard (a function-scoped fixture) on purpose: they check
    # and reset it after every example (tests/property/support.py).
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

settings.register_profile("ci", _COMMON, max_examples=150, derandomize=True, print_blob=False)
settings.register_profile("fuzz", _COMMON, max_examples=20_000, derandomize=False, print_blob=True)

_profile = os.environ.get("HYPOTHESIS_PROFILE", "ci")
_examples = os.environ.get("HYPOTHESIS_MAX_EXAMPLES")
if _examples:
    settings.register_profile(
        f"{_profile}-{_examples}", settings.get_profile(_profile), max_examples=int(_examples)
    )
    _profile = f"{_profile}-{_examples}"
settings.load_profile(_profile)
