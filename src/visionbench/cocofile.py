"""The COCO files' one validator: ground truth (instances JSON) and detection results.

The COCO reader, `datasets inspect` and `metrics coco` all call these, so a file one of them
rejects is rejected by all three: ids unique, every box four finite numbers of positive size,
every annotation and detection pointing at a known image and category, scores finite numbers.
Problems are "where: reason" strings; `check_*` raise the first as one line.
"""

from __future__ import annotations

import math

from .errors import DataError


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def box_problem(bbox, empty_ok: bool = False) -> str | None:
    """Why a COCO [x, y, w, h] box is invalid, or None. `empty_ok`: a zero width or height is
    allowed (a model's own degenerate prediction, which simply matches nothing)."""
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(map(_number, bbox)):
        return f"bbox must be 4 numbers [x, y, w, h], got {_short(bbox)}"
    if not all(math.isfinite(v) for v in bbox):
        return f"bbox {_short(bbox)} is not finite"
    if min(bbox[2], bbox[3]) < 0 or (not empty_ok and min(bbox[2], bbox[3]) == 0):
        return f"bbox {_short(bbox)} has non-positive size"
    return None


def _known(v, ids) -> bool:
    try:
        return v in ids
    except TypeError:  # an unhashable id (a list, a dict) is never a known one
        return False


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _ids(entries, what: str, out: list[tuple[str, int | None, str]]) -> set:
    seen: set = set()
    for i, e in enumerate(entries):
        iid = e.get("id") if isinstance(e, dict) else None
        if not isinstance(iid, int) or isinstance(iid, bool):
            out.append((what, i, f"{what} entry {i + 1} has no integer id ({_short(e)})"))
        elif iid in seen:
            out.append((what, i, f"duplicate {what} id {iid}"))
        else:
            seen.add(iid)
    return seen


def gt_problems(data, need_sizes: bool = False) -> list[tuple[str, int | None, str]]:
    """(section, index, reason) for every problem of a COCO ground-truth dict; `index` is the
    entry's position in its section (None for the file as a whole), so a reader can skip it.
    Image width/height must be integers >= 0 where given (0: unknown); `need_sizes`: they must be
    given and positive (a dataset reader needs them; box-mAP scoring does not)."""
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories")
    ):
        return [
            (
                "file",
                None,
                "not a COCO instances file (needs lists images, annotations, categories)",
            )
        ]
    out: list[tuple[str, int | None, str]] = []
    images = _ids(data["images"], "image", out)
    categories = _ids(data["categories"], "category", out)
    for i, im in enumerate(data["images"]):
        if not isinstance(im, dict):
            continue
        sizes = [im.get(k) for k in ("width", "height")]
        if (need_sizes or any(v is not None for v in sizes)) and not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= (1 if need_sizes else 0)
            for v in sizes
        ):
            out.append(
                (
                    "image",
                    i,
                    f"image {_short(im.get('id'))} needs integer width/height"
                    + (" > 0" if need_sizes else " >= 0"),
                )
            )
    for i, a in enumerate(data["annotations"]):
        aid = a.get("id", i + 1) if isinstance(a, dict) else i + 1
        if not isinstance(a, dict):
            out.append(("annotation", i, f"annotation {i + 1} is not an object"))
        elif not _known(a.get("image_id"), images):
            out.append(
                (
                    "annotation",
                    i,
                    f"annotation {aid} refers to unknown image id {_short(a.get('image_id'))}",
                )
            )
        elif not _known(a.get("category_id"), categories):
            out.append(
                (
                    "annotation",
                    i,
                    f"annotation {aid} has unknown category id {_short(a.get('category_id'))}",
                )
            )
        elif (why := box_problem(a.get("bbox"))) is not None:
            out.append(("annotation", i, f"annotation {aid}: {why}"))
    return out


def check_gt(data, source: str) -> None:
    """Raise one line for an invalid COCO ground truth (the first problem, and how many)."""
    problems = gt_problems(data)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DataError(f"{source}: {problems[0][2]}{more}")


def check_detections(
    dets, gt: dict, source: str, iou_type: str = "bbox", empty_ok: bool = False
) -> None:
    """Raise one line for the first invalid detection of a COCO results list."""
    if not isinstance(dets, list):
        raise DataError(f"{source}: detections must be a list of COCO results")
    images = {im["id"] for im in gt["images"]}
    categories = {c["id"] for c in gt["categories"]}
    for i, d in enumerate(dets):
        why = _detection_problem(d, images, categories, iou_type, empty_ok)
        if why:
            raise DataError(f"{source}: detection {i + 1}: {why}")


def _detection_problem(d, images, categories, iou_type: str, empty_ok: bool) -> str | None:
    if not isinstance(d, dict):
        return f"not an object ({_short(d)})"
    if not _known(d.get("image_id"), images):
        return f"image_id {_short(d.get('image_id'))} is not in the ground truth"
    if not _known(d.get("category_id"), categories):
        return f"category_id {_short(d.get('category_id'))} is not in the ground truth"
    score = d.get("score")
    if not _number(score) or not math.isfinite(score):
        return f"score must be a finite number, got {_short(score)}"
    if iou_type == "segm":
        return None if d.get("segmentation") else "has no 'segmentation'"
    return box_problem(d.get("bbox"), empty_ok)
