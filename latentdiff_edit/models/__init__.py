from .denoiser import LatentDenoiser1D, LatentDenoiserOutput
from .vocoder import VocosVocoder, VocosVocoderOutput

__all__ = ["LatentDenoiser1D", "LatentDenoiserOutput", "VocosVocoder", "VocosVocoderOutput"]
