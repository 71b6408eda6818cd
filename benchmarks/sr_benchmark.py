"""Super-resolution on Set5 and Set14: PSNR/SSIM on Y with a scale-sized border cropped.

Bicubic always; each learned model from a run directory (`--run DIR`, its scale taken from the
run's degradation). The low-resolution inputs are the ones shipped with the sets (MATLAB
bicubic downscaling); our bicubic upscaling is PyTorch's (a = -0.75, MATLAB uses -0.5), so the
bicubic row sits slightly off the published anchors, and the gap is printed.

    python benchmarks/sr_benchmark.py --root /work/shared/data/sr --scales 2 4 \
        --run runs/restoration/edsr__photos__s0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from visionbench.api import load_run, read_image
from visionbench.metrics.image import crop_border, psnr, rgb_to_y, ssim
from visionbench.tasks.restoration import upscale

ANCHORS = {("Set5", 4): 28.42, ("Set14", 4): 26.00}  # published bicubic x4 PSNR (Y)


def pairs(root: Path, dataset: str, scale: int):
    folder = root / dataset / f"image_SRF_{scale}"
    for hr in sorted(folder.glob(f"img_*_SRF_{scale}_HR.png")):
        yield hr.name.split("_SRF")[0], hr, hr.with_name(hr.name.replace("_HR", "_LR"))


def y_scores(out: torch.Tensor, hr: torch.Tensor, scale: int) -> tuple[float, float]:
    y, t = rgb_to_y(out), rgb_to_y(hr)
    y, t = crop_border(y, scale), crop_border(t, scale)
    return float(psnr(y, t)[0]), float(ssim(y, t)[0])


def evaluate(root: Path, dataset: str, scale: int, name: str, restore) -> dict:
    ps, ss, t0 = [], [], time.perf_counter()
    for _, hr_path, lr_path in pairs(root, dataset, scale):
        hr, lr = read_image(hr_path, 3), read_image(lr_path, 3)
        hr = hr[..., : lr.shape[-2] * scale, : lr.shape[-1] * scale]
        with torch.no_grad():
            out = restore(lr)
        p, s = y_scores(out.clamp(0, 1), hr, scale)
        ps.append(p)
        ss.append(s)
    return {
        "set": dataset,
        "scale": scale,
        "method": name,
        "images": len(ps),
        "psnr_y": sum(ps) / len(ps),
        "ssim_y": sum(ss) / len(ss),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="/work/shared/data/sr", type=Path)
    ap.add_argument("--sets", nargs="+", default=["Set5", "Set14"])
    ap.add_argument("--scales", nargs="+", type=int, default=[2, 4])
    ap.add_argument("--run", action="append", default=[], help="a restoration run (sr:SCALE)")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    models = []
    for run_dir in args.run:
        run, cfg, task, model, _ = load_run(run_dir)
        if task.kind != "sr":
            raise SystemExit(f"{run_dir} is not a super-resolution run ({task.kind})")
        models.append((f"{cfg.model} ({Path(run_dir).name})", task, model))
    rows = []
    for dataset in args.sets:
        for scale in args.scales:
            rows.append(
                evaluate(args.root, dataset, scale, "bicubic", lambda x, s=scale: upscale(x, s))
            )
            for name, task, model in models:
                if task.scale == scale:
                    rows.append(
                        evaluate(
                            args.root,
                            dataset,
                            scale,
                            name,
                            lambda x, t=task, m=model: t.restore(m, x),
                        )
                    )
    print("| set | scale | method | PSNR-Y (dB) | SSIM-Y | gap to published bicubic | seconds |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        anchor = ANCHORS.get((r["set"], r["scale"]))
        gap = (
            f"{r['psnr_y'] - anchor:+.2f} dB vs {anchor}"
            if anchor and r["method"] == "bicubic"
            else ""
        )
        print(
            f"| {r['set']} | x{r['scale']} | {r['method']} | {r['psnr_y']:.2f} | "
            f"{r['ssim_y']:.4f} | {gap} | {r['seconds']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
