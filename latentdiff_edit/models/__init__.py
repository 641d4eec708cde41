from .denoiser import LatentDenoiser1D, LatentDenoiserOutput
from .vocoder import VocosVocoder, VocosVocoderOutput
