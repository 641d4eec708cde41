"""A labeled speech corpus synthesized offline with espeak-ng (and flite where installed).

Knobs (pitch, rate, intonation range, loudness, voice, prosody presets) drive the synthesizers, but the labels a model
trains on are **measured** on the audio (see `latentdiff_edit.features.measure_attributes`). Prosody presets are named
for what they are ("low-flat-slow"), not claimed to be emotions. Sentences are split train/validation/test, so test
sentences are never trained on, and whole voices are held out for the test split. Paired renderings (same text and
voice at several values of one knob) give oracle targets for evaluation.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from ..features import measure_attributes

ESPEAK_VARIANTS = ["f1", "f2", "f3", "f4", "f5", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "klatt", "klatt3"]
FLITE_VOICES = {"kal": 105.0, "awb": 120.0, "rms": 100.0, "slt": 175.0}  # voice -> typical F0 (Hz)
HELD_OUT_VOICES = ("espeak:en-us+m7", "espeak:en-us+f4", "flite:rms")

# Prosody presets: knob values (espeak units) named for what they do.
STYLE_PRESETS = {
    "neutral": {"pitch": 50, "range": 50, "rate": 170, "gain_db": 0.0},
    "low-flat-slow": {"pitch": 22, "range": 12, "rate": 125, "gain_db": -5.0},
    "high-wide-fast": {"pitch": 75, "range": 95, "rate": 235, "gain_db": 2.0},
    "mid-wide-slow": {"pitch": 45, "range": 95, "rate": 135, "gain_db": -1.0},
}

_SUBJECTS = "the old farmer|my sister|a quiet student|the city council|our neighbour|the young pilot|every teacher|the tired doctor|a small child|the new manager|his best friend|the radio host|a local artist|the night guard|her grandfather|the ship captain|a famous singer|the bus driver|the head chef|a careful lawyer".split("|")
_VERBS = "painted|carried|noticed|borrowed|repaired|described|followed|ordered|forgot|collected|delivered|measured|opened|questioned|discovered|cleaned|watched|answered|explained|remembered".split("|")
_OBJECTS = "a yellow bicycle|the heavy wooden door|seven green apples|the broken clock|an old map of the river|the morning newspaper|a letter from abroad|the last train ticket|a basket of warm bread|the silver key|a box of paper lanterns|the garden fence|a long winter coat|the tallest ladder|a bottle of cold water|the stone bridge|a bright blue kite|the village bell|a pair of leather boots|the kitchen window".split("|")
_TAILS = "before the storm arrived|after lunch on Sunday|near the harbour|without saying a word|in the middle of the night|while the rain kept falling|at the edge of the forest|just before sunrise|with great care|for the third time this week|under the old oak tree|on a cold morning|as the crowd cheered|behind the market|during the long journey|".split("|")
_QUESTIONS = ["did {s} really say that", "why would {s} leave so early", "where did {s} put {o}", "how long will {s} wait"]


@dataclass
class ClipSpec:
    clip_id: str
    text: str
    voice: str  # "espeak:en-us+f3" or "flite:slt"
    split: str
    pitch: float  # 0..100 (espeak -p units; mapped to F0 targets for flite)
    rate: float  # words per minute (espeak -s units)
    range: float  # 0..100 intonation range
    gain_db: float
    style: str = ""
    pair_id: str = ""
    pair_knob: str = ""
    extra: dict = field(default_factory=dict)


def make_sentences(num_sentences: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    sentences: set[str] = set()
    while len(sentences) < num_sentences:
        s, v, o, t = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS)
        if rng.random() < 0.15:
            text = rng.choice(_QUESTIONS).format(s=s, o=o) + "?"
        else:
            text = f"{s} {v} {o} {t}".strip() + "."
        sentences.add(text[0].upper() + text[1:])
    return sorted(sentences)


def sentence_split(text: str, validation_fraction: float = 0.05, test_fraction: float = 0.08) -> str:
    """Deterministic split by sentence hash, so a sentence lands in one split whatever the corpus size."""
    u = int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if u < test_fraction else "validation" if u < test_fraction + validation_fraction else "train"


def available_voices() -> list[str]:
    voices = []
    if shutil.which("espeak-ng"):
        voices += [f"espeak:en-us+{v}" for v in ESPEAK_VARIANTS]
    if shutil.which("flite"):
        voices += [f"flite:{v}" for v in FLITE_VOICES]
    if not voices:
        raise RuntimeError("No synthesizer found: install espeak-ng (apt-get install espeak-ng) and optionally flite.")
    return voices


def plan_corpus(num_clips: int, seed: int = 0, paired_fraction: float = 0.15) -> list[ClipSpec]:
    """Draw the knob values of every clip. Deterministic for a given `seed`."""
    rng = random.Random(seed)
    voices = available_voices()
    train_voices = [v for v in voices if v not in HELD_OUT_VOICES]
    sentences = make_sentences(max(200, num_clips // 3), seed)
    by_split = {s: [t for t in sentences if sentence_split(t) == s] for s in ("train", "validation", "test")}
    specs: list[ClipSpec] = []
    n_paired_groups = int(num_clips * paired_fraction) // 5
    for g in range(n_paired_groups):
        split = "test" if g % 2 == 0 else "validation"
        text = rng.choice(by_split[split])
        voice = rng.choice(voices if split == "test" else train_voices)
        rate = rng.uniform(140, 200)
        if g % 4 < 2:  # pitch ladder at fixed range
            knob, values = "pitch", [20, 35, 50, 65, 80]
        else:  # intonation ladder at fixed pitch
            knob, values = "range", [5, 30, 55, 80, 100]
        for value in values:
            pitch = value if knob == "pitch" else 50
            prange = value if knob == "range" else 50
            specs.append(
                ClipSpec(f"pair{g:05d}_{knob}{value:03d}", text, voice, split, pitch, rate, prange, 0.0,
                         pair_id=f"pair{g:05d}", pair_knob=knob)
            )
    i = 0
    while len(specs) < num_clips:
        split = rng.choices(["train", "validation", "test"], weights=[0.88, 0.04, 0.08])[0]
        text = rng.choice(by_split[split])
        voice = rng.choice(voices if split == "test" else train_voices)
        if rng.random() < 0.3:
            style = rng.choice(list(STYLE_PRESETS))
            p = STYLE_PRESETS[style]
            pitch = p["pitch"] + rng.uniform(-5, 5)
            prange = min(100, max(0, p["range"] + rng.uniform(-5, 5)))
            rate = p["rate"] * rng.uniform(0.93, 1.07)
            gain = p["gain_db"] + rng.uniform(-1, 1)
        else:
            style, pitch, prange = "", rng.uniform(5, 95), rng.uniform(0, 100)
            rate, gain = rng.uniform(110, 260), rng.uniform(-8, 3)
        specs.append(ClipSpec(f"clip{i:06d}", text, voice, split, pitch, rate, prange, gain, style=style))
        i += 1
    return specs


def _synthesize(spec: ClipSpec, path: Path, sampling_rate: int) -> None:
    engine, voice = spec.voice.split(":", 1)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        if engine == "espeak":
            ssml = f'<speak><prosody range="{int(round(spec.range))}">{spec.text}</prosody></speak>'
            cmd = ["espeak-ng", "-v", voice, "-p", str(int(round(spec.pitch))), "-s", str(int(round(spec.rate))),
                   "-m", "-w", str(raw), ssml]
        else:
            base = FLITE_VOICES[voice]
            f0_mean = base * 2 ** ((spec.pitch - 50) * 0.16 / 12)
            f0_std = f0_mean * (0.01 + 0.16 * spec.range / 100)
            cmd = ["flite", "-voice", voice, "-t", spec.text, "-o", str(raw),
                   "--setf", f"int_f0_target_mean={f0_mean:.1f}", "--setf", f"int_f0_target_stddev={f0_std:.1f}",
                   "--setf", f"duration_stretch={170.0 / spec.rate:.3f}"]
        subprocess.run(cmd, check=True, capture_output=True)
        # sox resamples, trims leading/trailing silence above -60 dB, applies the loudness knob
        subprocess.run(["sox", str(raw), "-r", str(sampling_rate), "-c", "1", "-b", "16", str(path),
                        "silence", "1", "0.02", "-60d", "reverse", "silence", "1", "0.02", "-60d", "reverse",
                        "pad", "0.1", "0.1", "vol", f"{spec.gain_db:.2f}dB"], check=True, capture_output=True)


def render_clip(spec: ClipSpec, output_dir: Path, sampling_rate: int = 16000) -> dict:
    """Synthesize one clip, measure its attributes, return its manifest row (paths relative to the manifest)."""
    rel = Path("wavs") / spec.split / f"{spec.clip_id}.wav"
    path = output_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    _synthesize(spec, path, sampling_rate)
    audio, sr = sf.read(path, dtype="float32")
    row = {"path": str(rel), **{k: v for k, v in asdict(spec).items() if k != "extra"}}
    row = {("knob_" + k if k in ("pitch", "rate", "range", "gain_db") else k): v for k, v in row.items()}
    row["duration_s"] = len(audio) / sr
    row.update(measure_attributes(audio, sr))
    return row


def write_manifest(rows: list[dict], path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    tmp.replace(path)


def summarize(rows: list[dict]) -> dict:
    out = {"clips": len(rows), "hours": sum(r["duration_s"] for r in rows) / 3600}
    for split in ("train", "validation", "test"):
        sub = [r for r in rows if r["split"] == split]
        out[split] = {"clips": len(sub), "hours": round(sum(r["duration_s"] for r in sub) / 3600, 3),
                      "voices": len({r["voice"] for r in sub})}
    f0 = np.array([r["f0_median_hz"] for r in rows])
    out["f0_median_hz_range"] = [float(np.percentile(f0, 2)), float(np.percentile(f0, 98))]
    return out
