"""Edit defaults of the shipped model, chosen by measurement (`scripts/tune_edit_defaults.py`, docs/benchmark)."""

# Measured on the shipped model with `scripts/tune_edit_defaults.py` (6 validation clips, 50 steps; docs/benchmark/
# tune_*.json): achieved shift for -3 / +3 st requested, latent SNR of invert -> regenerate:
#   depth 0.8, guidance 1 vs source: +0.01 / +2.81 st, 30.3 dB;  guidance 2: -1.06 / +2.92 st
#   depth 1.0, guidance 1 vs source: +0.04 / +2.91 st, 27.7 dB;  guidance 2: +3.18 / +2.92 st
#   depth 1.0, guidance 3 vs null:   -0.58 / +2.93 st
# Depth 0.8 with guidance 2 against the source is the best pair for both directions. These are the defaults of the
# command line, batch jobs and benchmark; `__call__` itself defaults to guidance 1 (one denoiser pass per step).
# Re-run the script for a retrained model.
DEFAULT_INVERSION_DEPTH = 0.8

# Depth of an edit that lowers the pitch in place (`auto_inversion_depth`; what the command line, batch jobs, demo and
# benchmark use when no depth is asked for). Measured with scripts/benchmark.py on v0.8 (12 steps, guidance 2,
# inversion auto, -3 st; docs/benchmark/v08/depth_per_direction/), depth 0.8 -> 0.7:
#   held-out sets: LibriVox WER pooled 0.155 -> 0.141 (source 0.042), octave jumps 10 -> 4, DNSMOS 2.50 -> 2.47;
#     TTS-14 WER pooled 0.189 -> 0.134 (source 0.073), speaker similarity 0.885 -> 0.903; Asterisk similarity 0.825 ->
#     0.834, DNSMOS 2.74 -> 2.71;
#   fresh sets drawn after that choice: TTS (19 clips) WER pooled 0.192 -> 0.169, similarity 0.836 -> 0.862, DNSMOS
#     level; Asterisk (12 real clips) similarity 0.816 -> 0.844 but DNSMOS 2.99 -> 2.69 and octave jumps 4 -> 13.
# Fewer lost words and a closer voice on every set, at some DNSMOS on one real set. Raising the pitch at 0.7 lands
# short on the real voices (Asterisk +2.86 -> +2.52 st, DNSMOS 2.44 -> 1.88), so raising keeps 0.8. Chosen on v0.8;
# checked again on v0.9 (docs/benchmark/v09/README.md): lowering at 0.8 instead lost more words on all three
# transcribed held-out sets (LibriVox 0.056 -> 0.070, TTS 0.116 -> 0.159, fresh TTS 0.117 -> 0.164) and landed shorter.
LOWERING_INVERSION_DEPTH = 0.7
DEFAULT_GUIDANCE_SCALE = 2.0

# Steps of the full schedule (12 at depth 0.8 = 10 denoising steps), measured with scripts/measure_editing.py and the
# -3/+3 st edits of three LibriVox clips (shipped model, 4 s windows): 50 steps: |error| 0.03-0.37 st (one clip's
# downward edit fails at any setting), speaker similarity 0.484, 1.72 CPU-s per audio second; 12 steps: 0.01-0.69 st,
# 0.489, 0.47 CPU-s/s; 10 steps: 0.00-0.77 st, 0.485, 0.38 CPU-s/s; 8 steps: up to 1.15 st. `__call__` keeps 50.
DEFAULT_NUM_INFERENCE_STEPS = 12

# Which frames an edit regenerates (`edit_region`): "speech" leaves the pauses (frames 35 dB below the loudest) as the
# codec renders them; an edit that moves only F0 (pitch, intonation) regenerates only the voiced frames, since the
# others have no F0 to move. Measured with scripts/benchmark.py on the 5 LibriVox clips (v0.3, 12 steps, depth 0.8,
# guidance 2), -3 / +3 st:
#   DDIM, "all" -> "speech": pause energy vs the codec -2.38 / -3.50 -> -1.45 / -0.77 dB, duration ratio
#   0.957 / 0.969 -> 0.997 / 0.969; achieved shift, speaker similarity and WER unchanged;
#   inversion "auto", "speech" -> "voiced": achieved -2.64 / +3.09 -> -2.67 / +3.08 st (the 81 Hz clip -1.26 ->
#   -2.37), pauses +3.2 / -0.8 -> 0.0 / 0.0 dB, duration 1.000 / 0.969 -> 0.992 / 0.997, speaker similarity
#   0.602 / 0.576 -> 0.606 / 0.577, Whisper WER 0.75 / 0.74 -> 0.75 / 0.82 (two +3 clips worse, one -3 better).
# Speaking-rate edits retime every frame and use "all".
DEFAULT_EDIT_REGION = "speech"
F0_EDIT_REGION = "voiced"


def default_edit_region(moves_f0_only: bool, rate: float = 1.0) -> str:
    """The region an edit regenerates when none is asked for (see the measurements above)."""
    if rate != 1.0:
        return "all"
    return F0_EDIT_REGION if moves_f0_only else DEFAULT_EDIT_REGION


def auto_inversion_depth(pitch_shift: float) -> float:
    """The inversion depth of an in-place edit when none is asked for: `LOWERING_INVERSION_DEPTH` for an edit that
    lowers the pitch, `DEFAULT_INVERSION_DEPTH` for any other (see the measurements above). A speaking-rate edit has
    its own depth (`RATE_INVERSION_DEPTH`)."""
    return LOWERING_INVERSION_DEPTH if pitch_shift < 0 else DEFAULT_INVERSION_DEPTH

