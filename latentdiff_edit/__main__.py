"""`python -m latentdiff_edit ...` (and `accelerate launch -m latentdiff_edit batch ...`): the command line."""

from .apps.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
