"""How `serve` and `receive` log: plain text by default, or one JSON object a line, with the
source and table a line is about."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import IO, ParamSpec, TypeVar

ENV_LOG_FORMAT = "CIO_WAREHOUSE_LOG_FORMAT"
TEXT_LINE = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Set per record with `extra=`, or for a stretch of code with log_context().
CONTEXT_FIELDS = ("source", "table")



class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


P = ParamSpec("P")
T = TypeVar("T")

# A context variable, not a thread-local: it follows asyncio tasks as well as threads (a new
# thread starts empty: in_log_context() carries the fields into a pool's worker).
_active = [LogFormat.TEXT]  # what setup_logging() chose for this process

_context: ContextVar[Mapping[str, str]] = ContextVar(
    "cio_warehouse_log_context", default=MappingProxyType({}))


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Every record logged meanwhile, in this thread or task, carries these fields (source,
    table) in the JSON format."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


def in_log_context(function: Callable[P, T], **fields: str | None) -> Callable[P, T]:
    """`function`, run inside log_context(**fields): for work handed to another thread."""

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with log_context(**fields):
            return function(*args, **kwargs)

    return run


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the context fields
    that are known, and the traceback of an exception. The message is the one the text format
    shows, so what keeps secrets out of text (Secret's masked repr, the filters) keeps them out
    of JSON too."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context.get()
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None) or context.get(key)
            if value:
                entry[key] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_line(message: str, *, level: int = logging.INFO, logger: str = "cio_warehouse",
              **fields: object) -> str:
    """A line of the JSON format for what a command prints rather than logs (serve's banner)."""
    record = logging.makeLogRecord({"name": logger, "levelno": level,
                                    "levelname": logging.getLevelName(level), "msg": message,
                                    **fields})
    return JsonFormatter().format(record)


def print_json_error(message: str, *, logger: str = "cio_warehouse") -> bool:
    """In a process that logs JSON: `message` as an ERROR object on stderr, and True; else
    nothing, and False (the caller prints its own line)."""
    if _active[0] is not LogFormat.JSON:
        return False
    print(json_line(message, level=logging.ERROR, logger=logger), file=sys.stderr, flush=True)
    return True


class _ToRoot(logging.Handler):
    """dlt gives its logger a handler of its own and stops propagation; this handler, which dlt
    then reuses as its first, hands its records to the root's handlers, so they come out in the
    process's format (dlt's formatter, set on it, is never used)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().handle(record)


def setup_logging(log_format: LogFormat, *, level: int = logging.WARNING,
                  stream: IO[str] | None = None, text_line: str = TEXT_LINE) -> None:
    """The root logger's handler in `log_format` (text or json), like logging.basicConfig: a
    process whose root has handlers already (a test's) keeps them. In JSON, Python's warnings
    and dlt's log lines go through it too, so that every line of stderr is one object."""
    handler = logging.StreamHandler(stream or sys.stderr)
    json_lines = log_format is LogFormat.JSON
    _active[0] = log_format
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(text_line))
    logging.basicConfig(level=level, handlers=[handler])
    if json_lines:
        logging.captureWarnings(True)
        logging.getLogger("dlt").handlers = [_ToRoot()]
