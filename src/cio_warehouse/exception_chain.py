"""Walking an exception's chain of causes down to the root cause."""

from __future__ import annotations


def chain(exc: BaseException) -> list[BaseException]:
    """`exc`, then its cause, then that one's, ..., the root cause last.

    dlt wraps errors in step errors (PipelineStepFailed) that keep the cause in `.exception`
    as well as in `__context__`; the first line of such an error names only the step.
    """
    causes: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in causes):
        causes.append(current)
        current = current.__cause__ or current.__context__ or getattr(current, "exception", None)
    return causes


def root_cause(exc: BaseException) -> BaseException:
    """The last exception of the chain: the one that says what went wrong."""
    return chain(exc)[-1]


def one_line(exc: BaseException) -> str:
    """The exception's message on one line, or its type's name when it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__
