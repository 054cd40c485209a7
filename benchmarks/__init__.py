"""Benchmarks: one command (`make bench`), ratios measured side by side, results in docs/."""
