"""`source add` reads the App API key from stdin when it is piped, as `webhook signing-key`
reads its key: `pass show cio | cio-warehouse source add acme`."""

from __future__ import annotations

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.state import DataDir
from tests.helpers import run_cli


def test_the_key_comes_from_stdin(data_dir: DataDir, sandbox: SandboxServer,
                                  api_key: str) -> None:
    added = run_cli(data_dir, "source", "add", "acme", "--api-base-url", sandbox.url,
                    "--table", "campaigns", stdin=f"{api_key}\n")
    assert added.code == 0, added.output
    assert "Linked source acme" in added.stdout
    assert api_key not in added.output
    assert run_cli(data_dir, "sync", "acme").code == 0  # the stored key is the piped one


def test_an_empty_stdin_is_no_key(data_dir: DataDir, sandbox: SandboxServer) -> None:
    for stdin in ("", "\n"):
        refused = run_cli(data_dir, "source", "add", "acme", "--api-base-url", sandbox.url,
                          stdin=stdin)
        assert refused.code == 1, refused.output
        assert refused.stderr.startswith("Error: No App API key given: pipe it on stdin, set "
                                         "$CIO_APP_API_KEY, or run in a terminal"), refused.stderr
