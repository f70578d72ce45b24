"""Sum py-spy's collapsed stacks (`py-spy record --format raw`) per function.

    .venv/bin/python bench/stacks.py FILE [--top 40] [--match TEXT]

Prints the functions with the most samples on the stack (inclusive) and on top
(self), as % of all samples; `--match` keeps only stacks with TEXT in them.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--match", default="")
    args = ap.parse_args()
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    for line in Path(args.file).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or (args.match and args.match not in stack):
            continue
        count = int(n)
        total += count
        frames = [f.split(" (")[0] + " " + f.split("/")[-1].rstrip(")")
                  for f in stack.split(";")]
        for f in set(frames):
            incl[f] += count
        self_[frames[-1]] += count
    print(f"{total} samples")
    print("inclusive:")
    for f, c in incl.most_common(args.top):
        print(f"  {100 * c / total:5.1f}%  {f}")
    print("self:")
    for f, c in self_.most_common(args.top // 2):
        print(f"  {100 * c / total:5.1f}%  {f}")


if __name__ == "__main__":
    main()
