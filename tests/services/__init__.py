"""Real servers the tests (and benchmarks) start themselves: nothing is expected to be running."""
