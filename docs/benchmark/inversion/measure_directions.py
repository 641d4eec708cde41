"""Calibrated intonation direction and the first five unsupervised (PCA) directions of the shipped model.

Sets: espeak-ng sentences with SSML prosody range low (flat) vs high (lively), 2 voices x 6 sentences (synthesized
here, development data). Calibration: 4 flite clips. Evaluation: the 5 LibriVox clips (first 4 s) + 2 other flite
clips. Settings: 20 steps, depth 0.8, guidance 2 against the source (the CLI defaults but 20 steps instead of 50)."""
import glob
import json
import math
import os
import sys
import time

import numpy as np
import torch

from latentdiff_edit import load_default_pipeline
from latentdiff_edit.directions import (
    calibrate,
    change,
    contour_direction,
    direction_effects,
    fit_strength,
    measure,
    pca_directions,
    save_directions,
)
from latentdiff_edit.loading import load_pipeline
from latentdiff_edit.training import load_clip

torch.set_num_threads(1)
# usage (the sets are synthesized into ./runs/inversion/sets when absent): [LATENTDIFF_EDIT_MODEL=DIR]
#   [CALIBRATION=flite|real CORPUS=data/corpus] [INVERSION=ddim|ddpm] [GUIDANCE=2] [HARMONIC=S] [PCA=0] [FIT=N]
#   measure_directions.py OUT_DIR
#   [CALIBRATION_JSON]
# (default: the shipped model, DDIM inversion, with the PCA directions; ONLY=pca with a CALIBRATION_JSON skips the
# intonation evaluation). FIT=N also runs every edit with its strength
# fitted to the clip (`fit_strength`, up to N extra tries, measured against the source as the CLI's --fit-strength
# does) and scores it the same way as the calibration alone: against the unedited regeneration ("fitted"), and
# against the source, as the fit aims ("fitted_vs_source"). EVAL_MANIFEST=M.jsonl evaluates on that manifest's clips
# (its rows of 2 s or more, first 4 s of each) instead of the LibriVox + flite development clips.
out = sys.argv[1]
pipe = load_pipeline(os.environ["LATENTDIFF_EDIT_MODEL"]) if os.environ.get("LATENTDIFF_EDIT_MODEL") else \
    load_default_pipeline()
pipe.set_progress_bar_config(disable=True)
sr = pipe.sampling_rate


def load(path, seconds=4.0):
    return load_clip(path, sr).numpy()[: int(seconds * sr)]


sets = "runs/inversion/sets"
SENTENCES = [  # Harvard sentences (lists 1-2); the sets before v0.5 used six sentences that were not recorded here
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
]


def make_sets(folder):
    """espeak-ng (voices en-us, en+m3) with SSML prosody range low / high, and flite, one clip per sentence."""
    import subprocess

    os.makedirs(folder, exist_ok=True)
    for i, text in enumerate(SENTENCES):
        for voice in ("en-us", "en+m3"):
            for rng in ("low", "high"):
                path = f"{folder}/es_{voice.replace('+', '_')}_{i}_{rng}.wav"
                if not os.path.exists(path):
                    ssml = f'<speak><prosody range="{rng}">{text}</prosody></speak>'
                    subprocess.run(["espeak-ng", "-v", voice, "-m", "-w", path, ssml], check=True)
        path = f"{folder}/fl_{i}.wav"
        if not os.path.exists(path):
            subprocess.run(["flite", "-t", text, "-o", path], check=True)


if not glob.glob(f"{sets}/fl_*.wav"):
    make_sets(sets)
flat = [load(p, 10) for p in sorted(glob.glob(f"{sets}/es_*_low.wav"))]
lively = [load(p, 10) for p in sorted(glob.glob(f"{sets}/es_*_high.wav"))]
flite = [load(p) for p in sorted(glob.glob(f"{sets}/fl_*.wav"))]
librivox = [load(p) for p in sorted(glob.glob("/usr/share/pocketsphinx/test/data/librivox/*.wav"))]


