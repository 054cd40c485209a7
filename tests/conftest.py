"""Shared fixtures: a sandbox Customer.io over real HTTP, a data dir and its state store."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_warehouse.configure import configure
from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.webhooks.inbox import Inbox
from tests.services.postgres import PostgresServer, remove, start_postgres

pytest_plugins = ("tests.secrets_plugin",)  # the secrets scan at the end of every run


@pytest.fixture(scope="session", autouse=True)
def configured() -> None:
    """The process set up as the entry points set it up, for tests that import modules directly."""
    configure()


@pytest.fixture
def api_key() -> str:
    return "sbx_" + secrets.token_hex(20)


@pytest.fixture
def workspace() -> Workspace:
    """The demo's size: every table, both cursor tables span three pages of 100."""
    return Workspace.preset("small", seed=7)


@pytest.fixture
def sandbox(workspace: Workspace, api_key: str) -> Iterator[SandboxServer]:
    with SandboxServer(workspace, api_key=api_key) as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data").create()


@pytest.fixture
def store(data_dir: DataDir) -> StateStore:
    return StateStore(data_dir)


@pytest.fixture
def inbox(data_dir: DataDir) -> Iterator[Inbox]:
    """The data dir's inbox, as the receiver writes it."""
    box = Inbox(data_dir.inbox)
    yield box
    box.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session (Debian's package, installed by `make test`)."""
    server = start_postgres()
    try:
        yield server
    finally:
        remove(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh database of the session's PostgreSQL, as a URL with its password."""
    return postgres_server.create_database("t_" + secrets.token_hex(6))
