"""Walking exception chains: causes, contexts, dlt's `.exception`, and loops."""

from __future__ import annotations

from cio_warehouse.exception_chain import chain, one_line, root_cause


class StepFailed(Exception):
    """Like dlt's PipelineStepFailed: the cause kept in `.exception`."""

    def __init__(self, exception: BaseException) -> None:
        super().__init__("Pipeline execution failed at stage load")
        self.exception = exception


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001
        return caught


def test_chain_follows_cause_context_and_exception() -> None:
    root = OSError("disk   full\n  on /data")
    try:
        try:
            raise root
        except OSError:
            raise ValueError("while writing") from None  # suppressed, yet __context__ is kept
    except ValueError as middle:
        top = StepFailed(middle)
    causes = chain(top)
    assert causes == [top, causes[1], root]
    assert isinstance(causes[1], ValueError)
    assert root_cause(top) is root
    assert one_line(root) == "disk full on /data"


def test_explicit_cause_wins_over_context() -> None:
    cause = KeyError("k")
    exc = RuntimeError("x")
    exc.__cause__ = cause
    exc.__context__ = ValueError("other")
    assert root_cause(exc) is cause


def test_a_loop_in_the_chain_ends_the_walk() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert chain(a) == [a, b]


def test_one_line_of_an_empty_message_is_the_type() -> None:
    assert one_line(TimeoutError()) == "TimeoutError"
    assert one_line(_raised(ValueError("  "))) == "ValueError"
