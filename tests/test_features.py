import numpy as np
import pytest

from latentdiff_edit.audio import AudioInputError, load_audio, prepare_audio
from latentdiff_edit.features import extract_f0, frame_energy_db, harmonics_to_noise_db, measure_attributes
from latentdiff_edit.testing import harmonic_tone


@pytest.mark.parametrize("f0", [110.0, 220.0])
def test_f0_of_a_harmonic_tone(f0):
    sr = 16000
    t = np.arange(sr) / sr
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5)).astype(np.float32)
    contour = extract_f0(tone, sr, hop_length=160)
    assert len(contour) == 100
    assert np.median(contour[contour > 0]) == pytest.approx(f0, abs=1.0)
    assert harmonics_to_noise_db(tone, sr) > 20
    noise = np.random.default_rng(0).standard_normal(sr).astype(np.float32) * 0.1
    assert harmonics_to_noise_db(noise, sr) < 5


def test_energy_and_clip_measures():
    sr = 16000
    audio = harmonic_tone(150.0, 1.0, sr)
    energy = frame_energy_db(audio, 128, 125)
    assert energy.shape == (125,) and np.all(energy < 0)
    measured = measure_attributes(audio, sr)
    assert measured["f0_median_hz"] == pytest.approx(150.0, rel=0.05)
    assert 0.8 < measured["speech_duration_s"] <= 1.0


def test_prepare_audio_resamples_and_refuses_bad_rate(tmp_path):
    audio = harmonic_tone(150.0, 0.5, 16000)
    assert prepare_audio(audio, 16000, 8000).shape == (4000,)
    with pytest.raises(AudioInputError, match="sampling_rate"):
        prepare_audio(audio, 0, 8000)
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(AudioInputError, match="cannot read"):
        load_audio(tmp_path / "text.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioInputError, match="empty"):
        load_audio(tmp_path / "empty.wav")


def test_voiced_semitone_differences_measure_a_known_shift():
    from latentdiff_edit.features import voiced_semitone_differences

    sr = 16000
    source, shifted = harmonic_tone(150.0, 1.0, sr), harmonic_tone(150.0 * 2 ** (3 / 12), 1.0, sr)
    differences = voiced_semitone_differences(source, shifted, sr)
    assert len(differences) > 50
    assert np.median(differences) == pytest.approx(3.0, abs=0.05)
    assert np.median(voiced_semitone_differences(shifted, source, sr)) == pytest.approx(-3.0, abs=0.05)
    assert len(voiced_semitone_differences(source, np.zeros_like(source), sr)) == 0
