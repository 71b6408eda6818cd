"""Super-resolution on Set5 and Set14: PSNR/SSIM on Y with a scale-sized border cropped.

Bicubic always; each learned model from a run directory (`--run DIR`, its scale taken from the
run's degradation). The protocol of the papers: low-resolution inputs are the ones shipped with
the sets (`--lr shipped`, default) or made here from the HR image (`--lr own`) with
MATLAB-compatible bicubic (visionbench.data.imresize), the bicubic baseline is the same imresize
upscaling rounded to 8 bits, PSNR/SSIM on the BT.601 Y channel (a single-channel image on its own
values, as MATLAB's scripts do) with `scale` pixels cropped from each border. The gap of the
bicubic row to the published number is printed.

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
from visionbench.data.formats.common import SINGLE_CHANNEL_MODES, image_header
from visionbench.data.imresize import downscale, upscale
from visionbench.metrics.image import crop_border, luma, psnr, ssim

# published bicubic PSNR (Y), as tabled by Kim et al. 2016 (VDSR) and later papers
ANCHORS = {
    ("Set5", 2): 33.66,
    ("Set5", 3): 30.39,
    ("Set5", 4): 28.42,
    ("Set14", 2): 30.24,
    ("Set14", 3): 27.55,
    ("Set14", 4): 26.00,
}


def pairs(root: Path, dataset: str, scale: int):
    folder = root / dataset / f"image_SRF_{scale}"
    for hr in sorted(folder.glob(f"img_*_SRF_{scale}_HR.png")):
        yield hr.name.split("_SRF")[0], hr, hr.with_name(hr.name.replace("_HR", "_LR"))


def y_scores(out: torch.Tensor, hr: torch.Tensor, scale: int, gray: bool) -> tuple[float, float]:
    y, t = luma(out, gray), luma(hr, gray)
    y, t = crop_border(y, scale), crop_border(t, scale)
    return float(psnr(y, t)[0]), float(ssim(y, t)[0])


def evaluate(root: Path, dataset: str, scale: int, name: str, restore, lr_from: str) -> dict:
    ps, ss, t0 = [], [], time.perf_counter()
    for _, hr_path, lr_path in pairs(root, dataset, scale):
        hr = read_image(hr_path, 3)
        gray = image_header(hr_path)[1] in SINGLE_CHANNEL_MODES
        lr = read_image(lr_path, 3) if lr_from == "shipped" else downscale(hr, scale)
        hr = hr[..., : lr.shape[-2] * scale, : lr.shape[-1] * scale]
        with torch.no_grad():
            out = restore(lr)
        p, s = y_scores(out.clamp(0, 1), hr, scale, gray)
        ps.append(p)
        ss.append(s)
    return {
        "set": dataset,
        "scale": scale,
        "method": name,
        "lr": lr_from,
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
    ap.add_argument(
        "--lr",
        choices=("shipped", "own"),
        default="shipped",
        help="LR inputs: the sets' own files, or MATLAB-bicubic downscaling here",
    )
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
                evaluate(
                    args.root, dataset, scale, "bicubic", lambda x, s=scale: upscale(x, s), args.lr
                )
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
                            args.lr,
                        )
                    )
    print(
        "| set | scale | LR | method | PSNR-Y (dB) | SSIM-Y | gap to published bicubic | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        anchor = ANCHORS.get((r["set"], r["scale"]))
        gap = (
            f"{r['psnr_y'] - anchor:+.2f} dB vs {anchor}"
            if anchor and r["method"] == "bicubic"
            else ""
        )
        print(
            f"| {r['set']} | x{r['scale']} | {r['lr']} | {r['method']} | {r['psnr_y']:.2f} | "
            f"{r['ssim_y']:.4f} | {gap} | {r['seconds']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
