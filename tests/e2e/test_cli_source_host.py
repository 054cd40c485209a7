"""The CLI cannot move a linked source to another host: `source add` on a name that exists is
refused before any request, so neither key reaches the new host (no CLI command changes a
source's region or API base URL; the JSON API and the web app need the key again for it)."""

from __future__ import annotations

import secrets

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.state import DataDir, StateStore
from tests.helpers import run_cli


def test_source_add_on_a_linked_name_reaches_no_new_host(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str
) -> None:
    linked = run_cli(data_dir, "source", "add", "acme", "--api-base-url", sandbox.url,
                     env={"CIO_APP_API_KEY": api_key})
    assert linked.code == 0, linked.output
    new_key = "sbx_" + secrets.token_hex(20)
    with SandboxServer(Workspace.preset("small", seed=8), api_key=new_key) as new_host:
        for key in (api_key, new_key):
            moved = run_cli(data_dir, "source", "add", "acme", "--region", "eu",
                            "--api-base-url", new_host.url, env={"CIO_APP_API_KEY": key})
            assert moved.code == 1 and "already exists" in moved.stderr, moved.output
        assert new_host.requests() == []
    source = StateStore(data_dir).get_source("acme")
    assert (source.region, source.api_base_url) == ("us", sandbox.url)
    assert source.app_api_key.reveal() == api_key
