"""`source add` refuses a reserved name (sources.RESERVED_NAMES) before it asks for a key."""

from __future__ import annotations

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.state import DataDir
from tests.helpers import run_cli


def test_source_add_refuses_a_reserved_name_in_one_sentence(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str
) -> None:
    # No key given at all: the name is refused first (otherwise: "No App API key given").
    refused = run_cli(data_dir, "source", "add", "public")
    assert refused.code == 1 and "Traceback" not in refused.output
    assert refused.stderr.startswith("Error: ")
    text = " ".join(refused.stderr.split())
    assert "The source name 'public' is reserved" in text and "'cio_public'" in text

    staged = run_cli(data_dir, "source", "add", "acme_staging", "--api-base-url", sandbox.url,
                     env={"CIO_APP_API_KEY": api_key})
    assert staged.code == 1
    assert "source 'acme' would stage its loads" in " ".join(staged.stderr.split())
    assert sandbox.requests() == []  # no key check was spent on it
    assert "No sources yet" in run_cli(data_dir, "source", "list").stdout