# Tries that fit a calibrated direction's strength to the clip (`--fit-strength`, `directions.fit_strength`) when none
# is asked for. Measured on v0.7 (`CALIBRATION=real FIT=2 python docs/benchmark/inversion/measure_directions.py`, the
# intonation direction on 5 LibriVox + 2 flite clips x 4 strengths, docs/benchmark/v07/intonation_eval.json): the
# calibration's mean response alone lands 13 of 28 edits within 25 % of the asked change (median error 35 %), since
# clips respond to the same raw strength by a third more or less than the calibration clips; two more tries at most
# land 20 of 28 (median error 14 %) for 1.9 regenerations per edit on average. An uncalibrated direction has no unit to
# fit to and is applied as given.
# Raised to four tries on v0.10 (docs/benchmark/inversion/v010_intonation_eval*.json and the held-out TTS runs in
# docs/benchmark/v010/README.md), measured against the source (what a listener compares, and what the fit aims at):
# development clips 18/28 -> 22/28 within 25 % (2.18 -> 2.75 regenerations per edit), 14 held-out low male TTS clips
# 38/56 -> 48/56 (2.36 -> 3.11); the search stops as soon as it is within 10 %, so the extra tries run only where needed.
# With the pitch-leak guard that toolkit 0.10.0 also adds (`directions.MAX_FIT_PITCH_LEAK_ST`: no try that moves the
# median F0 more than 1 st), four tries land 20/28 and 38/56 without any edit moving the pitch by more than 1 st.
DEFAULT_FIT_STRENGTH = 4

# How the command line inverts ("auto"): edit-friendly DDPM inversion for an edit that lowers the pitch, DDIM for any
# other. The model cannot draw F0 below about 85 Hz from DDIM noise (scripts/measure_editing.py --sections f0range),
# so -3 st edits of the LibriVox reader (81-104 Hz) went an octave up on 2 of 5 clips (+8.9 st; median -1.88); the
# DDPM noise maps carry the source's fine structure and land all five (-2.74, -1.26, -2.32, -2.90, -2.64; median
# -2.64). Raising the pitch, DDIM and DDPM land alike (+3.09 / +3.10) and DDIM keeps the better Whisper WER (0.74 vs
# 1.07). Validation voices (14 clips, scripts/tune_edit_defaults.py): DDPM -3.01 / +2.95, DDIM -2.93 / +2.92.
# Raising checked again on v0.10 (scripts/benchmark.py --edits pitch:+3 --inversion ddpm on the five held-out and fresh
# sets, docs/benchmark/v010/raise_ddpm/): DDPM removes most octave jumps of the real Asterisk voices (28 -> 4 over 22
# clips) and lands a little closer, but loses words on both TTS sets (pooled WER +3 and +4 points) and voice on three
# sets (speaker similarity up to -0.04), so raising keeps DDIM; `--inversion ddpm` is the switch for a voice whose
# raised F0 breaks.
DEFAULT_INVERSION = "auto"

# Other regenerations the octave repair may make for an in-place edit (`--octave-repair N`,
# `latentdiff_edit.octave_repair`): off by default. Measured on v0.10 with N = 2 (docs/benchmark/octave_repair/): the
# extra octave jumps Praat counts (the benchmark's tracker, which the repair also scores with) fell 130 -> 40 over the
# five held-out and fresh sets (every per-clip median 0), at similarity within +-0.01, pooled WER +0.6 to +1.8 points on
# three TTS rows, and about twice the time of an edit that needs it (7.4 s against 3.9 s median). WORLD's Harvest, a
# tracker the repair does not use, saw no such change on 34 of those edits (extra jumps 21 -> 22, frames more than 6 st
# off the asked F0 1,050 -> 987 of 11,300), and pYIN calls most of those frames unvoiced: what the trackers disagree
# on is mostly periodicity they find ambiguous in the low voices' edits, not clean octave errors, so the extra
# regenerations are the user's choice, not the default. The tracker-free check of toolkit 0.12.0
# (`evaluation.metrics.octave_off_frames`, docs/benchmark/octave_check/) confirms the errors are real (v0.10 draws 1-9 %
# of the voiced frames of +-3 st edits at twice the asked F0) and that the Praat-scored repair removes few of them
# (3.4 -> 2.8 % on LibriVox + Asterisk-12, 7.8 -> 7.2 % on TTS-14).
DEFAULT_OCTAVE_REPAIR = 0

# The pipeline's `harmonic_guidance` for command-line edits (`latentdiff_edit.harmonic_guidance`; 0 = off). Tuned on
# the 24 validation clips of `scripts/tune_edit_defaults.py` (`runs/tune_validation24.jsonl`, v0.14, +-3 st, 12 steps;
# docs/benchmark/harmonic_guidance/tune_validation24.json): voiced frames an octave off by the tracker-free check
# 4.0 / 2.4 % -> 0.0 / 0.1 % at 0.5, 0.1 / 0.1 % at 1 and 2; speaker similarity 0.904 / 0.904 -> 0.893 / 0.900 at 0.5
# (0.885 / 0.898 at 1), Whisper WER 0.141 / 0.169 -> 0.127 / 0.134 at 0.5 (0.173 / 0.144 at 1). 0.5 then checked on the
# five gate sets (docs/benchmark/harmonic_guidance/README.md): octave-off frames pooled 2.87 -> 0.10 %, Praat's extra
# jumps 77 -> 50, WER better on 4 of 6 transcribed rows; sampling takes about 2.5x as long (0.70 -> 1.80 s for the
# 3 s example clip at 12 steps, 2 threads).
DEFAULT_HARMONIC_GUIDANCE = 0.5
