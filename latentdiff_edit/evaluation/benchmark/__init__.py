"""The speech benchmark of voice edits (`scripts/benchmark.py`, `latentdiff-edit benchmark`), in the order it runs:

- `methods`: the edits requested (`Edit`, `parse_edits`) and the methods that make them (`run_method`);
- `clips`: the clips of a folder or manifest, and the pairs of renderings of the paired oracle;
- `measures`: every figure of a source and of an output, with its time and memory;
- `runner`: the command line and the loop over clips, split across `accelerate launch` processes (`main`);
- `report` and `plots`: medians, `results.md`, example files and figures.

The metrics themselves are the public functions of `latentdiff_edit.evaluation`.
"""

from .clips import plan_clips, read_clips
from .methods import METHODS, Edit, parse_edits
from .runner import main, parse_args

__all__ = ["METHODS", "Edit", "main", "parse_args", "parse_edits", "plan_clips", "read_clips"]
