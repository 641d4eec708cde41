from .pipeline_voice_edit import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_INVERSION_DEPTH,
    EditDirection,
    ReconstructionOutput,
    VoiceEditPipeline,
    VoiceEditPipelineOutput,
    VoiceInversionOutput,
)

__all__ = [
    "DEFAULT_GUIDANCE_SCALE",
    "DEFAULT_INVERSION_DEPTH",
    "EditDirection",
    "ReconstructionOutput",
    "VoiceEditPipeline",
    "VoiceEditPipelineOutput",
    "VoiceInversionOutput",
]
