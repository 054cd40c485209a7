"""A source's typed settings: an old state.db row (settings as free JSON) still loads, and
saving it again keeps what this version does not know."""

from __future__ import annotations

import json
import sqlite3

from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, SourceSettings, StateStore


def test_an_old_row_loads_typed_and_saves_back_what_it_had(data_dir: DataDir) -> None:
    store = StateStore(data_dir)
    store.add_source(SourceConfig(name="acme", region="us", app_api_key=Secret("k")))
    old = {
        "max_rps": 0, "max_attempts": 3, "connect_timeout": 5, "webhook_id": 17,
        "webhook_url": "https://cio.example.com/webhooks/customerio/acme",
        "public_base_url": "https://cio.example.com",
        "table_frequencies": {"segments": 300, "campaigns": "soon"},
        "someday": {"a": 1},
    }
    # The row as an earlier version wrote it: the settings column is a JSON object.
    with sqlite3.connect(data_dir.state_db) as db:
        db.execute("UPDATE sources SET settings = ? WHERE name = 'acme'", [json.dumps(old)])
    db.close()
    settings = store.get_source("acme").settings
    assert settings == SourceSettings(
        max_rps=0, max_attempts=3, connect_timeout=5.0, webhook_id=17,
        webhook_url="https://cio.example.com/webhooks/customerio/acme",
        public_base_url="https://cio.example.com",
        table_frequencies={"segments": 300}, extra={"someday": {"a": 1}},
    )
    assert settings.webhook_registered
    assert settings.client_overrides() == {"max_rps": None, "max_attempts": 3,
                                           "connect_timeout": 5.0}
    store.update_source(store.get_source("acme"))
    assert store.get_source("acme").settings == settings


def test_a_value_of_the_wrong_type_is_not_set_and_kept_as_stored() -> None:
    settings = SourceSettings.from_json({"webhook_id": True, "max_rps": "fast", "read_timeout": 9})
    assert settings.webhook_id is None and settings.max_rps is None
    assert not settings.webhook_registered
    assert settings.to_json() == {"webhook_id": True, "max_rps": "fast", "read_timeout": 9.0}
    assert SourceSettings.from_json(["not", "an", "object"]) == SourceSettings()
