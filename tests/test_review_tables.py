"""The report and the registries say what the review says: its Table 1 and 2 cells, quoted, its
equation numbers, and what the suite used for each of its datasets."""

from __future__ import annotations

import json

from visionbench import review
from visionbench.bench.report_review import table1_markdown, table2_markdown, table2_rows
from visionbench.cli import main
from visionbench.families import FAMILIES
from visionbench.metrics.registry import METRICS


def test_every_family_carries_its_own_review_row_once():
    rows = [f.review for f in FAMILIES]
    assert len(rows) == len(review.TABLE1) == 10
    assert {r.architecture for r in rows} == {r.architecture for r in review.TABLE1}
    classic = FAMILIES.get("classic_cnn").review
    assert classic.limitations == "Limited to local context; no global relationships"
    assert FAMILIES.get("modern_autoencoder").review.representative_work == (
        "El-Shafai et al. (2023) [14]"
    )


def test_equation_numbers_are_the_reviews():
    expected = {
        "accuracy": 1,
        "precision_macro": 2,
        "recall_macro": 3,
        "f1_macro": 4,
        "box_iou": 5,
        "psnr": 6,
        "psnr_y": 6,
        "ssim": 7,
        "ssim_y": 7,
    }
    for name, eq in expected.items():
        assert METRICS.get(name).equation == eq, name
    for name in (
        "map",
        "map_50",
        "voc_map",
        "miou",
        "pixel_accuracy",
        "fid_inception",
        "is_inception",
    ):
        assert METRICS.get(name).equation is None, name


def test_list_metrics_and_families_print_the_reviews_numbers_and_cells(capsys):
    assert main(["list", "metrics", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["psnr"]["equation"] == 6 and rows["map"]["equation"] is None
    assert main(["list", "families", "--json"]) == 0
    fams = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert fams["capsule"]["review_strengths"] == "Handles transformations better than CNNs"
    assert fams["capsule"]["strengths"] != fams["capsule"]["review_strengths"]  # ours, apart


def _record(name: str, task: str) -> dict:
    return {"task": task, "data": {"name": name}}


def test_table2_says_dataset_stand_in_or_nothing():
    rows = {
        r["review"].dataset: r
        for r in table2_rows(
            [
                _record("cifar10", "classification"),
                _record("faces", "generation"),
                _record("shapes", "detection"),
            ]
        )
    }
    assert rows["CIFAR-10/100"]["kind"] == "dataset" and "cifar10" in rows["CIFAR-10/100"]["used"]
    assert rows["CelebA"]["kind"] == "stand-in"
    assert rows["CelebA"]["used"].startswith("embedded stand-in, not CelebA: faces")
    assert rows["COCO"]["kind"] == rows["Pascal VOC"]["kind"] == "stand-in"
    assert rows["LSUN"]["kind"] == rows["ImageNet"]["kind"] == "none"
    md = "\n".join(table2_markdown(list(rows.values())))
    assert "| “LSUN” | “Image generation” | “Millions of images” |" in md
    assert (
        "| “CIFAR-10/100” | “Classification” | “60k images” | “Small-scale, simple classes” | “[3]” |"
        in md
    )


def test_table1_markdown_quotes_all_six_columns_and_marks_our_notes():
    fams = [{"family": f, "best": [], "unfinished": []} for f in FAMILIES]
    md = "\n".join(table1_markdown(fams, lambda row: "no runs yet"))
    for row in review.TABLE1:
        for cell in vars(row).values():
            assert f"“{cell}”" in md
    assert "our notes" in md and review.CITATION in md
