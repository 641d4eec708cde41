#!/usr/bin/env python
"""Experiment (not a feature): the benchmark with guidance applied only on the first GUIDED_FRACTION of an edit's
denoising steps and scale 1 on the rest, through the pipeline's step-end callback (`pipe._guidance_scale`), to see
whether guidance at the low-noise steps is what redraws the words.

    GUIDED_FRACTION=0.5 python docs/benchmark/v071/tune_wer/guidance_interval.py --input runs/tune_validation24.jsonl \
        --edits pitch:-3,+3 --steps 12 --asr auto --methods cfg --output OUT

Every argument is `scripts/benchmark.py`'s. Measured: see README.md here (not adopted).
"""

import os
import sys

import latentdiff_edit.evaluation.benchmark.runner as runner

FRACTION = float(os.environ["GUIDED_FRACTION"])
_run_method = runner.run_method
_patched = set()


def _guidance_on_first_steps(call):
    def patched(self, *args, **kwargs):
        if kwargs.get("inversion") is not None and kwargs.get("callback_on_step_end") is None:
            scale = kwargs.get("guidance_scale", 1.0)

            def callback(pipe, step, timestep, tensors):  # sets the scale of the next step
                pipe._guidance_scale = scale if step + 1 < FRACTION * pipe._num_timesteps else 1.0
                return {}

            kwargs["callback_on_step_end"] = callback
        return call(self, *args, **kwargs)

    return patched


def run_method(pipe, *args):
    cls = type(pipe)
    if cls not in _patched:
        cls.__call__ = _guidance_on_first_steps(cls.__call__)
        _patched.add(cls)
    return _run_method(pipe, *args)


if __name__ == "__main__":
    runner.run_method = run_method
    runner.main(sys.argv[1:])
