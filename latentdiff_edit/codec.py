"""Continuous EnCodec latents with transformers' `EncodecModel`.

The latent space is the encoder's output *before* residual vector quantization: `(batch, hidden_size, frames)`,
e.g. 128 channels at 75 frames/s for `facebook/encodec_24khz`. The decoder maps it back to audio.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from transformers import EncodecModel


def hop_length(codec: EncodecModel) -> int:
    return int(codec.config.hop_length)


def num_latent_frames(codec: EncodecModel, num_samples: int) -> int:
    return math.ceil(num_samples / hop_length(codec))


def encode(codec: EncodecModel, audio: torch.Tensor) -> torch.Tensor:
    """`(batch, num_samples)` mono audio at the codec's rate → continuous latents `(batch, channels, frames)`.

    The audio is zero-padded to a whole number of hops so that `frames = ceil(num_samples / hop)`; `decode` trims
    back to the exact length.
    """
    if audio.ndim != 2:
        raise ValueError(f"`audio` must be (batch, num_samples), got shape {tuple(audio.shape)}")
    hop = hop_length(codec)
    padded = F.pad(audio, (0, (-audio.shape[-1]) % hop))
    if codec.config.normalize:
        raise ValueError("codecs with `normalize=True` scale each clip; use a codec config with normalize=False")
    return codec.encoder(padded[:, None, :].to(codec.dtype))  # (B, C, F)


def decode(
    codec: EncodecModel, latents: torch.Tensor, num_samples: int | None = None, vocoder: torch.nn.Module | None = None
) -> torch.Tensor:
    """Continuous latents `(batch, channels, frames)` → mono audio `(batch, num_samples)`, by `vocoder` (a
    [`~latentdiff_edit.models.VocosVocoder`] trained on this codec's latents) when given, else by the codec's own
    decoder."""
    if vocoder is not None:
        audio = vocoder(latents.to(vocoder.dtype)).sample  # (B, F * hop)
    else:
        audio = codec.decoder(latents.to(codec.dtype))[:, 0]  # (B, F * hop)
    if num_samples is not None:
        audio = audio[:, :num_samples]
    return audio
