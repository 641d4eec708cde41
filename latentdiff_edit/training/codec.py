"""What the codec recipe (`scripts/train_codec.py`) trains: an EnCodec encoder with a Vocos (or its own SEANet)
decoder as one module, and its losses — the `vocos` package's mel loss, multi-period / multi-resolution
discriminators, generator, discriminator and feature-matching losses, plus one complex-STFT term that pins timing;
for a Griffin-Lim vocoder (`phase="griffin_lim"`), log-magnitude and spectral-convergence losses on the magnitudes
it predicts.

Why the complex term: mel and magnitude losses are blind to a time shift of a few samples (a first Vocos decoder
trained on them alone came out 20–37 samples late), and masks and cross-fades mix decoded audio with the source.
No library loss compares complex spectra, so this one is written here. A Griffin-Lim vocoder needs none: its
magnitudes are compared frame by frame with the source's STFT, which pins timing to the frame, and Griffin-Lim
keeps it (the phase it finds is consistent with those magnitudes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import EncodecModel
from vocos.discriminators import MultiPeriodDiscriminator, MultiResolutionDiscriminator
from vocos.loss import DiscriminatorLoss, FeatureMatchingLoss, GeneratorLoss, MelSpecReconstructionLoss

from .. import codec as codec_utils
from ..models.vocoder import MAX_MAGNITUDE, VocosVocoder


class CodecAutoencoder(torch.nn.Module):
    """Encoder of a transformers `EncodecModel` + a decoder (a [`VocosVocoder`], or the codec's own decoder when
    `vocoder` is None), as one module so that `accelerator.prepare` wraps the whole forward (under DDP every
    gradient is then all-reduced).

    `freeze_encoder=True` trains the decoder alone on a fixed latent space: a latent diffusion model trained on the
    encoder's latents stays valid while its decoder keeps improving."""

    def __init__(self, codec: EncodecModel, vocoder: VocosVocoder | None = None, freeze_encoder: bool = False):
        super().__init__()
        self.codec = codec
        self.vocoder = vocoder
        self.freeze_encoder = freeze_encoder

    @property
    def predicts_magnitudes(self) -> bool:
        """True for a Griffin-Lim vocoder: training compares its magnitudes, not audio."""
        return self.vocoder is not None and self.vocoder.config.phase == "griffin_lim"

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(B, T)` audio → (reconstruction, latents `(B, C, F)`). The reconstruction is audio `(B, T)`, or, in
        training with a Griffin-Lim vocoder, its log-magnitudes `(B, n_fft // 2 + 1, F + 1)` (Griffin-Lim is not
        run: the loss is on the magnitudes; `.eval()` gives audio)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            latents = codec_utils.encode(self.codec, audio)  # (B, C, F)
        if self.training and self.predicts_magnitudes:
            return self.vocoder.log_magnitude(latents), latents
        recon = codec_utils.decode(self.codec, latents, audio.shape[-1], vocoder=self.vocoder)  # (B, T)
        return recon, latents

    def trainable_parameters(self):
        """The encoder (unless frozen) and the decoder in use: with a vocoder, the SEANet decoder is not trained."""
        encoder = [] if self.freeze_encoder else list(self.codec.encoder.parameters())
        if self.vocoder is None:
            return encoder + list(self.codec.decoder.parameters())
        return encoder + list(self.vocoder.parameters())


