"""Learning curves: the suite's fraction x seed jobs and their aggregation in the report."""

from __future__ import annotations

import pytest

from visionbench.bench.report_challenges import efficiency_rows


def record(fraction, seed, acc):
    return {
        "task": "classification",
        "model": "lenet5",
        "family": "classic_cnn",
        "dataset": "digits",
        "setting": f"digits-frac{fraction:g}" if fraction else "digits",
        "status": "done",
        "ranking_metric": "accuracy",
        "metrics": {"accuracy": acc},
        "data": {"sizes": {"train": int(1257 * (fraction or 1))}},
        "stopped": None,
        "epochs": 1,
        "train_fraction": fraction,
        "seed": seed,
    }


def test_seeds_average_into_one_point_with_a_t_interval():
    recs = [record(0.1, s, a) for s, a in enumerate((0.6, 0.7, 0.8))]
    recs += [record(None, 0, 0.97), record(1.0, 1, 0.98), record(1.0, 2, 0.99)]
    (row,) = efficiency_rows(recs)
    p = row["points"][0.1]
    assert p["accuracy"] == pytest.approx(0.7) and p["values"] == [0.6, 0.7, 0.8]
    # sd 0.1, t(0.975, 2) = 4.303: half width 0.2484
    assert (p["high"] - p["low"]) / 2 == pytest.approx(4.3027 * 0.1 / 3**0.5, rel=1e-3)
    full = row["points"][1.0]  # the full-data run is the seed-0 point at 100%
    assert sorted(full["values"]) == [0.97, 0.98, 0.99]
    single = efficiency_rows([record(0.1, 0, 0.5)])[0]["points"][0.1]
    assert single["low"] is None and single["accuracy"] == 0.5


def test_full_suite_has_five_shares_by_three_seeds_and_quick_two_by_one():
    from visionbench.bench.suites import (
        DATA_EFFICIENCY_IN_QUICK,
        data_efficiency_jobs,
        quick_selection,
    )

    jobs = data_efficiency_jobs()
    per_model = {(j.quick["train_fraction"], j.seed) for j in jobs if j.model == "lenet5"}
    assert len(per_model) == 5 * 3 - 1  # 100% at seed 0 is the model's own full-data run
    assert (1.0, 0) not in per_model and (0.05, 2) in per_model
    assert len({j.key for j in jobs}) == len(jobs)
    quick = [j for j in jobs if j.in_quick]
    assert len(quick) == 2 * len(DATA_EFFICIENCY_IN_QUICK)
    assert {j.model for j in quick} == set(DATA_EFFICIENCY_IN_QUICK)
    assert all(j.in_quick is False for j in jobs if j not in quick)
    kept, _ = quick_selection(jobs)
    assert {j.key for j in kept} == {j.key for j in quick}


def test_the_statement_says_what_was_measured_not_a_ranking():
    from visionbench.bench.report_challenges import efficiency_statement

    recs = [record(0.1, 0, 0.9), record(None, 0, 0.98)]
    vit = [
        {**record(0.1, 0, 0.5), "model": "vit_nano", "family": "vit"},
        {**record(None, 0, 0.95), "model": "vit_nano", "family": "vit"},
    ]
    text = efficiency_statement(efficiency_rows(recs + vit))
    assert "with 10% of the training split, lenet5 0.9, vit_nano 0.5" in text
    assert "with 100%, lenet5 0.98, vit_nano 0.95" in text
    assert "large-scale pre-training" in text
    assert efficiency_statement([]) == ""


def test_full_learning_curves_cover_every_classification_family():
    from visionbench.bench.suites import DATA_EFFICIENCY_MODELS
    from visionbench.models.registry import MODELS

    families = {s.family for s in MODELS if "classification" in s.tasks}
    covered = {MODELS.get(m).family for m in DATA_EFFICIENCY_MODELS}
    assert covered == families
