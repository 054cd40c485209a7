"""Structured inputs from Hypothesis strategies, drawn once into a corpus the mutator multiplies.

A @given test per request would spend most of 100,000 requests in Hypothesis' engine; drawing a
few thousand structured values up front (seeded, no example database) keeps the variety of its
strategies (wrong types, lone surrogates, huge integers, NaN) at the cost of one draw each.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

# Text with lone surrogates and control characters: not encodable as UTF-8 without
# "surrogatepass", which is how they reach the server as invalid bytes.
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63)
           | st.floats() | TEXT)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(TEXT, children, max_size=6),
    max_leaves=24,
)


def body_of(fields: Mapping[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """An object with some of `fields` (each right or of any JSON type), maybe an unknown key,
    and now and then no object at all."""
    maybe = {name: strategy | JSON for name, strategy in fields.items()}
    objects = st.fixed_dictionaries({}, optional=maybe)
    with_extra = st.builds(lambda o, k, v: {**o, k: v}, objects, TEXT, JSON)
    return st.one_of(objects, objects, with_extra, JSON)


def draw(strategy: st.SearchStrategy[Any], count: int, rng_seed: int) -> list[Any]:
    """`count` values of `strategy`, the same ones for the same seed."""
    found: list[Any] = []

    @seed(rng_seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found


def encode(value: Any, rng: random.Random) -> bytes:
    """JSON text as bytes: NaN and Infinity as Python writes them (not JSON), surrogates raw."""
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")
