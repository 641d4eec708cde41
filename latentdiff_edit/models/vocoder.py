"""A Vocos decoder of EnCodec latents: the `vocos` package's ConvNeXt backbone and inverse-STFT head, packaged as a
diffusers component so it saves and loads beside the codec (`vocoder/` in a pipeline folder).

Vocos (Siuzdak, 2024) predicts STFT magnitudes and phases at the latent frame rate and inverts them with one iSTFT:
no upsampling stack, so it trains fast and renders harmonics cleanly. When a pipeline has a `vocoder`, latents are
decoded by it; without one the codec's own SEANet decoder is used.

    >>> vocoder = VocosVocoder(latent_channels=64, hop_length=128, sampling_rate=16000)
    >>> audio = vocoder(latents).sample  # (batch, frames * hop_length)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from vocos.heads import ISTFTHead
from vocos.models import VocosBackbone


@dataclass
class VocosVocoderOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(batch_size, num_frames * hop_length)`): the decoded mono audio.
    """

    sample: torch.Tensor


class VocosVocoder(ModelMixin, ConfigMixin):
    """
    Latents `(batch_size, latent_channels, num_frames)` → audio `(batch_size, num_frames * hop_length)`.

    Args:
        latent_channels (`int`, *optional*, defaults to 64): channels of the codec's latents.
        dim (`int`, *optional*, defaults to 256): width of the ConvNeXt backbone.
        intermediate_dim (`int`, *optional*, defaults to 768): hidden width of each ConvNeXt block.
        num_layers (`int`, *optional*, defaults to 8): ConvNeXt blocks.
        n_fft (`int`, *optional*, defaults to 512): FFT size of the inverse-STFT head (4 × hop in Vocos).
        hop_length (`int`, *optional*, defaults to 128): samples per latent frame; must equal the codec's hop.
        sampling_rate (`int`, *optional*, defaults to 16000): the codec's rate (informational; checked by the
            pipeline).
    """

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 64,
        dim: int = 256,
        intermediate_dim: int = 768,
        num_layers: int = 8,
        n_fft: int = 512,
        hop_length: int = 128,
        sampling_rate: int = 16000,
    ):
        super().__init__()
        self.backbone = VocosBackbone(
            input_channels=latent_channels, dim=dim, intermediate_dim=intermediate_dim, num_layers=num_layers
        )
        self.head = ISTFTHead(dim=dim, n_fft=n_fft, hop_length=hop_length, padding="same")
        # the iSTFT window is a constant: not saved (a loaded copy would share its file storage, which safetensors
        # refuses to save again)
        window = self.head.istft._buffers.pop("window")
        self.head.istft.register_buffer("window", window.clone(), persistent=False)

    def forward(self, latents: torch.Tensor, return_dict: bool = True) -> VocosVocoderOutput | tuple[torch.Tensor]:
        features = self.backbone(latents)  # (B, F, dim): the backbone returns frames last-but-one
        audio = self.head(features)  # (B, F * hop)
        if not return_dict:
            return (audio,)
        return VocosVocoderOutput(sample=audio)
