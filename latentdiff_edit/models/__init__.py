from .denoiser import LatentDenoiser1D, LatentDenoiserOutput

__all__ = ["LatentDenoiser1D", "LatentDenoiserOutput"]
