"""Evaluation suite: objective metrics for voice edits and signal-processing baselines.

Importing this package needs only the core dependencies; the metrics that rely on the `[eval]` extra
(`pip install latentdiff-edit[eval]`) import their packages when called and raise an `ImportError` naming the extra.
"""

from ..latents import latent_snr_db  # the core's, also used by the pipeline and the recipes
from .baselines import (
    BASELINES,
    phase_vocoder_pitch_shift,
    psola_intonation_scale,
    psola_pitch_shift,
    world_intonation_scale,
    world_pitch_shift,
)
from .metrics import (
    alignment_drift,
    dnsmos,
    f0_contour,
    f0_rmse_semitones,
    f0_spread_semitones,
    log_mel_distance,
    median_f0,
    mel_cepstral_distance,
    normalize_text,
    pesq_wb,
    pitch_shift_error,
    pitch_shift_semitones,
    speaker_similarity,
    speech_duration,
    stoi,
    transcribe,
    word_error_rate,
    world_f0,
)

__all__ = [
    "BASELINES",
    "alignment_drift",
    "dnsmos",
    "f0_contour",
    "f0_rmse_semitones",
    "f0_spread_semitones",
    "latent_snr_db",
    "log_mel_distance",
    "mel_cepstral_distance",
    "median_f0",
    "normalize_text",
    "pesq_wb",
    "phase_vocoder_pitch_shift",
    "pitch_shift_error",
    "pitch_shift_semitones",
    "psola_intonation_scale",
    "psola_pitch_shift",
    "speaker_similarity",
    "speech_duration",
    "stoi",
    "transcribe",
    "word_error_rate",
    "world_f0",
    "world_intonation_scale",
    "world_pitch_shift",
]