def calibration_clips():
    """CALIBRATION=flite (default): the first 4 flite clips. CALIBRATION=real: one prompt of each of the five
    Asterisk speakers (the first by path of 2-6 s) from the corpus's validation split (real recordings, not augmented;
    CORPUS=the corpus folder), which no model trained on and which are not evaluated here."""
    if os.environ.get("CALIBRATION", "flite") == "flite":
        return flite[:4]
    corpus = os.environ["CORPUS"]
    rows = [json.loads(line) for line in open(f"{corpus}/manifest.jsonl")]
    first = {}
    for r in sorted(rows, key=lambda r: r["path"]):
        if (r["split"] == "validation" and r.get("kind") == "real" and not r.get("augmented")
                and not r.get("derived_from") and 2.0 <= r["duration_s"] <= 6.0):
            first.setdefault(r["voice"], r)
    if len(first) < 2:
        raise SystemExit(f"CALIBRATION=real needs validation prompts of the real speakers in {corpus}")
    print("calibration clips", [r["path"] for r in first.values()], flush=True)
    return [load(f"{corpus}/{r['path']}") for r in first.values()]


edit = {"guidance_scale": float(os.environ.get("GUIDANCE", "2.0")), "guidance_reference": "source"}
if float(os.environ.get("HARMONIC", "0")) > 0:  # harmonic guidance (`latentdiff_edit.harmonic_guidance`) on every edit
    edit["harmonic_guidance"] = float(os.environ["HARMONIC"])
inv = {"num_inference_steps": 20, "inversion_depth": 0.8, "method": os.environ.get("INVERSION", "ddim")}
torch.manual_seed(0)  # DDPM inversion's noise maps
t0 = time.time()
direction = contour_direction("intonation", flat, lively, sr,
                              description="F0 spread: espeak-ng prosody range low -> high, 12 clips each")
print("unit (log spread ratio between the sets)", direction.unit, "ratio", math.exp(direction.unit), flush=True)
if len(sys.argv) > 2:  # a calibration measured before: {"raw": [...], "measured": [...]}
    direction.calibration = {**json.loads(sys.argv[2]), "edit_kwargs": edit, "invert_kwargs": inv}
else:
    calibrate(pipe, direction, calibration_clips(), sr, raw_strengths=(-1.0, -0.5, -0.25, 0.25, 0.5, 1.0), edit_kwargs=edit,
              invert_kwargs=inv)
print("calibration", json.dumps({k: direction.calibration[k] for k in ("raw", "measured")}), time.time() - t0, flush=True)
save_directions([direction], out)
results, fitted_results = [], []
fit = int(os.environ.get("FIT", "0"))
if os.environ.get("EVAL_MANIFEST"):
    from latentdiff_edit.data.manifest import read_manifest

    rows = [r for r in read_manifest(os.environ["EVAL_MANIFEST"]) if r.get("duration_s", 2.0) >= 2.0]
    eval_sets = ((os.path.basename(os.environ["EVAL_MANIFEST"]), [load(r["path"]) for r in rows]),)
else:
    eval_sets = (("librivox", librivox), ("flite-heldout", flite[4:]))
if os.environ.get("ONLY") == "pca":  # the unsupervised directions alone (pass the calibration as CALIBRATION_JSON)
    eval_sets = ()
