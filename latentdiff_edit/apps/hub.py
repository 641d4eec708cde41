"""Publishing pipelines to the Hugging Face Hub (loading them back is `latentdiff_edit.loading`).

A published folder is what `VoiceEditPipeline.save_pretrained` writes, plus a model card (`README.md`) and a copy of
the pipeline's source (`pipeline_voice_edit.py`), named in `model_index.json` as `"_class_name": ["pipeline_voice_edit",
"VoiceEditPipeline"]`. The copy lets plain diffusers load the pipeline with
`DiffusionPipeline.from_pretrained(repo_id, trust_remote_code=True)` (or `custom_pipeline="pipeline_voice_edit"`), but
that file and the denoiser component (`latentdiff_edit.models.denoiser.LatentDenoiser1D` in `model_index.json`)
import `latentdiff_edit`, so loading always needs `pip install latentdiff-edit`; the copy pins the code a checkpoint
was published with and is never imported by `VoiceEditPipeline.from_pretrained`.

    >>> from latentdiff_edit import load_pipeline
    >>> from latentdiff_edit.apps.hub import prepare_for_hub
    >>> prepare_for_hub(pipe, "hub/voice-edit", metrics={"pitch_shift_error_st": 0.4})
    >>> # huggingface_hub.upload_folder(repo_id="org/voice-edit", folder_path="hub/voice-edit")
    >>> pipe = load_pipeline("org/voice-edit")  # or a local folder; the Hub cache is tried before the network
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from .. import __version__
from ..attributes import AttributeSchema
from ..evaluation.benchmark.report import markdown_table

# Loading lives in the core (`latentdiff_edit.loading`); these names stay importable from here for the Hub's readers.
from ..loading import ModelNotFoundError, load_pipeline, model_label, resolve_model  # noqa: F401

PIPELINE_SOURCE_NAME = "pipeline_voice_edit.py"
MODEL_CARD_TAGS = [
    "audio", "speech", "voice-editing", "latent-diffusion", "ddim-inversion", "encodec", "latentdiff-edit"
]


def prepare_for_hub(
    pipe,
    output_dir: str | os.PathLike,
    metrics: dict | None = None,
    training: dict | None = None,
    repo_id: str | None = None,
) -> Path:
    """
    Write everything a Hub repository needs into `output_dir`: the pipeline (`save_pretrained`), a copy of the
    pipeline source, and a model card. Upload it with `huggingface_hub.upload_folder(repo_id=..., folder_path=...)`.

    Args:
        pipe ([`VoiceEditPipeline`]): the pipeline to publish.
        output_dir (`str` or `os.PathLike`): the folder to write (created).
        metrics (`dict`, *optional*): measured figures for the card, e.g. `{"latent_snr_db": 27.1}`.
        training (`dict`, *optional*): training data and recipe; defaults to the denoiser's `training_info`.
        repo_id (`str`, *optional*): the Hub id the card's examples use.

    Returns:
        `Path`: `output_dir`.
    """
    from ..pipelines import pipeline_voice_edit

    output_dir = Path(output_dir)
    pipe.save_pretrained(output_dir)
    shutil.copyfile(pipeline_voice_edit.__file__, output_dir / PIPELINE_SOURCE_NAME)
    # `_class_name` as `[module file, class]` is how diffusers finds a pipeline that lives in the repository
    # (`_resolve_custom_pipeline_and_cls`), so a plain `DiffusionPipeline.from_pretrained(repo, trust_remote_code=True)`
    # loads the copied source; `VoiceEditPipeline.from_pretrained` keeps using the installed class.
    index_path = output_dir / "model_index.json"
    index = json.loads(index_path.read_text())
    index["_class_name"] = [PIPELINE_SOURCE_NAME[: -len(".py")], type(pipe).__name__]
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    write_model_card(output_dir, metrics=metrics, training=training, repo_id=repo_id)
    return output_dir


def write_model_card(
    pipeline_dir: str | os.PathLike,
    metrics: dict | None = None,
    training: dict | None = None,
    repo_id: str | None = None,
) -> Path:
    """
    Write `README.md` for a saved pipeline folder: YAML front matter (`library_name: diffusers`, license, tags),
    usage, components, the attribute schema, training data and recipe, and measured figures. Everything is read from
    the folder's configs, so no weights are loaded.

    Args:
        pipeline_dir (`str` or `os.PathLike`): a folder written by `save_pretrained`.
        metrics (`dict`, *optional*): measured figures (name → number, or name → dict of numbers).
        training (`dict`, *optional*): training data and recipe; defaults to the denoiser's `training_info`.
        repo_id (`str`, *optional*): the Hub id for the usage examples (defaults to the folder name).

    Returns:
        `Path`: the card's path.
    """
    pipeline_dir = Path(pipeline_dir)
    denoiser = json.loads((pipeline_dir / "denoiser" / "config.json").read_text())
    codec = json.loads((pipeline_dir / "codec" / "config.json").read_text())
    scheduler_path = pipeline_dir / "scheduler" / "scheduler_config.json"
    scheduler = json.loads(scheduler_path.read_text()) if scheduler_path.is_file() else {}
    schema = AttributeSchema(denoiser.get("attributes") or [])
    training = training if training is not None else denoiser.get("training_info")
    repo_id = repo_id or pipeline_dir.resolve().name
    sampling_rate = codec.get("sampling_rate")
    hop = 1
    for ratio in codec.get("upsampling_ratios") or []:
        hop *= ratio

    card_data = ModelCardData(
        library_name="diffusers", license="apache-2.0", tags=MODEL_CARD_TAGS, pipeline_tag="audio-to-audio"
    )
    sections = [
        f"# {repo_id}",
        "A voice-editing pipeline of latentdiff-edit: a "
        "recording is inverted with DDIM into the noise latents of a latent diffusion model over continuous EnCodec "
        "latents, then regenerated with edited attributes (pitch, intonation, and the clip-level labels below).",
        "## Usage",
        f"```bash\npip install latentdiff-edit=={__version__}\n"
        f"latentdiff-edit edit speech.wav -o speech_up3.wav --model {repo_id} --pitch +3\n```",
        "```py\nimport soundfile as sf\nfrom latentdiff_edit import load_pipeline\n\n"
        f'pipe = load_pipeline("{repo_id}")\naudio, sr = sf.read("speech.wav")\n'
        "edited = pipe(audio=audio, sampling_rate=sr, pitch_shift=3.0).audios[0]\n"
        'sf.write("speech_up3.wav", edited, pipe.sampling_rate)\n```',
        (f"`{PIPELINE_SOURCE_NAME}` is the pipeline source this checkpoint was published with. Plain diffusers loads "
         f'it with `DiffusionPipeline.from_pretrained("{repo_id}", trust_remote_code=True)` (or with '
         f'`custom_pipeline="{PIPELINE_SOURCE_NAME[:-3]}"`), but it and the denoiser component import '
         "`latentdiff_edit`, so `pip install latentdiff-edit` is needed either way."
         if (pipeline_dir / PIPELINE_SOURCE_NAME).is_file() else
         "The pipeline class is `latentdiff_edit.VoiceEditPipeline` (`pip install latentdiff-edit`); "
         "`latentdiff_edit.apps.hub.prepare_for_hub` adds its source file for `custom_pipeline` loading."),
        "## Components",
        markdown_table(
            ["component", "details"],
            [
                ["codec", f"transformers `EncodecModel`, {sampling_rate} Hz, hop {hop} samples "
                          f"({sampling_rate / hop:g} latent frames/s), {codec.get('hidden_size')} latent channels"],
                ["denoiser", f"`LatentDenoiser1D`, hidden size {denoiser.get('hidden_size')}, "
                             f"{denoiser.get('num_layers')} layers, {denoiser.get('num_heads')} heads, "
                             f"{denoiser.get('frame_fourier_features', 0)} Fourier feature pairs per frame attribute"
                             + (" (octave-safe frequencies)" if denoiser.get("frame_fourier_frequencies") else "")
                             + (f", timbre condition ({denoiser['timbre_layers']}-layer encoder of up to "
                                f"{denoiser.get('timbre_max_frames')} clean source frames)"
                                if denoiser.get("timbre_layers") else "")],
                *([["vocoder", _vocoder_description(pipeline_dir / "vocoder" / "config.json")]]
                  if (pipeline_dir / "vocoder" / "config.json").is_file() else []),
                ["scheduler", f"`DDIMScheduler` / `DDIMInverseScheduler`, {scheduler.get('beta_schedule', '?')} "
                              f"betas, predicts `{scheduler.get('prediction_type', '?')}`"],
            ],
        ),
        "## Attribute schema",
        markdown_table(["name", "type", "values"], [[f"`{spec['name']}`", spec["type"], schema.describe(spec["name"])]
                                                     for spec in schema.specs])
        if schema.specs else "This denoiser is unconditional.",
        "## Training data and recipe",
        _key_values(training) or "Not recorded with this checkpoint.",
        "## Measured figures",
        _key_values(metrics) or "No figures were measured for this checkpoint yet; run `scripts/benchmark.py`.",
        "## Limitations",
        "Attribute values outside the ranges above are refused. Check inversion fidelity on your own recordings with "
        "`latentdiff-edit reconstruct speech.wav` before trusting an edit (latent SNR of 25 dB and above is "
        "near-transparent). Do not use the pipeline to impersonate a person or to misrepresent what they said.",
    ]
    card = ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n")
    path = pipeline_dir / "README.md"
    card.save(path)
    return path


def _vocoder_description(config_path: Path) -> str:
    config = json.loads(config_path.read_text())
    if config.get("phase") == "griffin_lim":
        return (f"`VocosVocoder` (vocos ConvNeXt backbone, {config.get('n_fft')}-point log-magnitude head; phase by "
                f"{config.get('griffin_lim_iters')} iterations of fast Griffin-Lim) decodes the latents in place of the "
                "codec's SEANet decoder")
    return ("`VocosVocoder` (vocos ConvNeXt backbone + inverse-STFT head) decodes the latents in place of the codec's "
            "SEANet decoder")


def _key_values(values: dict | None) -> str:
    if not values:
        return ""
    rows = []
    for key, value in values.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, (dict, list)):
            value = f"`{json.dumps(value, separators=(', ', ': '))}`"
        rows.append([f"`{key}`", value])
    return markdown_table(["", "value"], rows)
