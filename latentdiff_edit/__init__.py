"""latentdiff-edit: precise voice editing by latent space inversion."""

__version__ = "0.15.0"

from .attributes import AttributeSchema, SourceAttributes
from .audio import AudioInputError
from .defaults import DEFAULT_GUIDANCE_SCALE, DEFAULT_INVERSION_DEPTH
from .loading import DEFAULT_MODEL_DIR, load_default_pipeline, load_pipeline
from .models import LatentDenoiser1D, LatentDenoiserOutput
from .pipelines import (
    EditDirection,
    ReconstructionOutput,
    VoiceEditPipeline,
    VoiceEditPipelineOutput,
    VoiceInversionOutput,
)

__all__ = [
    "AttributeSchema",
    "AudioInputError",
    "DEFAULT_GUIDANCE_SCALE",
    "DEFAULT_INVERSION_DEPTH",
    "DEFAULT_MODEL_DIR",
    "EditDirection",
    "LatentDenoiser1D",
    "LatentDenoiserOutput",
    "ReconstructionOutput",
    "SourceAttributes",
    "VoiceEditPipeline",
    "VoiceEditPipelineOutput",
    "VoiceInversionOutput",
    "load_default_pipeline",
    "load_pipeline",
]