class MultiScaleMelLoss(torch.nn.Module):
    """Mean of the `vocos` mel-spectrogram L1 loss at several window sizes (DAC / EnCodec use multi-scale mel)."""

    def __init__(self, sampling_rate: int, fft_sizes=(256, 512, 1024, 2048), n_mels=(32, 64, 80, 128)):
        super().__init__()
        self.losses = torch.nn.ModuleList(
            MelSpecReconstructionLoss(sample_rate=sampling_rate, n_fft=n, hop_length=n // 4, n_mels=m)
            for n, m in zip(fft_sizes, n_mels)
        )

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(loss(prediction, target) for loss in self.losses) / len(self.losses)


def complex_stft_loss(prediction: torch.Tensor, target: torch.Tensor, fft_sizes=(256, 512, 1024)) -> torch.Tensor:
    """L1 between complex STFTs, scaled per resolution so that each term has the magnitude of a waveform L1: the
    phase (and so timing and periodicity) is penalized, unlike magnitude-only losses."""
    total = prediction.new_zeros(())
    for n_fft in fft_sizes:
        window = torch.hann_window(n_fft, device=prediction.device)
        spec_p = torch.stft(prediction, n_fft, n_fft // 4, window=window, return_complex=True)
        spec_t = torch.stft(target, n_fft, n_fft // 4, window=window, return_complex=True)
        total = total + F.l1_loss(torch.view_as_real(spec_p), torch.view_as_real(spec_t)) * (4 / n_fft) ** 0.5
    return total / len(fft_sizes)


def magnitude_losses(log_magnitude: torch.Tensor, target: torch.Tensor, n_fft: int, hop_length: int) -> dict:
    """Predicted natural-log STFT magnitudes `(B, bins, frames)` against the STFT of the target audio `(B, T)`
    (`torch.stft(center=True)` framing, as [`VocosVocoder.log_magnitude`]): L1 of log-magnitudes (the detail of
    quiet bins) and spectral convergence (Arık et al., 2019: the loud bins)."""
    window = torch.hann_window(n_fft, device=target.device)
    magnitude = torch.stft(target, n_fft, hop_length, window=window, return_complex=True).abs()
    frames = min(magnitude.shape[-1], log_magnitude.shape[-1])
    magnitude, log_magnitude = magnitude[..., :frames], log_magnitude[..., :frames]
    predicted = log_magnitude.exp().clamp(max=MAX_MAGNITUDE)
    return {
        "log_magnitude": F.l1_loss(log_magnitude, magnitude.clamp_min(1e-5).log()),
        "spectral_convergence": torch.linalg.vector_norm(predicted - magnitude) / torch.linalg.vector_norm(
            magnitude).clamp_min(1e-8),
    }


class VocosDiscriminators(torch.nn.Module):
    """The `vocos` multi-period and multi-resolution discriminators, used together as in Vocos; `use_mpd=False` keeps
    the multi-resolution one only (1.4 M parameters instead of 42 M: a CPU adversarial step costs ~2x a regression
    step instead of ~40x)."""

    def __init__(self, fft_sizes=(1024, 512, 256), use_mpd: bool = True):
        super().__init__()
        self.mpd = MultiPeriodDiscriminator() if use_mpd else None
        self.mrd = MultiResolutionDiscriminator(fft_sizes=fft_sizes)

    def forward(self, real: torch.Tensor, fake: torch.Tensor):
        """Each: `((real_logits, fake_logits, real_features, fake_features) for mpd, for mrd)`; without the
        multi-period discriminator, only the multi-resolution one's."""
        mrd = self.mrd(y=real, y_hat=fake)
        return (mrd,) if self.mpd is None else (self.mpd(y=real, y_hat=fake), mrd)


class AdversarialLosses:
    """Generator / discriminator / feature-matching losses of `vocos.loss` over both discriminators, the
    multi-resolution one weighted by `mrd_weight` (Vocos: 0.1), each averaged over its sub-discriminators. Outputs of
    the multi-resolution discriminator alone (`VocosDiscriminators(use_mpd=False)`) are weighted by `mrd_weight`."""

    def __init__(self, mrd_weight: float = 0.1):
        self.weights = (1.0, mrd_weight)
        self.generator, self.discriminator, self.feature_matching = GeneratorLoss(), DiscriminatorLoss(), FeatureMatchingLoss()

    def discriminator_loss(self, outputs) -> torch.Tensor:
        total = 0.0
        for weight, (real_logits, fake_logits, _, _) in zip(self.weights[-len(outputs):], outputs):
            loss, _, _ = self.discriminator(disc_real_outputs=real_logits, disc_generated_outputs=fake_logits)
            total = total + weight * loss / len(real_logits)
        return total.squeeze()

    def generator_losses(self, outputs) -> tuple[torch.Tensor, torch.Tensor]:
        adversarial, matching = 0.0, 0.0
        for weight, (_, fake_logits, real_features, fake_features) in zip(self.weights[-len(outputs):], outputs):
            loss, _ = self.generator(disc_outputs=fake_logits)
            adversarial = adversarial + weight * loss / len(fake_logits)
            matching = matching + weight * self.feature_matching(fmap_r=real_features, fmap_g=fake_features) / len(
                fake_logits)
        return adversarial.squeeze(), matching.squeeze()
