#!/usr/bin/env python
"""Control for the harmonic octave check: the codec round trip alone (encode, decode; no diffusion), judged against
the source's own F0. What an edit's octave-off share adds above this is the edit's.

    python docs/benchmark/octave_check/codec_round_trip.py MODEL_DIR OUT.json lv tts cast   # sets as in validate.py
"""
import json
import sys
from pathlib import Path

import torch

from latentdiff_edit.evaluation.benchmark.clips import read_clip, read_clips
from latentdiff_edit.evaluation.metrics import octave_off_frames
from latentdiff_edit.loading import load_pipeline

sys.path.insert(0, "docs/benchmark")
from gate_sets import SETS  # noqa: E402

torch.set_num_threads(1)
pipe = load_pipeline(sys.argv[1])
sr = pipe.sampling_rate
out = {}
for name in sys.argv[3:]:
    total = {"voiced": 0, "below": 0, "above": 0, "src": 0, "extra": 0}
    for clip in read_clips(Path(SETS[name])):
        source = read_clip(clip["path"], sr, 60.0)
        with torch.no_grad():
            latents, _, num_samples = pipe.encode_audio([torch.from_numpy(source)])
            round_trip = pipe.decode_latents(latents, num_samples)[0].cpu().numpy()
        check = octave_off_frames(source, round_trip, sr)
        total["voiced"] += check["voiced_frames"]
        total["below"] += check["octave_below"]
        total["above"] += check["octave_above"]
        total["src"] += check["source_octave_off"]
        total["extra"] += round(check["extra_share"] * check["voiced_frames"])
    total["extra_pooled"] = total["extra"] / total["voiced"]
    out[name] = total
    print(name, total, flush=True)
Path(sys.argv[2]).write_text(json.dumps(out, indent=1) + "\n")
