from .pipeline_voice_edit import (
    DEFAULT_INVERSION_DEPTH,
    EditDirection,
    ReconstructionOutput,
    VoiceEditPipeline,
    VoiceEditPipelineOutput,
    VoiceInversionOutput,
)

__all__ = [
    "DEFAULT_INVERSION_DEPTH",
    "EditDirection",
    "ReconstructionOutput",
    "VoiceEditPipeline",
    "VoiceEditPipelineOutput",
    "VoiceInversionOutput",
]
