"""visionbench train | eval | predict."""

from __future__ import annotations

import argparse
import sys

from ..config import TrainConfig, check_options, load_yaml
from ..errors import require_file
from ..runs import RunDir
from .common import at_least, console, parse_kv, print_json, print_table


def add_train_options(p: argparse.ArgumentParser) -> None:
    """Every TrainConfig option as a flag; flags default to None so YAML values survive."""
    p.add_argument(
        "task", nargs="?", help="classification | restoration | ... (see: visionbench list tasks)"
    )
    p.add_argument(
        "-c", "--config", help="YAML file of options (e.g. a run's config.yaml); flags win"
    )
    p.add_argument("--model", help="model name (see: visionbench list models)")
    p.add_argument("--data", help="dataset: NAME (embedded), NAME:PATH, or PATH (format detected)")
    p.add_argument("--seed", type=int, help="training seed (default 0)")
    p.add_argument("--split-seed", type=int, help="seed of the train/val/test split (default 0)")
    p.add_argument("--out", help="folder for runs (default runs/)")
    p.add_argument("--run-dir", help="exact run folder (default OUT/TASK/MODEL__DATA__sSEED)")
    g = p.add_argument_group("training (default: the model's recipe for the data)")
    g.add_argument("--epochs", type=int)
    g.add_argument(
        "--pretrain-epochs",
        type=int,
        metavar="N",
        help="self-supervised pre-training epochs on the unlabelled training images before the "
        "supervised ones (models with a pre-training loss: mae_vit_nano); 0: none",
    )
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument(
        "--optimizer",
        help="adamw | adam (beta1 0.5, the GAN recipe) | sgd (Nesterov), or any optimizer timm "
        "lists (lamb, lion, adan, ...); default: the model's recipe",
    )
    g.add_argument("--schedule", choices=["cosine", "onecycle", "constant"])
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--augment", choices=["none", "shift", "flip_crop", "flip", "hflip"])
    g.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="stop training after this long, then evaluate",
    )
    g.add_argument(
        "--train-fraction",
        type=float,
        metavar="F",
        help="train on a stratified, seeded share F in (0, 1] of the training split "
        "(validation and test unchanged): data-efficiency runs",
    )
    g.add_argument(
        "--patience", type=int, help="early stopping on the validation metric after N bad epochs"
    )
    g.add_argument(
        "--resume", action="store_const", const=True, help="continue from the run's last checkpoint"
    )
    g.add_argument(
        "--force",
        action="store_const",
        const=True,
        help="replace a finished run in the same folder (without it, train refuses)",
    )
    h = p.add_argument_group("hardware")
    h.add_argument("--device", help="cpu | cuda | cuda:N | auto (default cpu)")
    h.add_argument("--precision", choices=["fp32", "bf16", "fp16"])
    h.add_argument("--channels-last", action="store_const", const=True)
    h.add_argument("--compile", action="store_const", const=True, help="torch.compile the model")
    h.add_argument("--workers", type=int, help="data-loader worker processes (folder datasets)")
    h.add_argument("--threads", type=int, help="CPU threads for torch")
    h.add_argument(
        "--devices",
        type=int,
        help="train data-parallel on N devices of this machine (launches torchrun itself)",
    )
    m = p.add_argument_group("model, task and data options")
    m.add_argument(
        "--img-size", type=int, help="input size (default: the model's need for the data)"
    )
    m.add_argument(
        "--degradation",
        help="restoration: noise:SIGMA (0-255 scale), sr:SCALE, inpaint:box|strokes or "
        "codec:LAMBDA (a learned codec's rate-distortion weight) (default noise:25)",
    )
    m.add_argument(
        "--inception-weights",
        metavar="PATH",
        help="generation: a local Inception-V3 weights file (torchvision layout); adds the "
        "standard FID and IS beside the domain-feature ones. Nothing is downloaded.",
    )
    m.add_argument(
        "--weights",
        metavar="PATH",
        help="start from a local weights file (.safetensors, or a torch file read with "
        "weights_only=True; timm checkpoints included); prints which tensors were loaded, "
        "missing, unexpected or of another shape. Nothing is downloaded.",
    )
    m.add_argument(
        "--perceptual-weights",
        metavar="PATH",
        help="restoration with esrgan: a local VGG-19 weights file (torchvision layout) for the "
        "paper's perceptual loss; without it a feature network is trained in the run",
    )
    m.add_argument(
        "--model-arg", action="append", metavar="KEY=VALUE", help="passed to the model builder"
    )
    m.add_argument("--task-option", action="append", metavar="KEY=VALUE")
    m.add_argument("--data-option", action="append", metavar="KEY=VALUE")
    p.add_argument("--quiet", action="store_const", const=True, help="no progress bar")
    p.add_argument(
        "--logger",
        action="append",
        choices=["tensorboard", "mlflow"],
        metavar="NAME",
        help="experiment tracker, repeatable: tensorboard (RUN/tensorboard) or mlflow (file "
        "store RUN/mlruns); logs config, per-epoch metrics and lr, pictures, final metrics. "
        "Needs the [tracking] extra. Default: none",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The YAML file's options (checked, naming the file), then the flags (checked, named as
    flags); the model options and weights files are checked by api.train before data loads."""
    values = load_yaml(args.config) if args.config else {}
    cfg = TrainConfig.from_dict(values, source=args.config or "config")
    names = TrainConfig.field_names()
    flags = {k: v for k, v in vars(args).items() if k in names and v is not None}
    for key, value in check_options(flags, "command line", flags=True).items():
        setattr(cfg, key, value)
    cfg.model_kwargs = {**cfg.model_kwargs, **parse_kv(args.model_arg, "--model-arg")}
    cfg.task_options = {**cfg.task_options, **parse_kv(args.task_option, "--task-option")}
    cfg.data_options = {**cfg.data_options, **parse_kv(args.data_option, "--data-option")}
    if getattr(args, "logger", None):
        cfg.loggers = list(dict.fromkeys(args.logger))
    if getattr(args, "weights", None):
        require_file(args.weights, "weights file")
    if args.degradation:
        cfg.task_options["degradation"] = args.degradation
    if args.inception_weights:
        from ..weights import read_state_dict

        read_state_dict(args.inception_weights, "Inception-V3 weights file")
        cfg.task_options["inception_weights"] = args.inception_weights
    if getattr(args, "perceptual_weights", None):
        require_file(args.perceptual_weights, "VGG-19 weights file")
        cfg.task_options["perceptual_weights"] = args.perceptual_weights
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    from .. import api
    from ..engine import distributed

    cfg = config_from_args(args)
    if (getattr(args, "devices", None) or 1) > 1 and distributed.env_world() == 1:
        argv, n = distributed.strip_devices(sys.argv[1:])
        return distributed.launch(argv, n or args.devices)
    if getattr(args, "cv", None) or getattr(args, "seeds", None):
        return cmd_protocol(args, cfg)
    result = api.train(cfg)
    if not distributed.is_main():  # rank 0 prints for all
        return 0
    rows = [{"metric": k, "value": v} for k, v in result.metrics.items()]
    print_table(
        rows, ["metric", "value"], title=f"{cfg.model} · {cfg.task} · {cfg.data} · test split"
    )
    s = result.status
    pre = s.get("pretraining") or {}
    before = (
        f"after {pre.get('epochs')} pre-training epochs on {pre.get('images')} unlabelled images "
        f"({pre.get('train_seconds')} s; masked-patch MSE {pre.get('val_masked_mse_before')} -> "
        f"{pre.get('val_masked_mse_after')}), "
        if pre
        else ""
    )
    console.print(
        f"{before}{s.get('epochs')} epochs ({s.get('stopped')}), {s.get('train_seconds')} s "
        f"training. Run directory: [bold]{result.run_dir}[/bold]"
    )
    return 0


def cmd_protocol(args: argparse.Namespace, cfg: TrainConfig) -> int:
    """--cv K or --seeds N: one run per fold/seed, then mean ± std and the 95% interval."""
    from .. import protocols
    from ..errors import VisionbenchError

    if args.cv and args.seeds:
        raise VisionbenchError("give --cv K or --seeds N, not both")

    def progress(i, result):
        name, value = next(iter(result.metrics.items()))
        console.print(f"run {i + 1}: {name} {value:.4f}  {result.run_dir}")

    if args.cv:
        summary = protocols.cross_validate(cfg, args.cv, on_run=progress)
    else:
        summary = protocols.repeated_seeds(cfg, args.seeds, on_run=progress)
    rows = [
        {
            "metric": name,
            "mean ± std": f"{m['mean']:.4f} ± {m['std']:.4f}",
            "95% CI": f"[{m['ci_low']:.4f}, {m['ci_high']:.4f}]",
            "runs": m["n"],
        }
        for name, m in summary["metrics"].items()
    ]
    print_table(rows, ["metric", "mean ± std", "95% CI", "runs"], title=summary["protocol"])
    console.print(f"Summary: [bold]{summary['summary_path']}[/bold]")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .. import api

    metrics = api.evaluate(
        args.run_dir,
        device=args.device,
        bootstrap=args.bootstrap,
        data=args.data,
        data_options=parse_kv(args.data_option, "--data-option"),
        save_predictions=args.save_predictions,
    )
    if args.save_predictions:
        console.print(f"test predictions written to [bold]{args.save_predictions}[/bold]")
    run = RunDir.open(args.run_dir)
    saved = run.read_json(run.metrics)
    if args.json:
        print_json(metrics)
        return 0
    intervals = metrics.pop("intervals", {})
    rows = [
        {
            "metric": k,
            "value": v,
            "saved": saved.get(k),
            "95% CI": f"[{intervals[k]['ci_low']:.4g}, {intervals[k]['ci_high']:.4g}]"
            if k in intervals
            else None,
        }
        for k, v in metrics.items()
    ]
    columns = ["metric", "value", "saved"] + (["95% CI"] if intervals else [])
    title = f"re-evaluated {args.run_dir} " + (f"on {args.data}" if args.data else "(test split)")
    if intervals:
        title += f"; percentile bootstrap, {args.bootstrap} resamples, seed 0"
    print_table(rows, columns, title=title)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .. import api

    out = api.predict(args.run_dir, args.input, output=args.output, top=args.top)
    if isinstance(out, list):
        if args.json:
            print_json([{"class": c, "probability": p} for c, p in out])
        else:
            print_table(
                [{"class": c, "probability": p} for c, p in out],
                ["class", "probability"],
                title=str(args.input),
            )
    else:
        from ..tasks.base import TASKS

        run = RunDir.open(args.run_dir)
        what = TASKS.get(run.read_json(run.path / "run.json").get("task", "")).prediction_kind
        console.print(f"{what} written to [bold]{out}[/bold]")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train one model on one dataset for one task",
        description="Train a model and write a run directory (config.yaml, metrics.json, "
        "history.csv, model.safetensors, status.json, samples/). Unset training options come "
        "from the model's recipe for the data.",
        epilog="Example: visionbench train classification --model lenet5 --data digits --seed 0",
    )
    add_train_options(p)
    e = p.add_argument_group("evaluation protocol (default: one run on the fixed-seed holdout)")
    e.add_argument(
        "--cv",
        type=at_least(2),
        metavar="K",
        help="stratified K-fold cross-validation, one run per fold",
    )
    e.add_argument(
        "--seeds", type=at_least(2), metavar="N", help="N runs with seeds SEED..SEED+N-1"
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval",
        help="reload a run's weights and recompute its test metrics (or score another data set)",
        epilog="Cross-dataset: visionbench eval RUN --data imagenet-r:DIR (an ImageNet run on "
        "ImageNet-R's 200 classes) · --data cifar10.1:DIR · --data sr-pairs:Set14 "
        "(any SR or denoising run on any image folder)",
    )
    p.add_argument("run_dir")
    p.add_argument(
        "--data",
        metavar="NAME:PATH",
        help="score on another data set with a compatible label space (evaluation sets are "
        "scored whole; 'saved' then shows the run's own test metrics)",
    )
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--bootstrap",
        type=at_least(0),
        default=0,
        metavar="N",
        help="add 95%% bootstrap intervals (N resamples) to metrics that average over test samples",
    )
    p.add_argument(
        "--save-predictions",
        metavar="FILE",
        help="also write the test predictions there (detection: COCO results JSON)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "predict",
        help="classify an image (top-k), or restore, segment or score it (writes an image)",
        description="Classification prints the top-k classes with probabilities; restoration "
        "treats the input as already degraded (noisy or low-resolution) and writes the result; "
        "segmentation writes a class mask; anomaly detection writes the anomaly map.",
    )
    p.add_argument("run_dir")
    p.add_argument("--input", required=True, help="image file (PNG, JPEG, ...)")
    p.add_argument(
        "--output",
        help="restoration: where to write (default INPUT_restored.png); segmentation: the class "
        "mask, an indexed PNG (default INPUT_mask.png); anomaly: the map (default "
        "INPUT_anomaly.png)",
    )
    p.add_argument("--top", type=at_least(1), default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)
