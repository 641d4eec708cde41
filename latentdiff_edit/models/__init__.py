from .denoiser import LatentDenoiser1D, LatentDenoiserOutput
