#!/usr/bin/python3
"""Strips notebooks of their outputs, or checks that they carry none.

Usage: strip.py [--check] NOTEBOOK...

Committed notebooks carry no outputs, execution counts or per-run metadata:
diffs then show only what a person changed, and no query result leaves the
analyst's machine by accident. make notebooks runs --check first and fails
on any notebook that is not stripped, naming it; strip.py without --check
rewrites them in place.
"""
import sys

import nbformat

# Cell metadata that an execution writes; tags and the like stay.
RUN_METADATA = ("execution", "collapsed", "scrolled")


def dirty(nb):
    """What in nb an execution left behind, as short descriptions."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {i}: outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i}: execution count")
        found += [f"cell {i}: metadata {k}" for k in RUN_METADATA if k in cell.metadata]
    if "widgets" in nb.metadata:
        found.append("notebook metadata: widgets")
    return found


def strip(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for k in RUN_METADATA:
            cell.metadata.pop(k, None)
    nb.metadata.pop("widgets", None)


def main():
    args = sys.argv[1:]
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    if not paths:
        sys.exit(__doc__.split("\n\n")[1])
    bad = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        found = dirty(nb)
        if not found:
            continue
        if check:
            bad += 1
            print(f"{path}: not stripped ({', '.join(found[:3])}{', ...' if len(found) > 3 else ''}); "
                  f"run notebooks/strip.py {path}", file=sys.stderr)
        else:
            strip(nb)
            nbformat.write(nb, path)
            print(f"stripped {path}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
