from .pipeline_voice_edit import (
    EditDirection,
    ReconstructionOutput,
    VoiceEditPipeline,
    VoiceEditPipelineOutput,
    VoiceInversionOutput,
)

__all__ = [
    "EditDirection",
    "ReconstructionOutput",
    "VoiceEditPipeline",
    "VoiceEditPipelineOutput",
    "VoiceInversionOutput",
]
