"""Importing the product changes no global state; configure() does it all, once."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys

import cio_warehouse

# Run in a fresh interpreter: this test process is configured already (tests/conftest.py).
_PROBE = """
import importlib, json, logging, os, sys
import pyarrow
from dlt.load.load import Load

def state():
    return {
        "pool": pyarrow.default_memory_pool().backend_name,
        "dlt_filters": [type(f).__name__ for f in logging.getLogger("dlt").filters],
        "env": sorted(k for k in os.environ if k in ("RUNTIME__DLTHUB_TELEMETRY",
                      "DESTINATION__REPLACE_STRATEGY", "RESTORE_FROM_DESTINATION")),
        "patched": bool(getattr(Load.__init__, "_cio_prompt_delta", False)),
    }

for name in sys.argv[1:]:
    importlib.import_module(name)
before = state()
from cio_warehouse.configure import configure
configure(loading=False)
logs_only = state()
configure()
configure()
print(json.dumps({"before": before, "logs_only": logs_only, "after": state()}))
"""


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(cio_warehouse.__path__, "cio_warehouse."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return names


def test_imports_change_nothing_and_configure_changes_it_once() -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RUNTIME__DLTHUB_TELEMETRY", "DESTINATION__REPLACE_STRATEGY",
                        "RESTORE_FROM_DESTINATION")}
    out = subprocess.run([sys.executable, "-c", _PROBE, *_modules()], capture_output=True,
                         text=True, env=env, timeout=120, check=True)
    seen = json.loads(out.stdout)
    assert seen["before"]["pool"] != "system"
    assert seen["before"]["dlt_filters"] == []
    assert seen["before"]["env"] == []
    assert not seen["before"]["patched"]
    assert seen["logs_only"]["dlt_filters"] == ["ArrowHintFilter"]
    assert seen["logs_only"]["pool"] != "system" and not seen["logs_only"]["patched"]
    assert seen["after"] == {
        "pool": "system",
        "dlt_filters": ["ArrowHintFilter"],  # once, however often configure() runs
        "env": ["DESTINATION__REPLACE_STRATEGY", "RESTORE_FROM_DESTINATION",
                "RUNTIME__DLTHUB_TELEMETRY"],
        "patched": True,
    }


def test_the_receiver_process_configures_without_dlt() -> None:
    code = ("import sys\nfrom cio_warehouse.webhooks import receiver_process\n"
            "from cio_warehouse.configure import configure\nconfigure(loading=False)\n"
            "print(sorted(m for m in ('dlt', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]"
