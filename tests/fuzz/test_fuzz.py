"""Short, bounded fuzz run of the reader (part of the normal test suite).

Every case mutates a fixture (see fuzz_harness.py) and runs load, every
weight, verify and decode_weights on it; only TfjsFormatError may come out, and
no case may run past fuzz_harness.CASE_SECONDS. TFJS_CODEC_FUZZ_EXAMPLES sets
the number of cases (default 300); the long run is documented in README.md.
"""

from __future__ import annotations

import os

from fuzz_harness import SEEDS, run_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("TFJS_CODEC_FUZZ_EXAMPLES", "300"))


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(fixture=st.sampled_from(SEEDS), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_mutated_models_raise_only_format_errors(fixture, seed):
    counts = run_case(fixture, seed)
    assert counts["loaded"] + counts["rejected"] >= 2  # both load modes ran to an outcome
