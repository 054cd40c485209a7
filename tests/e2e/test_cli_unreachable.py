"""What `source add` says when the App API host cannot be reached, or rejects the key: the host
actually used, and what failed (not "Customer.io is unavailable"), within the short budget of a
call a person waits for."""

from __future__ import annotations

import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.state import DataDir
from tests.helpers import CliResult, free_port, run_cli


def _add(data_dir: DataDir, url: str, key: str = "a-key-of-some-length") -> CliResult:
    return run_cli(data_dir, "source", "add", "acme", "--api-base-url", url,
                   env={"CIO_APP_API_KEY": key})


def _one_sentence(result: CliResult) -> str:
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:{port}", "connection refused by 127.0.0.1:{port}"),
        ("http://nosuch.invalid", "could not resolve host nosuch.invalid"),  # RFC 6761: never
    ],
    ids=["refused", "no such host"],
)
def test_a_dead_host_is_named_with_what_failed(data_dir: DataDir, url: str, said: str) -> None:
    port = free_port()  # nothing listens there
    message = _one_sentence(_add(data_dir, url.format(port=port)))
    assert message.startswith(f"Error: GET /v1/workspaces failed: {said.format(port=port)}")
    assert "(2 attempts over" in message  # the interactive budget, as in the web app
    assert "check the API base URL" in message
    assert "unavailable or rate limiting" not in message
    assert run_cli(data_dir, "source", "list").stdout.startswith("No sources yet")


def test_a_rejected_key_names_the_api_base_url(data_dir: DataDir,
                                               sandbox: SandboxServer) -> None:
    host = sandbox.url.split("://", 1)[1]
    message = _one_sentence(_add(data_dir, sandbox.url, key="not-the-sandbox-key"))
    assert f"HTTP 401 on GET /v1/workspaces, region us, {host})" in message
    assert f"that {host}, the source's API base URL, is the App API this key belongs to" in message
    assert "US keys work only on api.customer.io" not in message
