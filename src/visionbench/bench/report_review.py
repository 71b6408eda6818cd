"""The report's Tables 1 and 2: the review's own rows, quoted, beside what this suite measured.

The review's cells come from visionbench.review (quotations, with its citation); our notes come
from families.py and the dataset registry and are always labelled as ours.
"""

from __future__ import annotations

from ..review import CITATION, TABLE1_COLUMNS, TABLE2, TABLE2_COLUMNS

TABLE1_NOTE = (
    f"Columns headed “review” quote Table 1 of {CITATION} cell by cell, as printed there "
    "(its last row, Hybrid CNN-ViT, repeats its first two cells across the row in the source). "
    "“Our notes” are visionbench's, not the review's."
)
TABLE2_NOTE = (
    f"Columns headed “review” quote Table 2 of {CITATION}; “used in this suite” is ours: the "
    "dataset itself when a run read it, an embedded stand-in (named as such: it is not the "
    "review's dataset) when one was used in its place, or nothing."
)


def our_notes(family) -> str:
    """Our text about a family, in one cell, so it never reads as the review's."""
    return (
        f"{family.characteristics} Strengths (ours): {family.strengths} "
        f"Limitations (ours): {family.limitations} Our references: {family.citation}."
    )


def table2_rows(records: list[dict]) -> list[dict]:
    """Each row of the review's Table 2 with what the runs of this suite used for it."""
    from ..data.registry import DATASETS

    used: dict[str, set[str]] = {}
    for r in records:
        name = (r.get("data") or {}).get("name")
        if name:
            used.setdefault(name, set()).add(r["task"])
    rows = []
    for row in TABLE2:
        itself = sorted(n for n in used if n in row.registry_names)
        stand_ins = sorted(
            n
            for n in used
            if n in DATASETS and row.dataset in DATASETS.get(n).stands_in_for and n not in itself
        )
        if itself:
            kind, what = "dataset", ", ".join(f"{n} ({', '.join(sorted(used[n]))})" for n in itself)
        elif stand_ins:
            kind = "stand-in"
            what = "; ".join(
                f"embedded stand-in, not {row.dataset}: {n} ({DATASETS.get(n).description}; "
                f"used for {', '.join(sorted(used[n]))})"
                for n in stand_ins
            )
        else:
            readers = ", ".join(f"--data {n}:DIR" for n in row.registry_names)
            kind, what = "none", f"nothing in this suite (reader: {readers})"
        rows.append({"review": row, "kind": kind, "used": what})
    return rows


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table1_markdown(families: list[dict], measured) -> list[str]:
    """Section 1 of report.md; `measured(row)` renders the measured cell of a family row."""
    head = [f"review: {c}" for c in TABLE1_COLUMNS]
    L = [
        "## 1. Table 1 of the review: families, the review's cells and our measurements",
        "",
        TABLE1_NOTE,
        "",
        "| family | "
        + " | ".join(head)
        + " | measured in this suite (best per task) | our notes |",
        "|---" * (len(head) + 3) + "|",
    ]
    for row in families:
        f = row["family"]
        cells = [f"“{_cell(v)}”" for v in vars(f.review).values()]
        L.append(
            f"| {f.name} | " + " | ".join(cells) + f" | {measured(row)} | {_cell(our_notes(f))} |"
        )
    return L


def table2_markdown(rows: list[dict]) -> list[str]:
    head = [f"review: {c}" for c in TABLE2_COLUMNS]
    L = [
        "## 2. Table 2 of the review: its datasets and what this suite used for each",
        "",
        TABLE2_NOTE,
        "",
        "| " + " | ".join(head) + " | used in this suite (ours) |",
        "|---" * (len(head) + 1) + "|",
    ]
    for r in rows:
        rv = r["review"]
        cells = [rv.dataset, rv.tasks, rv.size, rv.key_features, rv.reference]
        L.append("| " + " | ".join(f"“{_cell(c)}”" for c in cells) + f" | {_cell(r['used'])} |")
    return L
