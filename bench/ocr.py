"""Seconds per bitmap dose screen read by OCR, and how many values come out right.

    .venv/bin/python bench/ocr.py [--count 60] [--threads 1] [--seed 3] [--harsh]

Generates dose screens (tests/ocr/screens.py: three layouts, five fonts,
realistic noise, blur and JPEG; --harsh for worse) and reads each with
rdsr.ocr.read.read_dose_screen and the real tesseract. Prints seconds per
screen (wall clock over all screens / count) and accuracy per field
(CTDIvol, DLP, total DLP) against the issue's bar of 98 %, how many values
are in review, and how many wrong values were not in review (must be 0).
The tests use seed 3 (the first 54 screens); other seeds are fresh screens.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rdsr.ocr.read import read_dose_screen  # noqa: E402
from tests.ocr.screens import HARSH, REALISTIC, Score, generate, score  # noqa: E402

BAR = 0.98  # the issue: at least 98 % of values right on realistic screens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--harsh", action="store_true")
    args = parser.parse_args()
    screens = generate(args.count, seed=args.seed, degradation=HARSH if args.harsh else REALISTIC)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        records = list(pool.map(lambda g: read_dose_screen(g.dataset), screens))
    seconds = time.perf_counter() - started
    total = Score()
    for g, record in zip(screens, records, strict=True):
        total.add(score(g.screen, record))
    print(f"{args.count} screens, {args.threads} thread(s): {seconds / args.count:.2f} s per screen")
    in_review = sum(len(e.review) for r in records for e in r.events) + sum(len(r.ct_totals.review) for r in records)
    bar = "" if args.harsh else f" (bar: {BAR:.0%}, {'met' if total.accuracy >= BAR else 'NOT MET'})"
    print(f"{total.fields} values: {total.right} right ({total.accuracy:.1%}){bar}, {total.wrong_flagged} wrong or "
          f"missing and in review, {len(total.wrong_unflagged)} wrong and not in review; {in_review} values in "
          "review in all")
    for line in total.wrong_unflagged:
        print("  NOT FLAGGED:", line)


if __name__ == "__main__":
    main()
