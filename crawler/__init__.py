"""govarchive: a scheduled crawler and versioned archive for 政府信息公开 pages.

The pipeline, one module per stage: config → fetch → discover → extract → store, wired by
crawl (one pass) and schedule (unattended); serve browses the archive in Datasette.
"""

from .browser import Browser
from .config import ConfigError, Settings, Source, load_config
from .crawl import RunReport, crawl, crawl_source
from .discover import Listing, discover
from .extract import Attachment, Document, extract
from .fetch import (
    Blocked,
    Fetcher,
    FetchError,
    FetchResult,
    Gone,
    HostLimiter,
    NeedsBrowser,
    PermanentError,
    Refused,
    TooLarge,
    TransientError,
)
from .store import Archive, NotAnArchive, RunCounts
from .workers import WorkerError, WorkerPool

__all__ = [
    "Archive",
    "Attachment",
    "Blocked",
    "Browser",
    "ConfigError",
    "Document",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "Gone",
    "HostLimiter",
    "Listing",
    "NeedsBrowser",
    "NotAnArchive",
    "PermanentError",
    "Refused",
    "RunCounts",
    "RunReport",
    "Settings",
    "Source",
    "TooLarge",
    "TransientError",
    "WorkerError",
    "WorkerPool",
    "crawl",
    "crawl_source",
    "discover",
    "extract",
    "load_config",
]
