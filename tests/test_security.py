"""Issue 15, as an attacker and a careless user: no script in a report, no write outside --out,
no silently wrong run, one writer per run folder, one validator per format, weights checked,
interrupted runs say so. Each test here failed on the code before the fix."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import visionbench as vb
from visionbench.bench.report import write_report
from visionbench.bench.runner import run_suite
from visionbench.bench.store import RunStore
from visionbench.bench.suites import load_suite_file
from visionbench.cli import main
from visionbench.errors import VisionbenchError

HOSTILE = '<script>alert("x")</script>'
LENET = dict(task="classification", model="lenet5", data="digits", epochs=1, quiet=True)


def cli(*args: str) -> int:
    return main(list(args))


@pytest.fixture(scope="module")
def done_run(tmp_path_factory) -> Path:
    """One finished lenet5 run (1 epoch) shared by the read-only tests below."""
    out = tmp_path_factory.mktemp("done")
    return vb.train(run_dir=str(out / "r"), threads=1, **LENET).run_dir


def _live_pid() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _write_lock(folder: Path, pid: int) -> None:
    import socket

    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))


# stored script in report.html -------------------------------------------------------------------
def test_report_html_escapes_a_hostile_suite_description_and_class_name(tmp_path):
    suite = tmp_path / "s"
    run = suite / "classification" / "lenet5__digits__s0"
    run.mkdir(parents=True)
    (suite / "suite.json").write_text(json.dumps({"suite": "s", "description": HOSTILE}))
    (run / "config.yaml").write_text("task: classification\nmodel: lenet5\n")
    data = {"name": HOSTILE, "num_classes": 2, "in_chans": 1, "img_size": 8, "split": "x"}
    meta = {"task": "classification", "model": "lenet5", "family": "classic_cnn",
            "dataset": HOSTILE, "data": data, "ranking_metric": "accuracy", "seed": 0}  # fmt: skip
    (run / "run.json").write_text(json.dumps(meta))
    (run / "metrics.json").write_text(json.dumps({"accuracy": 0.5}))
    (run / "status.json").write_text(json.dumps({"status": "done"}))
    html = write_report(suite).read_text()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html


# writes outside --out ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../x", "/tmp/elsewhere", "a/b", ".hidden", "..", ""])
def test_suite_name_that_leaves_out_is_refused(tmp_path, name):
    path = tmp_path / "evil.yaml"
    path.write_text(yaml.safe_dump({"name": name or None, "jobs": [dict(LENET)]}))
    if not name:  # no name: the file's stem, which is safe
        assert load_suite_file(path).name == "evil"
        return
    with pytest.raises(VisionbenchError, match="not a safe name"):
        load_suite_file(path)


def test_suite_job_task_or_model_that_climbs_out_is_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text(yaml.safe_dump({"name": "ok", "jobs": [LENET | {"task": "../../../x"}]}))
    with pytest.raises(VisionbenchError, match="task '../../../x' is not a safe name"):
        load_suite_file(path)
    path.write_text(yaml.safe_dump({"name": "ok", "jobs": [LENET | {"model": "/abs"}]}))
    with pytest.raises(VisionbenchError, match="model '/abs' is not a safe name"):
        load_suite_file(path)


def test_path_under_refuses_a_symlink_out(tmp_path):
    from visionbench.runs import path_under

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path)
    assert path_under(tmp_path / "out", "suite") == (tmp_path / "out" / "suite").resolve()
    with pytest.raises(VisionbenchError, match="outside"):
        path_under(tmp_path / "out", "link")


# silently wrong runs ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flag, value, said",
    [
        ("--epochs", "-1", "--epochs must be >= 1, got -1"),
        ("--batch-size", "0", "--batch-size must be >= 1, got 0"),
        ("--time-budget", "-3", "--time-budget must be > 0, got -3.0"),
        ("--lr", "nan", "--lr must be a number"),
        ("--train-fraction", "1.5", "--train-fraction must be > 0 and <= 1"),
    ],
)
def test_out_of_range_flags_are_refused_before_training(tmp_path, capsys, flag, value, said):
    run = tmp_path / "r"
    rc = cli("train", "classification", "--model", "lenet5", "--data", "digits", "--run-dir",
             str(run), "--quiet", flag, value)  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and said in err and len(err.strip().splitlines()) == 1
    assert not run.exists()


@pytest.mark.parametrize(
    "text, said",
    [
        ("epochs: -5", "'epochs' must be >= 1, got -5"),
        ("lr: [1, 2]", "'lr' must be a number, got [1, 2]"),
        ("batch_size: '8'", "'batch_size' must be an integer, got '8'"),
        ("model_kwargs: [1]", "'model_kwargs' must be a mapping"),
        ("precision: fp8", "'precision' must be one of fp32, bf16, fp16"),
        ("resume: 3", "'resume' must be true or false"),
    ],
)
def test_wrong_config_values_name_the_key_and_file(tmp_path, capsys, text, said):
    path = tmp_path / "c.yaml"
    path.write_text("task: classification\nmodel: lenet5\ndata: digits\n" + text + "\n")
    assert cli("train", "-c", str(path), "--run-dir", str(tmp_path / "r")) == 2
    err = capsys.readouterr().err.strip()
    assert said in err and str(path) in err and len(err.splitlines()) == 1
    assert "Traceback" not in err and not (tmp_path / "r").exists()


def test_python_api_and_suite_jobs_are_validated_the_same_way(tmp_path):
    with pytest.raises(VisionbenchError, match="'epochs' must be >= 1, got 0"):
        vb.train(run_dir=str(tmp_path / "r"), **(LENET | {"epochs": 0}))
    with pytest.raises(VisionbenchError, match="'batch_size' must be >= 1"):
        vb.train(vb.TrainConfig(**(LENET | {"batch_size": -2}), run_dir=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "s", "jobs": [LENET | {"time_budget": -1}]}))
    with pytest.raises(VisionbenchError, match="'time_budget' must be > 0"):
        run_suite(str(suite), tmp_path / "out", profile=False)


@pytest.mark.parametrize("model", ["lenet5", "dae", "resnet_tiny"])
def test_unknown_model_arg_is_refused(tmp_path, capsys, model):
    task = "restoration" if model == "dae" else "classification"
    data = "photos" if model == "dae" else "digits"
    rc = cli("train", task, "--model", model, "--data", data, "--epochs", "1", "--quiet",
             "--run-dir", str(tmp_path / "r"), "--model-arg", "bogus=1")  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "bogus" in err and model in err, err


def test_known_model_arg_still_works(tmp_path):
    from visionbench.models.registry import MODELS, check_model_kwargs

    check_model_kwargs(MODELS.get("dae"), {"width": 8})
    check_model_kwargs(MODELS.get("speedrun"), {"tta": True})
    with pytest.raises(VisionbenchError, match="takes no option 'img_size'"):
        check_model_kwargs(MODELS.get("resnet_tiny"), {"img_size": 3})


@pytest.mark.parametrize(
    "args, said",
    [
        (["predict", "r", "--input", "x.png", "--top", "0"], "--top: must be an integer >= 1"),
        (["eval", "r", "--bootstrap", "-5"], "--bootstrap: must be an integer >= 0"),
        (["bench", "--cap", "-1"], "--cap: must be a number > 0"),
        (["bench", "--seeds", "0"], "--seeds: must be an integer >= 1"),
        (["train", "classification", "--seeds", "1"], "--seeds: must be an integer >= 2"),
    ],
)
def test_other_commands_check_their_numbers_where_they_enter(capsys, args, said):
    with pytest.raises(SystemExit) as e:
        cli(*args)
    assert e.value.code == 2 and said in capsys.readouterr().err


# one writer per folder --------------------------------------------------------------------------
def test_second_train_on_a_locked_run_folder_is_refused_and_touches_nothing(tmp_path):
    run = tmp_path / "r"
    owner = _live_pid()
    try:
        _write_lock(run, owner.pid)
        (run / "checkpoint").mkdir()
        (run / "checkpoint" / "state.pt").write_bytes(b"theirs")
        with pytest.raises(VisionbenchError, match=f"in use by process {owner.pid}"):
            vb.train(run_dir=str(run), **LENET)
        assert (run / "checkpoint" / "state.pt").read_bytes() == b"theirs"
        assert not (run / "status.json").exists()
    finally:
        owner.kill()
        owner.wait()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    run = tmp_path / "r"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _write_lock(run, gone.pid)
    r = vb.train(run_dir=str(run), threads=1, **LENET)
    assert r.status["status"] == "done" and not (run / ".lock").exists()


def test_two_benches_on_one_suite_folder_do_not_run_at_once(tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "s", "jobs": [dict(LENET)]}))
    owner = _live_pid()
    try:
        _write_lock(tmp_path / "out" / "s", owner.pid)
        with pytest.raises(VisionbenchError, match="suite folder .* in use by process"):
            run_suite(str(suite), tmp_path / "out", profile=False)
        assert not (tmp_path / "out" / "s" / "classification").exists()
    finally:
        owner.kill()
        owner.wait()


def test_shards_of_one_suite_lock_apart(tmp_path):
    from visionbench.runs import FolderLock

    with FolderLock(tmp_path, "suite", ".lock-shard1of2"):
        with FolderLock(tmp_path, "suite", ".lock-shard2of2"):  # another shard: allowed
            pass
        owner = json.loads((tmp_path / ".lock-shard1of2").read_text())
        assert owner["pid"] == os.getpid()
    assert not list(tmp_path.glob(".lock*"))


def test_train_on_a_finished_run_refuses_without_resume_or_force(done_run, tmp_path, capsys):
    before = (done_run / "metrics.json").read_bytes()
    rc = cli("train", "classification", "--model", "lenet5", "--data", "digits", "--epochs", "1",
             "--run-dir", str(done_run), "--quiet")  # fmt: skip
    assert rc == 2 and "is finished; pass --resume" in capsys.readouterr().err
    assert (done_run / "metrics.json").read_bytes() == before
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(done_run, copy)
    r = vb.train(run_dir=str(copy), force=True, threads=1, **LENET)
    assert r.status["status"] == "done"


# the runs index ---------------------------------------------------------------------------------
def _two_runs(root: Path, done_run: Path) -> None:
    import shutil

    for name in ("a", "b"):
        shutil.copytree(done_run, root / "classification" / name)


def test_corrupt_index_is_rebuilt(tmp_path, done_run, capsys):
    _two_runs(tmp_path, done_run)
    (tmp_path / "index.sqlite").write_bytes(b"this is not a database" * 100)
    assert cli("runs", "ls", "--root", str(tmp_path), "--json") == 0
    out = capsys.readouterr()
    assert len(json.loads(out.out)) == 2 and "rebuilt" in out.err
    with sqlite3.connect(tmp_path / "index.sqlite") as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 2


def test_one_garbage_status_json_is_reported_and_skipped(tmp_path, done_run, capsys):
    _two_runs(tmp_path, done_run)
    (tmp_path / "classification" / "b" / "status.json").write_text("{garbage")
    assert cli("runs", "ls", "--root", str(tmp_path), "--json") == 0
    out = capsys.readouterr()
    assert [r["path"] for r in json.loads(out.out)] == ["classification/a"]
    assert "skipped" in out.err and "classification/b" in out.err and "status.json" in out.err


def test_runs_ls_on_an_unwritable_folder_names_the_index(tmp_path, done_run, capsys, monkeypatch):
    _two_runs(tmp_path, done_run)
    real = sqlite3.connect

    def readonly(path, *a, **k):
        if str(path).endswith("index.sqlite"):
            raise sqlite3.OperationalError("unable to open database file")
        return real(path, *a, **k)

    monkeypatch.setattr(sqlite3, "connect", readonly)
    assert cli("runs", "ls", "--root", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "cannot write the runs index" in err and str(tmp_path / "index.sqlite") in err


def test_runs_index_and_report_read_the_stored_setting(tmp_path, done_run):
    """The setting comes from run.json, not from splitting the folder name on '__'."""
    from visionbench.bench.report import collect

    run = tmp_path / "s" / "classification" / "odd__name__with__parts"
    import shutil

    shutil.copytree(done_run, run)
    meta = json.loads((run / "run.json").read_text())
    assert meta["setting"] == "digits"
    (run / "run.json").write_text(json.dumps(meta | {"setting": "digits-noise25"}))
    (rec,) = collect(tmp_path / "s")
    assert (rec["model"], rec["setting"], rec["dataset"]) == ("lenet5", "digits-noise25", "digits")
    store = RunStore(tmp_path)
    store.refresh()
    (row,) = store.query()
    assert (row["model"], row["setting"]) == ("lenet5", "digits-noise25")


# one validator per format -----------------------------------------------------------------------
def _coco(tmp_path: Path, images=None, boxes=None) -> Path:
    from PIL import Image

    (tmp_path / "images").mkdir(exist_ok=True)
    for i in (1, 2):
        Image.new("RGB", (20, 20)).save(tmp_path / "images" / f"{i}.png")
    gt = {
        "images": images
        or [{"id": i, "file_name": f"{i}.png", "width": 20, "height": 20} for i in (1, 2)],
        "annotations": [
            {"id": k + 1, "image_id": 1, "category_id": 1, "bbox": b, "area": 1, "iscrowd": 0}
            for k, b in enumerate(boxes or [[2, 2, 8, 8]])
        ],
        "categories": [{"id": 1, "name": "thing"}],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    return path


def _dets(tmp_path: Path, dets: list) -> Path:
    path = tmp_path / "dt.json"
    path.write_text(json.dumps(dets))
    return path


OK_DET = {"image_id": 1, "category_id": 1, "bbox": [2, 2, 8, 8], "score": 0.9}


@pytest.mark.parametrize(
    "boxes, images, said",
    [
        ([[5, 5, -3, 4]], None, "non-positive size"),
        ([[float("nan"), 5, 3, 4]], None, "not finite"),
        (None, [{"id": 1, "file_name": "1.png", "width": 20, "height": 20}] * 2, "duplicate image id 1"),
    ],
)  # fmt: skip
def test_metrics_coco_and_datasets_inspect_refuse_the_same_ground_truth(
    tmp_path, capsys, boxes, images, said
):
    gt = _coco(tmp_path, images, boxes)
    assert cli("metrics", "coco", "--gt", str(gt), "--dt", str(_dets(tmp_path, [OK_DET]))) == 2
    assert said in capsys.readouterr().err
    cli("datasets", "inspect", str(gt), "--json")
    assert said in capsys.readouterr().out
    with pytest.raises(VisionbenchError, match=said):
        vb.load_dataset(f"coco:{gt}", "detection")


@pytest.mark.parametrize(
    "change, said",
    [
        ({"bbox": [1, 1, -2, 3]}, "non-positive size"),
        ({"bbox": [1, 1, float("inf"), 3]}, "not finite"),
        ({"bbox": [1, 1, 2]}, "4 numbers"),
        ({"score": "high"}, "score"),
        ({"score": float("nan")}, "score"),
        ({"image_id": 99}, "image_id 99"),
        ({"category_id": 7}, "category_id 7"),
    ],
)
def test_detections_are_validated(tmp_path, capsys, change, said):
    gt = _coco(tmp_path)
    dt = _dets(tmp_path, [OK_DET, OK_DET | change])
    assert cli("metrics", "coco", "--gt", str(gt), "--dt", str(dt)) == 2
    err = capsys.readouterr().err
    assert said in err and "detection 2" in err and len(err.strip().splitlines()) == 1


def test_valid_coco_files_still_score(tmp_path, capsys):
    gt = _coco(tmp_path)
    assert (
        cli("metrics", "coco", "--gt", str(gt), "--dt", str(_dets(tmp_path, [OK_DET])), "--json")
        == 0
    )
    assert json.loads(capsys.readouterr().out)["map_50"] == pytest.approx(1.0)


# weights ----------------------------------------------------------------------------------------
def test_run_json_pins_the_weights_and_a_changed_file_is_refused(done_run, tmp_path, capsys):
    import shutil

    from safetensors.torch import load_file, save_file

    run = tmp_path / "r"
    shutil.copytree(done_run, run)
    state = load_file(str(run / "model.safetensors"))
    save_file({k: torch.full_like(v, float("nan")) for k, v in state.items()}, str(run / "model.safetensors"))  # fmt: skip
    assert cli("eval", str(run)) == 2  # NaN weights never evaluate to numbers
    assert "changed since the run wrote them" in capsys.readouterr().err
    # without a recorded digest (older runs), NaN weights are still refused
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(
        json.dumps({k: v for k, v in meta.items() if k != "weights_sha256"})
    )
    with pytest.raises(VisionbenchError, match="NaN or infinite"):
        vb.load_run(run)
    from visionbench.weights import sha256_of

    assert json.loads((done_run / "run.json").read_text())["weights_sha256"] == sha256_of(
        done_run / "model.safetensors"
    )


def test_weights_whose_shapes_do_not_fit_name_the_file(tmp_path):
    from safetensors.torch import save_file

    from visionbench.engine.checkpoint import load_weights
    from visionbench.models.registry import create_model

    model = create_model("lenet5", num_classes=10, in_chans=1, img_size=8)
    state = {k: torch.zeros(3, *v.shape) for k, v in model.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    with pytest.raises(VisionbenchError, match=r"w.safetensors do not fit the model: .*size"):
        load_weights(model, tmp_path / "w.safetensors")


class Payload:
    def __reduce__(self):
        return (os.getcwd, ())


def _pickle_file(path: Path) -> Path:
    torch.save({"weights": torch.zeros(2), "trap": Payload()}, path)
    return path


def test_pickled_inception_weights_are_refused_up_front_with_our_message(tmp_path, capsys):
    bad = _pickle_file(tmp_path / "inception.pth")
    rc = cli("train", "generation", "--model", "dcgan", "--data", "digits", "--quiet",
             "--run-dir", str(tmp_path / "r"), "--inception-weights", str(bad))  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "holds Python objects" in err and str(bad) in err
    assert "weights_only" not in err and not (tmp_path / "r").exists()
    with pytest.raises(VisionbenchError, match="holds Python objects"):
        vb.train(task="generation", model="dcgan", data="digits", run_dir=str(tmp_path / "r"),
                 task_options={"inception_weights": str(bad)})  # fmt: skip
    assert not (tmp_path / "r").exists()


def test_pickled_checkpoint_state_is_refused_before_resuming(tmp_path, done_run, capsys):
    import shutil

    run = tmp_path / "r"
    shutil.copytree(done_run, run)
    (run / "checkpoint").mkdir(exist_ok=True)
    _pickle_file(run / "checkpoint" / "state.pt")
    rc = cli("train", "-c", str(run / "config.yaml"), "--run-dir", str(run), "--resume")
    err = capsys.readouterr().err
    assert rc == 2 and "holds Python objects" in err and "state.pt" in err
    assert "weights_only" not in err


def test_predict_on_a_huge_image_names_the_file(done_run, tmp_path, monkeypatch):
    from PIL import Image

    path = tmp_path / "huge.png"
    Image.new("L", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64x64 is over twice the limit
    with pytest.raises(VisionbenchError, match=rf"cannot read image {path}: .*decompression bomb"):
        vb.predict(done_run, path)


# interrupted runs -------------------------------------------------------------------------------
def test_ctrl_c_leaves_status_interrupted_and_no_lock(tmp_path, monkeypatch):
    from visionbench.engine.trainer import Trainer

    def stop(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "fit", stop)
    run = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        vb.train(run_dir=str(run), **LENET)
    assert json.loads((run / "status.json").read_text())["status"] == "interrupted"
    assert not (run / ".lock").exists()


def test_sigterm_leaves_status_interrupted_and_exits_143(tmp_path):
    run = tmp_path / "r"
    cmd = [sys.executable, "-m", "visionbench", "train", "classification", "--model", "lenet5",
           "--data", "digits", "--epochs", "200", "--quiet", "--threads", "1", "--run-dir", str(run)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "checkpoint" / "state.pt").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, "the run never checkpointed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "interrupted" and not (run / ".lock").exists()


# no network at run time -------------------------------------------------------------------------
def test_smoke_suite_runs_with_sockets_blocked(tmp_path, monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network access blocked by the test")

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    report = run_suite("smoke", tmp_path / "runs", quick=True)
    results = json.loads((report.parent / "results.json").read_text())
    assert [r["status"] for r in results] == ["done", "done"], [r.get("error") for r in results]
