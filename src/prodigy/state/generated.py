"""Workflow files prodigy writes for `exec` and `batch` under PRODIGY_HOME/generated/. They stay as long as
their session: a resume reads the workflow from the path the session recorded."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from prodigy import paths
from prodigy.state.atomic import write_bytes


def new_name(kind: str) -> str:
    return f"{kind}-{datetime.now().strftime('%Y%m%d_%H%M%S')}-{uuid.uuid4().hex[:8]}"


def save_workflow(name: str, data: dict[str, Any]) -> Path:
    path = paths.generated_dir() / f"{name}.yml"
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    write_bytes(path, text.encode("utf-8"))
    return path


def save_items(name: str, items: list[Any]) -> Path:
    path = paths.generated_dir() / f"{name}.items.json"
    write_bytes(path, (json.dumps(items, ensure_ascii=False, indent=0) + "\n").encode("utf-8"))
    return path


def files_of(workflow_path: str | Path) -> list[Path]:
    """A generated workflow and its items file, when the path is one of ours; [] for a user's own file."""
    path = Path(workflow_path)
    folder = paths.generated_dir()
    if path.parent != folder or path.suffix != ".yml":
        return []
    return [path, folder / f"{path.stem}.items.json"]
