"""Write a benchmark's JSON results with when, where and under what load they were taken."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def write_results(path: Path, fields: dict[str, Any]) -> None:
    """``fields`` as indented JSON at ``path``, after the time, the machine and its load
    average (figures from a shared machine mean little without the load they ran under)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "load_average": list(os.getloadavg()),
    }
    path.write_text(json.dumps({**header, **fields}, indent=2))
