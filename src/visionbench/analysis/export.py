"""Export a run's model to ONNX, check it against eager PyTorch and time both.

The parity check runs the exported graph in onnxruntime on the same random batch as the eager
model and reports the largest absolute difference, so a silent export bug shows as a number.
"""

from __future__ import annotations

import statistics
import warnings
from pathlib import Path

import torch

from ..errors import VisionbenchError


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path, opset: int = 17) -> Path:
    """Write `model` as ONNX with a dynamic batch axis; the TorchScript exporter needs no extras."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise VisionbenchError(
            "ONNX export needs the onnx package: pip install 'visionbench[onnx]'"
        ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {
        "input_names": ["input"],
        "output_names": ["output"],
        "dynamic_axes": {"input": {0: "batch"}, "output": {0: "batch"}},
        "opset_version": opset,
    }
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            # the TorchScript exporter: needs no onnxscript and handles every model here
            torch.onnx.export(model.eval(), (example,), str(path), dynamo=False, **kwargs)
        except TypeError:  # torch < 2.5 has no `dynamo` argument
            torch.onnx.export(model.eval(), (example,), str(path), **kwargs)
        except Exception as e:
            raise VisionbenchError(f"ONNX export of {path.parent} failed: {e}") from None
    return path


def onnx_session(path: Path):
    try:
        import onnxruntime as ort
    except ImportError:
        raise VisionbenchError(
            "the parity check needs onnxruntime: pip install 'visionbench[onnx]'"
        ) from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _median_ms(fn, repeats: int) -> float:
    from .profile import _timed

    times = _timed(fn, torch.device("cpu"), warmup=3, repeats=repeats, max_seconds=3.0)
    return 1e3 * statistics.median(times)


def export_run(run_dir: str | Path, output: str | Path | None = None, repeats: int = 30) -> dict:
    """Export a finished run to ONNX; returns the file, parity (max |diff|) and both latencies."""
    from ..tasks.workflow import load_run

    run, cfg, task, model, info = load_run(run_dir)
    if task.export_refusal:
        raise VisionbenchError(f"{run.path}: not exported to ONNX: {task.export_refusal}")
    model = model.cpu().eval()
    torch.manual_seed(0)
    one = task.example_input(info, 1)
    path = export_onnx(model, one, Path(output) if output else run.path / "model.onnx")
    session = onnx_session(path)
    batch = task.example_input(info, 4)
    with torch.no_grad():
        eager = model(batch).float().numpy()
    ort_out = session.run(None, {"input": batch.numpy()})[0]
    if ort_out.shape != eager.shape:
        raise VisionbenchError(
            f"ONNX output shape {ort_out.shape} differs from eager {eager.shape} for {run.path}"
        )
    diff = float(abs(ort_out - eager).max())
    x1 = one.numpy()
    with torch.no_grad():
        eager_ms = _median_ms(lambda: model(one), repeats)
    ort_ms = _median_ms(lambda: session.run(None, {"input": x1}), repeats)
    result = {
        "onnx": str(path),
        "onnx_mb": path.stat().st_size / 2**20,
        "max_abs_diff": diff,
        "parity_ok": diff < 1e-3,
        "eager_latency_ms": eager_ms,
        "onnxruntime_latency_ms": ort_ms,
        "batch": 1,
        "threads": torch.get_num_threads(),
        "input_shape": list(one.shape),
    }
    run.write_json(run.path / "export.json", result)
    return result
