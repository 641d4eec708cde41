"""Harmonic guidance (`latentdiff_edit.harmonic_guidance`): the contrasts read an octave error off a spectrum, the
correction removes one from a stand-in spectrum, and on the shipped model it makes an edit more harmonic at the asked
F0 than the same edit without it."""

from pathlib import Path

import numpy as np
import pytest
import torch

from latentdiff_edit.harmonic_guidance import HarmonicGuidance, harmonic_contrasts

SR, N_FFT, HOP = 16000, 512, 128
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "example.wav"


def tone(f0_hz: float, seconds: float = 0.5) -> torch.Tensor:
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * f0_hz * t
    return torch.from_numpy(sum(np.sin(k * phase) / k for k in range(1, 12)) * 0.2).float()


def log_spectrum(audio: torch.Tensor) -> torch.Tensor:
    """`(bins, frames)` natural-log STFT magnitudes, frame `j` centred on sample `j * HOP` (the vocoder's framing)."""
    stft = torch.stft(audio, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)
    return stft.abs().clamp_min(1e-5).log()


def contrasts(audio, f0_hz):
    spectrum = log_spectrum(audio)[None]
    f0 = torch.full((1, spectrum.shape[-1]), float(f0_hz))
    below, above = harmonic_contrasts(spectrum, f0, SR, N_FFT)
    inner = slice(4, -4)  # away from the edges' padding
    return float(below[0, inner].median()), float(above[0, inner].median())


def test_contrasts_tell_the_asked_octave_from_the_ones_beside_it():
    at_target = contrasts(tone(120.0), 120.0)
    octave_above = contrasts(tone(240.0), 120.0)  # the spectrum is periodic at twice the asked F0
    octave_below = contrasts(tone(120.0), 240.0)  # ... at half of it
    assert at_target[0] > 10.0 and at_target[1] > 0.0
    assert octave_above[1] < -20.0  # no power at the odd multiples of the asked F0
    assert octave_below[0] < 0.0  # more power between the asked harmonics (the voice's own) than on them
    # and a lower voice, whose harmonics a 32 ms window resolves less well, still reads at its own octave
    assert contrasts(tone(85.0), 85.0)[1] > contrasts(tone(170.0), 85.0)[1] + 10.0


def identity_guidance(source_audio, source_f0, edit_f0, scale=1.0, iterations=20, frame_weight=None):
    source = log_spectrum(source_audio)[None]  # latents = the log spectrum itself
    frames = source.shape[-1]
    return HarmonicGuidance(lambda z: z, SR, N_FFT, source, [np.full(frames, source_f0)], [np.full(frames, edit_f0)],
                            frame_weight=frame_weight, scale=scale, iterations=iterations), source


def test_correction_moves_an_octave_error_toward_the_asked_f0_and_leaves_a_good_rendering_alone():
    guidance, source = identity_guidance(tone(150.0), 150.0, 150.0)
    assert float(guidance.loss(source)[0]) == 0.0  # the source is as harmonic as itself
    assert torch.equal(guidance.correct(source), source)
    octave_error = log_spectrum(tone(300.0))[None]
    before = float(guidance.loss(octave_error)[0])
    corrected = guidance.correct(octave_error)
    after = float(guidance.loss(corrected)[0])
    assert before > 10.0 and after < 0.5 * before
    # nothing moves at scale 0, or outside the frames the edit covers
    off, _ = identity_guidance(tone(150.0), 150.0, 150.0, scale=0.0)
    assert torch.equal(off.correct(octave_error), octave_error)
    masked, _ = identity_guidance(tone(150.0), 150.0, 150.0, frame_weight=torch.zeros(1, source.shape[-1]))
    assert torch.equal(masked.correct(octave_error), octave_error)


def test_reach_keeps_the_correction_near_the_frames_that_fall_short():
    source = log_spectrum(tone(150.0))[None]
    frames = source.shape[-1]
    edit = source.clone()
    edit[..., 30:34] = log_spectrum(tone(300.0))[None][..., 30:34]  # four frames an octave above

    def smeared(z):  # a spectrum model whose frames see their neighbours, as a vocoder's convolutions do
        return torch.nn.functional.avg_pool1d(z, 9, stride=1, padding=4, count_include_pad=False)

    def guidance(reach):
        return HarmonicGuidance(smeared, SR, N_FFT, smeared(source), [np.full(frames, 150.0)],
                                [np.full(frames, 150.0)], scale=1.0, iterations=1, reach=reach)

    short = (guidance(None).frame_losses(edit)[0] > 0).nonzero().flatten()
    assert len(short) > 0
    moved = {reach: (guidance(reach).correct(edit) - edit).abs().amax(dim=1)[0] > 0 for reach in (None, 1)}
    near = torch.zeros(frames, dtype=torch.bool)
    for j in short.tolist():
        near[max(0, j - 1): j + 2] = True
    assert bool(moved[1].any()) and not bool((moved[1] & ~near).any())
    assert bool((moved[None] & ~near).any())  # without a reach, the gradient spreads through the smearing


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="scale"):
        identity_guidance(tone(150.0), 150.0, 150.0, scale=-1.0)
    with pytest.raises(ValueError, match="iteration"):
        identity_guidance(tone(150.0), 150.0, 150.0, iterations=0)


@pytest.mark.slow
def test_shipped_model_edit_is_more_harmonic_at_the_asked_f0_with_guidance():
    from latentdiff_edit import load_default_pipeline
    from latentdiff_edit.audio import load_audio

    pipe = load_default_pipeline()
    pipe.set_progress_bar_config(disable=True)
    audio, sr = load_audio(EXAMPLE)
    audio = audio[: 3 * sr]
    inversion = pipe.invert(audio, sr, num_inference_steps=12, inversion_depth=0.8)
    losses = {}
    for scale in (0.0, 1.0):
        out = pipe(inversion=inversion, pitch_shift=3.0, edit_region="voiced", guidance_scale=2.0,
                   harmonic_guidance=scale, output_type="latent")
        check = pipe.harmonic_guidance(inversion, out.attributes, None, 1.0)
        with torch.no_grad():
            losses[scale] = float(check.loss(out.audios)[0])
    assert losses[1.0] < losses[0.0]
    with pytest.raises(ValueError, match="harmonic_guidance"):
        pipe(inversion=inversion, pitch_shift=3.0, harmonic_guidance=-1.0)
    with pytest.raises(ValueError, match="harmonic_guidance"):
        pipe(num_frames=20, harmonic_guidance=1.0)
