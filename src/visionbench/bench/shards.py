"""Sharded suites: `bench --shard I/N` runs the I-th of N deterministic slices of a suite, so SLURM
array jobs (or any scheduler) spread one suite over machines without Ray; `visionbench report`
merges the finished shards written into one shared folder.

Why this is safe on a shared folder: every job writes only its own run folder (atomically, file by
file), each shard writes only its own `suite-shard-I-of-N.json`, and the merge reads the folders
back, so nothing is written by two machines at once. The slice is round-robin over the suite's
expanded (job, seed) list, which depends only on the registries and the options, so every
machine computes the same slices.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TypeVar

from ..errors import VisionbenchError

T = TypeVar("T")
SHARD_META = "suite-shard-{i}-of-{n}.json"


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' with 1 <= I <= N, as a (I, N) pair; one clear error otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise VisionbenchError(f"--shard takes I/N with 1 <= I <= N (e.g. 2/4), got '{text}'")
    return int(m.group(1)), int(m.group(2))


def shard_of(items: list[T], shard: tuple[int, int]) -> list[T]:
    """The I-th of N round-robin slices (1-based): slices are disjoint and cover every item, and
    neighbouring jobs (often the same model) land on different machines."""
    i, n = shard
    return [x for k, x in enumerate(items) if k % n == i - 1]


def shard_meta_path(suite_dir: Path, shard: tuple[int, int]) -> Path:
    return Path(suite_dir) / SHARD_META.format(i=shard[0], n=shard[1])


def merge_meta(suite_dir: Path) -> dict:
    """suite.json from the shards' metadata: the first shard's settings, every shard's command,
    the earliest start, the latest finish; written atomically and returned."""
    suite_dir = Path(suite_dir)
    parts = []
    for path in sorted(suite_dir.glob("suite-shard-*-of-*.json")):
        try:
            parts.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise VisionbenchError(f"cannot read shard metadata {path}: {e}") from None
    if not parts:
        raise VisionbenchError(f"no shard metadata (suite-shard-I-of-N.json) in {suite_dir}")
    counts = {p.get("shard", [0, 0])[1] for p in parts}
    if len(counts) != 1:
        raise VisionbenchError(
            f"{suite_dir} holds shards of different splits: N = {sorted(counts)}"
        )
    n = counts.pop()
    done = sorted(p["shard"][0] for p in parts if p.get("finished"))
    meta = dict(parts[0])
    meta.pop("shard", None)
    meta["command"] = " ; ".join(p.get("command", "") for p in parts)
    meta["notes"] = list(dict.fromkeys(x for p in parts for x in p.get("notes", [])))
    meta["started"] = min(p.get("started", "") for p in parts)
    meta["finished"] = max((p.get("finished", "") for p in parts), default="")
    meta["wall_seconds"] = max((p.get("wall_seconds") or 0.0) for p in parts)
    meta["shards"] = {
        "of": n,
        "finished": done,
        "missing": sorted(set(range(1, n + 1)) - set(done)),
    }
    if meta["shards"]["missing"]:
        meta["notes"].append(
            f"shards {', '.join(map(str, meta['shards']['missing']))} of {n} have not finished: "
            "their jobs are missing from this report"
        )
    meta["merged"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    tmp = suite_dir / f"suite.json.{time.time_ns()}.tmp"
    tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n")
    tmp.replace(suite_dir / "suite.json")
    return meta
