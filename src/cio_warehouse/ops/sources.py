"""The catalog a new source picks from, and a linked source looked up by name."""

from __future__ import annotations

from dataclasses import dataclass

from cio_warehouse import catalog, frequencies
from cio_warehouse.customerio import regions
from cio_warehouse.ops.errors import OpsError, Refusal
from cio_warehouse.state import SourceConfig, StateStore
from cio_warehouse.state.store import DEFAULT_FREQUENCY_SECONDS

KEYS_PAGE = "Settings > Account Settings > API Credentials > App API Keys"
REGION_CAPTIONS = {
    "us": f"Workspaces in Customer.io's US data center. The App API key is in Customer.io "
    f"under {KEYS_PAGE}.",
    "eu": f"Workspaces in Customer.io's EU data center. The App API key is in Customer.io "
    f"under {KEYS_PAGE}.",
}


@dataclass(frozen=True)
class CatalogTable:
    name: str
    description: str
    sync_method: str
    default_selected: bool


@dataclass(frozen=True)
class Frequency:
    label: str
    seconds: int


@dataclass(frozen=True)
class Region:
    id: str
    label: str
    host: str
    caption: str


@dataclass(frozen=True)
class CatalogView:
    tables: list[CatalogTable]
    frequencies: list[Frequency]
    regions: list[Region]
    default_frequency_seconds: int


def catalog_view() -> CatalogView:
    """The tables, frequencies and regions a new source may choose from."""
    return CatalogView(
        tables=[
            CatalogTable(
                name=t.name,
                description=t.description,
                sync_method=t.sync_method.value,
                default_selected=t.selected_by_default,
            )
            for t in catalog.TABLES
        ],
        frequencies=[
            Frequency(label=label, seconds=seconds)
            for label, seconds in frequencies.FREQUENCIES.items()
        ],
        regions=[
            Region(
                id=region, label=region.upper(), host=regions.host(region),
                caption=REGION_CAPTIONS.get(region, ""),
            )
            for region in regions.REGIONS
        ],
        default_frequency_seconds=DEFAULT_FREQUENCY_SECONDS,
    )


def known_source(store: StateStore, name: str) -> SourceConfig:
    """The source, or a NOT_FOUND refusal that lists the sources there are."""
    names = store.source_names()
    if name not in names:
        known = ", ".join(names) or "none yet"
        raise OpsError(f"No source named {name!r} (known: {known}).", kind=Refusal.NOT_FOUND)
    return store.get_source(name)
