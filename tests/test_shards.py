"""Sharded suites: slices are disjoint and complete, shards + merge equal the unsharded run."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest

from visionbench.bench.shards import merge_meta, parse_shard, shard_of
from visionbench.cli import main
from visionbench.errors import VisionbenchError


def test_parse_shard():
    assert parse_shard("2/4") == (2, 4) and parse_shard(" 1 / 1 ") == (1, 1)
    for bad in ("0/2", "3/2", "2", "a/b", "", "-1/2"):
        with pytest.raises(VisionbenchError, match="--shard takes I/N"):
            parse_shard(bad)


def test_slices_are_disjoint_and_cover_the_suite():
    items = list(range(11))
    slices = [shard_of(items, (i, 3)) for i in (1, 2, 3)]
    assert sorted(x for s in slices for x in s) == items
    assert slices[0] == [0, 3, 6, 9] and slices[2] == [2, 5, 8]
    assert shard_of(items, (1, 1)) == items


def _metrics(suite_dir) -> dict:
    rows = json.loads((suite_dir / "results.json").read_text())
    return {r["run"]: (r["status"], r["metrics"]) for r in rows}


def test_two_shards_and_a_merge_equal_the_unsharded_run(tmp_path, capsys):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["bench", "--suite", "smoke", "--out", str(whole), "--no-profile"]) == 0
    for i in (1, 2):
        argv = ["bench", "--suite", "smoke", "--out", str(parts), "--no-profile"]
        assert main([*argv, "--shard", f"{i}/2"]) == 0
        assert not (parts / "smoke" / "report.html").exists()  # a shard writes no report
    assert "merge them: visionbench report" in capsys.readouterr().out
    assert main(["report", str(parts / "smoke")]) == 0
    merged = _metrics(parts / "smoke")
    assert len(merged) == 2 and all(s == "done" for s, _ in merged.values())
    assert merged == _metrics(whole / "smoke")  # same seeds, same code: the same numbers
    meta = json.loads((parts / "smoke" / "suite.json").read_text())
    assert meta["shards"] == {"of": 2, "finished": [1, 2], "missing": []}
    # the merged report and the run index hold both shards' runs, not only their files
    with contextlib.closing(sqlite3.connect(parts / "index.sqlite")) as con:
        indexed = con.execute("SELECT model, status FROM runs WHERE suite = 'smoke'").fetchall()
    assert len(indexed) == 2 and all(status == "done" for _, status in indexed)
    html = (parts / "smoke" / "report.html").read_text()
    assert all(model in html for model, _ in indexed)


def test_merge_names_a_missing_shard(tmp_path):
    suite = tmp_path / "s"
    suite.mkdir()
    done = {"shard": [1, 3], "command": "c1", "started": "a", "finished": "b", "notes": []}
    (suite / "suite-shard-1-of-3.json").write_text(json.dumps(done))
    (suite / "suite-shard-2-of-3.json").write_text(json.dumps({**done, "shard": [2, 3]}))
    meta = merge_meta(suite)
    assert meta["shards"]["missing"] == [3]
    assert any("shards 3 of 3 have not finished" in n for n in meta["notes"])
    (suite / "suite-shard-1-of-2.json").write_text(json.dumps({**done, "shard": [1, 2]}))
    with pytest.raises(VisionbenchError, match="different splits"):
        merge_meta(suite)


def test_report_on_a_folder_that_is_not_a_suite(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip()
    assert "not a suite folder" in err and len(err.splitlines()) == 1
    assert main(["bench", "--suite", "smoke", "--shard", "3/2", "--out", str(tmp_path)]) != 0
    assert "--shard takes I/N" in capsys.readouterr().err
