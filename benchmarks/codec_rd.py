"""The learned codec's rate-distortion curve against JPEG on the embedded test photos.

Trains `codec_factorized` at each --lambdas value (the quick suite's data and epochs unless
told otherwise), each through `visionbench train restoration --degradation codec:LAMBDA`, and
scores JPEG (Pillow, optimised Huffman tables, 4:2:0) on the same test photos at a range of
qualities. Every rate is real bytes: the codec's bitstream (size header + rANS bytes) and the
whole JPEG file. Writes OUT/codec_rd.json, OUT/codec_rd.png and prints a markdown table in
which JPEG is interpolated at each codec point's own bpp, image by image (the runs' jpeg_*).

    OMP_NUM_THREADS=1 python benchmarks/codec_rd.py --lambdas 0.003 0.01 0.03 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import visionbench as vb
from visionbench.config import TrainConfig
from visionbench.tasks import compression
from visionbench.tasks.restoration import Restoration
from visionbench.viz.plots import codec_rate_distortion_png

QUALITIES = (2, 5, 10, 15, 20, 30, 40, 50, 60, 75, 90)
DATA = {"patch_size": 64, "patches_per_image": 64}


def jpeg_curve(task: Restoration, test) -> list[tuple[float, float, float | None]]:
    """Mean bpp, PSNR and MS-SSIM over the test photos at each quality."""
    points = []
    for q in QUALITIES:
        rows = []
        for _, clean, gray in task.test_pairs(test):
            out, n = compression.jpeg(clean, q)
            s = task.codec_scores(out, clean, gray)
            rows.append((8 * n / (clean.shape[-2] * clean.shape[-1]), s["psnr"], s.get("ms_ssim")))
        cols = list(zip(*rows))
        ms = None if None in cols[2] else sum(cols[2]) / len(cols[2])
        points.append((sum(cols[0]) / len(rows), sum(cols[1]) / len(rows), ms))
    return points


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lambdas", type=float, nargs="+", default=[0.003, 0.01, 0.03])
    p.add_argument("--epochs", type=int, default=8, help="the quick suite's 8 by default")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs_codec_rd")
    args = p.parse_args()
    out = Path(args.out)
    rows = []
    for lam in args.lambdas:
        t0 = time.perf_counter()
        run = vb.train(task="restoration", model="codec_factorized", data="photos",
                       data_options=DATA, task_options={"degradation": f"codec:{lam:g}"},
                       epochs=args.epochs, threads=args.threads, quiet=True, force=True,
                       run_dir=str(out / f"codec_factorized__lambda{lam:g}"))  # fmt: skip
        m = run.metrics
        rows.append({"lambda": lam, "wall_s": time.perf_counter() - t0, **m})
        print(f"lambda {lam:g}: bpp {m['bpp']:.3f} psnr {m['psnr']:.2f} "
              f"(jpeg at {m['jpeg_bpp']:.3f} bpp: {m['jpeg_psnr']:.2f})", flush=True)  # fmt: skip
    task = Restoration(TrainConfig(task_options={"degradation": "codec:0.01"}))
    test = vb.load_dataset("photos", "restoration").test
    curve = jpeg_curve(task, test)
    curves = {
        "codec_factorized": [(r["bpp"], r["psnr"], r.get("ms_ssim")) for r in rows],
        "JPEG (Pillow)": curve,
    }
    codec_rate_distortion_png(curves, out / "codec_rd.png")
    (out / "codec_rd.json").write_text(
        json.dumps({"codec": rows, "jpeg": dict(zip(QUALITIES, curve))}, indent=2) + "\n"
    )
    print("\n| lambda | bpp (bytes) | bpp estimate | PSNR | JPEG PSNR, same bpp | MS-SSIM "
          "| JPEG MS-SSIM, same bpp | train s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['lambda']:g} | {r['bpp']:.3f} | {r['bpp_estimate']:.3f} | {r['psnr']:.2f} | "
              f"{r['jpeg_psnr']:.2f} (at {r['jpeg_bpp']:.3f}) | {r.get('ms_ssim', float('nan')):.4f} | "
              f"{r.get('jpeg_ms_ssim', float('nan')):.4f} | {r['wall_s']:.0f} |")  # fmt: skip
    print("\nJPEG alone (mean over the test photos): quality, bpp, PSNR, MS-SSIM")
    for q, (b, ps, ms) in zip(QUALITIES, curve):
        print(f"  q{q}: {b:.3f} bpp, {ps:.2f} dB, {ms if ms is None else round(ms, 4)}")


if __name__ == "__main__":
    main()