for name, clips in eval_sets:
    for i, clip in enumerate(clips):
        inversion = pipe.invert(clip, sr, **inv)
        if fit:
            regenerated = pipe(inversion=inversion, output_type="np", **edit).audios[0, : inversion.num_samples[0]]
            before = measure(regenerated, sr)["f0_spread"]
            for strength in (-0.5, -0.25, 0.25, 0.5):
                try:
                    f = fit_strength(pipe, inversion, direction, strength, reference=clip[: inversion.num_samples[0]],
                                     max_iterations=fit, edit_kwargs=edit)
                except ValueError as error:
                    fitted_results.append({"set": name, "clip": i, "strength": strength, "refused": str(error),
                                           "asked_log_ratio": strength * direction.unit,
                                           "measured_log_ratio": float("nan")})
                    continue
                got = change("f0_spread", before, measure(f.audio, sr)["f0_spread"])
                fitted_results.append({"set": name, "clip": i, "strength": strength, "asked_log_ratio": f.asked,
                                       "measured_log_ratio": got, "measured_vs_source": f.measured,
                                       "fit": f.as_dict()})
                print(name, i, strength, f"FITTED asked x{math.exp(f.asked):.2f} got x{math.exp(got):.2f} "
                      f"(vs source x{math.exp(f.measured):.2f}, {len(f.trace)} tries)", flush=True)
        for strength in (-0.5, -0.25, 0.25, 0.5):
            asked = strength * direction.unit
            try:
                (row,) = direction_effects(pipe, inversion, [direction], strengths=(strength,), edit_kwargs=edit)
            except ValueError as error:  # a change the calibration never reached: refused, counted as a miss
                results.append({"set": name, "clip": i, "strength": strength, "asked_log_ratio": asked,
                                "measured_log_ratio": float("nan"), "refused": str(error)})
                print(name, i, strength, "refused:", error, flush=True)
                continue
            got = row["changes"]["f0_spread"]
            results.append({"set": name, "clip": i, "strength": strength, "asked_log_ratio": asked,
                            "measured_log_ratio": got, "changes": row["changes"]})
            print(name, i, strength, f"asked x{math.exp(asked):.2f} got x{math.exp(got):.2f}",
                  {k: round(v, 3) for k, v in row["changes"].items()}, flush=True)


def score(results):
    """Every edit counts: a refused one, or one whose output has no measurable F0 (silence), is a miss."""
    measured = [r for r in results if math.isfinite(r["measured_log_ratio"])]
    sign = np.mean([math.isfinite(r["measured_log_ratio"]) and np.sign(r["measured_log_ratio"]) == np.sign(
        r["asked_log_ratio"]) for r in results])
    rel = [abs(r["measured_log_ratio"] - r["asked_log_ratio"]) / abs(r["asked_log_ratio"]) if math.isfinite(
        r["measured_log_ratio"]) else float("inf") for r in results]
    return {"sign_correct": float(sign), "median_relative_error": float(np.median(rel)),
            "within_25pct": float(np.mean([x <= 0.25 for x in rel])), "n": len(results),
            "refused": sum("refused" in r for r in results), "unmeasurable": len(results) - len(measured)}


if eval_sets:
    summary = {"unit": direction.unit, "calibration": direction.calibration, **score(results)}
    print("SUMMARY", json.dumps({k: v for k, v in summary.items() if k != "calibration"}), flush=True)
    if fit:
        tries = [len(r["fit"]["trace"]) for r in fitted_results if "fit" in r]
        summary["fitted"] = {**score(fitted_results), "max_extra_tries": fit, "mean_tries": float(np.mean(tries))}
        summary["fitted_vs_source"] = score([{**r, "measured_log_ratio": r.get("measured_vs_source", float("nan"))}
                                             for r in fitted_results])
        print("SUMMARY FITTED", json.dumps(summary["fitted"]), flush=True)
        print("SUMMARY FITTED VS SOURCE", json.dumps(summary["fitted_vs_source"]), flush=True)
    json.dump({"summary": summary, "results": results, "fitted_results": fitted_results},
              open(f"{out}/intonation_eval.json", "w"), indent=1)

if os.environ.get("PCA", "1") == "0":
    sys.exit(0)
# first five unsupervised directions: PCA of inverted latents over all 29 development clips
pcs = pca_directions(pipe, librivox + flite + flat[:6] + lively[:6] , sr, num_directions=5, **inv,
                     window_seconds=None)
save_directions([direction] + pcs, out)
effects = {}
for clip in librivox[:3] + flite[4:5]:
    inversion = pipe.invert(clip, sr, **inv)
    for row in direction_effects(pipe, inversion, pcs, strengths=(-2.0, 2.0), edit_kwargs=edit):
        effects.setdefault((row["direction"], row["strength"]), []).append(row["changes"])
table = []
for (name, strength), changes in effects.items():
    mean = {k: float(np.nanmean([c[k] for c in changes])) for k in changes[0]}
    table.append({"direction": name, "strength": strength, **mean})
    print(name, strength, {k: round(v, 3) for k, v in mean.items()}, flush=True)
json.dump({"descriptions": {d.name: d.description for d in pcs}, "effects": table},
          open(f"{out}/pca_effects.json", "w"), indent=1)
print("done", time.time() - t0)
