"""Convert original Meta EnCodec checkpoints (the `encodec` package's `.th` files) to transformers' `EncodecModel`.

The `encodec` package saves a plain `state_dict()` with `torch.save` (`encodec_24khz-d7cc33bc.th`); training code
around it often wraps that dict (`{"model": ...}`, `{"state_dict": ...}`, audiocraft's `{"best_state": ...}`). Both
forms are accepted. Every tensor is mapped by name, derived from the two module trees:

| `encodec` (original)                                   | transformers                                      |
|--------------------------------------------------------|---------------------------------------------------|
| `encoder.model.{i}.conv.conv.{weight_g,weight_v,bias}` | `encoder.layers.{i}.conv.{g,v,bias}`              |
| `encoder.model.{i}.conv.norm.{weight,bias}`            | `encoder.layers.{i}.norm.{weight,bias}`           |
| `encoder.model.{i}.block.{1,3}.conv.conv.*`            | `encoder.layers.{i}.block.{1,3}.conv.*`           |
| `encoder.model.{i}.shortcut.conv.conv.*`               | `encoder.layers.{i}.shortcut.conv.*`              |
| `encoder.model.{i}.lstm.{weight,bias}_{ih,hh}_l{k}`    | `encoder.layers.{i}.lstm.{weight,bias}_{ih,hh}_l{k}` |
| `decoder.model.{i}.convtr.convtr.*` / `.convtr.norm.*` | `decoder.layers.{i}.conv.*` / `.norm.*`           |
| `quantizer.vq.layers.{n}._codebook.{embed,...}`        | `quantizer.layers.{n}.codebook.{embed,...}`       |

where `{g,v}` is `parametrizations.weight.original{0,1}` (transformers registers weight norm with
`torch.nn.utils.parametrizations.weight_norm` when torch has it) or `weight_g/weight_v` (older torch).

Usage: `python -m latentdiff_edit.convert IN.th OUT_DIR [--config CONFIG.json]`.
"""

from __future__ import annotations

import argparse
import math
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from transformers import EncodecConfig, EncodecModel

# Keys under which training code nests the model's state dict, tried in this order.
_WRAPPER_KEYS = ("best_state", "model", "state_dict", "state", "model_state_dict")

_LSTM_PARAMS = ("weight_ih_l{k}", "weight_hh_l{k}", "bias_ih_l{k}", "bias_hh_l{k}")
_CODEBOOK_BUFFERS = ("inited", "cluster_size", "embed", "embed_avg")

# Released `encodec` models: settings that leave no trace in the weights (causality, sample rate, bandwidths,
# chunking), keyed by what does show in the weights (audio channels, normalization).
_RELEASED = {
    (1, "weight_norm"): dict(
        sample_rate=24_000, causal=True, target_bandwidths=(1.5, 3.0, 6.0, 12.0, 24.0), audio_normalize=False
    ),
    (2, "time_group_norm"): dict(
        sample_rate=48_000,
        causal=False,
        target_bandwidths=(3.0, 6.0, 12.0, 24.0),
        audio_normalize=True,
        segment=1.0,
    ),
}


def encodec_config_from_seanet(
    *,
    ratios: Sequence[int] = (8, 5, 4, 2),
    dimension: int = 128,
    n_filters: int = 32,
    sample_rate: int = 24_000,
    channels: int = 1,
    causal: bool = True,
    norm: str = "weight_norm",
    n_residual_layers: int = 1,
    lstm: int = 2,
    true_skip: bool = False,
    compress: int = 2,
    kernel_size: int = 7,
    last_kernel_size: int = 7,
    residual_kernel_size: int = 3,
    dilation_base: int = 2,
    pad_mode: str = "reflect",
    trim_right_ratio: float = 1.0,
    bins: int = 1024,
    n_q: int | None = None,
    target_bandwidths: Sequence[float] = (1.5, 3.0, 6.0, 12.0, 24.0),
    audio_normalize: bool = False,
    segment: float | None = None,
    overlap: float = 0.01,
) -> EncodecConfig:
    """`EncodecConfig` matching an `encodec.EncodecModel` built from SEANet modules and a `ResidualVectorQuantizer`.

    Argument names and defaults follow the `encodec` package (SEANet arguments, `ResidualVectorQuantizer(bins, n_q)`,
    `EncodecModel(sample_rate, channels, normalize, segment, overlap)`); defaults describe `encodec_24khz`. The
    encoder and decoder must share their SEANet arguments, use ELU(alpha=1) activations and no final activation,
    which is all transformers implements.

    Args:
        ratios: Decoder (upsampling) ratios, as passed to both SEANet modules.
        dimension: Latent channels (`hidden_size`).
        n_q: Number of codebooks in the checkpoint. transformers derives it from `target_bandwidths[-1]`, so when
            given it is checked against that, and a mismatch raises `ValueError`.
        target_bandwidths: Bandwidths in kbps; the last one sets the number of codebooks.
        audio_normalize: `EncodecModel(normalize=...)`.
        segment: `EncodecModel(segment=...)` in seconds (`chunk_length_s`); `overlap` only applies with it.
    """
    if norm not in ("weight_norm", "time_group_norm"):
        raise ValueError(f"transformers' EnCodec supports norm 'weight_norm' or 'time_group_norm', got {norm!r}")
    if lstm < 1:
        # transformers' encoder and decoder always contain an LSTM.
        raise ValueError(f"transformers' EnCodec needs at least one LSTM layer, got lstm={lstm}")
    config = EncodecConfig(
        target_bandwidths=[float(b) for b in target_bandwidths],
        sampling_rate=sample_rate,
        audio_channels=channels,
        normalize=audio_normalize,
        chunk_length_s=segment,
        overlap=overlap if segment is not None else None,
        hidden_size=dimension,
        num_filters=n_filters,
        num_residual_layers=n_residual_layers,
        upsampling_ratios=list(ratios),
        norm_type=norm,
        kernel_size=kernel_size,
        last_kernel_size=last_kernel_size,
        residual_kernel_size=residual_kernel_size,
        dilation_growth_rate=dilation_base,
        use_causal_conv=causal,
        pad_mode=pad_mode,
        compress=compress,
        num_lstm_layers=lstm,
        trim_right_ratio=trim_right_ratio,
        codebook_size=bins,
        codebook_dim=dimension,
        use_conv_shortcut=not true_skip,
    )
    if n_q is not None and config.num_quantizers != n_q:
        bandwidth = _bandwidth_for(n_q, config.frame_rate, config.codebook_nbits)
        raise ValueError(
            f"target_bandwidths={list(target_bandwidths)} give {config.num_quantizers} codebooks in transformers "
            f"(1000 * bandwidth // (frame_rate {config.frame_rate} * {config.codebook_nbits} bits)), but the model "
            f"has n_q={n_q}; pass a last bandwidth of {bandwidth} kbps"
        )
    return config


def _bandwidth_for(n_q: int, frame_rate: int, bits: int) -> float:
    """Smallest kbps for which transformers' `1000 * bandwidth // (frame_rate * bits)` gives `n_q` codebooks."""
    bandwidth = n_q * frame_rate * bits / 1000
    while int(1000 * bandwidth // (frame_rate * bits)) < n_q:  # float rounding can land just below
        bandwidth = math.nextafter(bandwidth, math.inf)
    return bandwidth


def _unwrap_state_dict(checkpoint: object, path: str | Path) -> dict[str, torch.Tensor]:
    """The tensor dict inside a raw or wrapped checkpoint."""
    obj = checkpoint
    for _ in range(3):  # audiocraft nests two deep: {"best_state": {"model": state_dict}}
        if not isinstance(obj, Mapping):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    top = list(checkpoint) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
    raise ValueError(
        f"{path}: no EnCodec state dict found (expected a dict of tensors, or one under any of {_WRAPPER_KEYS}); "
        f"top level: {top}"
    )


def _normalize_source_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip a DDP `module.` prefix and spell weight norm as `weight_g/weight_v`, as `encodec` itself saves it."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}
    # A checkpoint re-saved with torch's parametrized weight norm carries the same g and v under other names.
    renamed = {}
    for key, value in state_dict.items():
        key = re.sub(r"\.parametrizations\.weight\.original0$", ".weight_g", key)
        key = re.sub(r"\.parametrizations\.weight\.original1$", ".weight_v", key)
        renamed[key] = value
    return renamed


def _infer_seanet_kwargs(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """Arguments of `encodec_config_from_seanet` that can be read off the weight shapes of a checkpoint.

    Convolution kernel sizes give the ratios (SEANet down/upsampling kernels are `2 * ratio`); settings invisible in
    the weights (causality, sample rate, bandwidths, dilations, padding mode) come from the released model with the
    same channel count and normalization.
    """
    norm = "weight_norm" if "encoder.model.0.conv.conv.weight_v" in state_dict else "time_group_norm"
    weight = "weight_v" if norm == "weight_norm" else "weight"
    if f"encoder.model.0.conv.conv.{weight}" not in state_dict:
        raise ValueError("cannot infer an EncodecConfig: no `encoder.model.0.conv.conv.*` weight; pass `config`")

    def conv_weight(index: int) -> torch.Tensor | None:
        return state_dict.get(f"encoder.model.{index}.conv.conv.{weight}")

    if not any(k.startswith("encoder.model.") and ".lstm." in k for k in state_dict):
        # transformers always has the LSTM; without it the layout walk below would also be ambiguous.
        raise ValueError("checkpoint encoder has no LSTM, which transformers' EncodecModel cannot represent")
    first = conv_weight(0)
    n_filters, channels, kernel_size = first.shape
    # Walk the encoder: per ratio, resnet blocks then (ELU, strided conv); then LSTM, ELU, last conv.
    index, ratios_reversed, n_residual_layers = 1, [], 0
    block_key = f"encoder.model.{{}}.block.1.conv.conv.{weight}"
    while True:
        blocks = 0
        while block_key.format(index) in state_dict:
            blocks, index = blocks + 1, index + 1
        down = conv_weight(index + 1)
        if down is None:
            if blocks:
                raise ValueError(f"cannot infer an EncodecConfig: no downsampling conv at encoder.model.{index + 1}")
            break  # `index` is the LSTM
        n_residual_layers = blocks
        ratios_reversed.append(down.shape[-1] // 2)
        index += 2
    lstm = sum(1 for k in range(16) if f"encoder.model.{index}.lstm.weight_ih_l{k}" in state_dict)
    last = conv_weight(index + 2)
    if not ratios_reversed or not lstm or last is None:
        raise ValueError("cannot infer an EncodecConfig from the encoder layout; pass `config`")
    # The first resnet block works at n_filters channels and squeezes them to n_filters // compress.
    residual = state_dict.get(block_key.format(1))
    codebooks = [k for k in state_dict if re.fullmatch(r"quantizer\.vq\.layers\.\d+\._codebook\.embed", k)]
    if not codebooks:
        raise ValueError("cannot infer an EncodecConfig: no `quantizer.vq.layers.*._codebook.embed`; pass `config`")

    released = _RELEASED.get((channels, norm))
    if released is None:
        raise ValueError(
            f"cannot infer sample rate, causality and bandwidths for a {channels}-channel {norm} checkpoint (no "
            "released EnCodec model has that); pass `config`, e.g. from `encodec_config_from_seanet`"
        )
    kwargs = dict(released)
    n_q = len(codebooks)
    bins = state_dict["quantizer.vq.layers.0._codebook.embed"].shape[0]
    # transformers takes the codebook count from the last bandwidth: keep the released ladder when it gives n_q.
    frame_rate = math.ceil(kwargs["sample_rate"] / math.prod(ratios_reversed))
    bits = math.ceil(math.log2(bins))
    if int(1000 * kwargs["target_bandwidths"][-1] // (frame_rate * bits)) != n_q:
        kwargs["target_bandwidths"] = (_bandwidth_for(n_q, frame_rate, bits),)
    kwargs.update(
        ratios=list(reversed(ratios_reversed)),
        dimension=last.shape[0],
        n_filters=n_filters,
        channels=channels,
        norm=norm,
        n_residual_layers=n_residual_layers,
        lstm=lstm,
        true_skip=f"encoder.model.1.shortcut.conv.conv.{weight}" not in state_dict,
        compress=n_filters // residual.shape[0] if residual is not None else 2,
        kernel_size=kernel_size,
        last_kernel_size=last.shape[-1],
        residual_kernel_size=residual.shape[-1] if residual is not None else 3,
        bins=bins,
        n_q=n_q,
    )
    return kwargs


def _conv_pairs(src: str, dst: str, norm_type: str, weight_norm_names: tuple[str, str]) -> list[tuple[str, str]]:
    """(original, transformers) names of one normalized convolution.

    `src` is the original's inner conv module (`...conv.conv`), whose sibling `...conv.norm` holds the group norm;
    `dst` is the transformers `EncodecConv1d`/`EncodecConvTranspose1d`.
    """
    inner, norm = src, src.rsplit(".", 1)[0] + ".norm"
    if norm_type == "weight_norm":
        g, v = weight_norm_names
        return [
            (f"{inner}.weight_g", f"{dst}.conv.{g}"),
            (f"{inner}.weight_v", f"{dst}.conv.{v}"),
            (f"{inner}.bias", f"{dst}.conv.bias"),
        ]
    return [
        (f"{inner}.weight", f"{dst}.conv.weight"),
        (f"{inner}.bias", f"{dst}.conv.bias"),
        (f"{norm}.weight", f"{dst}.norm.weight"),
        (f"{norm}.bias", f"{dst}.norm.bias"),
    ]


def _key_mapping(config: EncodecConfig, weight_norm_names: tuple[str, str]) -> list[tuple[str, str]]:
    """Every (original key, transformers key) pair for `config`, laid out like `SEANetEncoder`/`SEANetDecoder`."""
    pairs: list[tuple[str, str]] = []
    norm = config.norm_type

    def sconv(side: str, i: int) -> None:  # SConv1d -> EncodecConv1d
        pairs.extend(_conv_pairs(f"{side}.model.{i}.conv.conv", f"{side}.layers.{i}", norm, weight_norm_names))

    def sconvtr(side: str, i: int) -> None:  # SConvTranspose1d -> EncodecConvTranspose1d
        pairs.extend(_conv_pairs(f"{side}.model.{i}.convtr.convtr", f"{side}.layers.{i}", norm, weight_norm_names))

    def resblock(side: str, i: int) -> None:  # SEANetResnetBlock -> EncodecResnetBlock: [ELU, conv, ELU, conv]
        for j in (1, 3):
            src, dst = f"{side}.model.{i}.block.{j}.conv.conv", f"{side}.layers.{i}.block.{j}"
            pairs.extend(_conv_pairs(src, dst, norm, weight_norm_names))
        if config.use_conv_shortcut:
            src, dst = f"{side}.model.{i}.shortcut.conv.conv", f"{side}.layers.{i}.shortcut"
            pairs.extend(_conv_pairs(src, dst, norm, weight_norm_names))

    def slstm(side: str, i: int) -> None:  # SLSTM.lstm -> EncodecLSTM.lstm, same nn.LSTM parameter names
        for k in range(config.num_lstm_layers):
            for name in _LSTM_PARAMS:
                name = name.format(k=k)
                pairs.append((f"{side}.model.{i}.lstm.{name}", f"{side}.layers.{i}.lstm.{name}"))

    # Both implementations index the same nn.Sequential / nn.ModuleList positions, ELUs included.
    i = 0
    sconv("encoder", i)
    i += 1
    for _ in reversed(config.upsampling_ratios):
        for _ in range(config.num_residual_layers):
            resblock("encoder", i)
            i += 1
        sconv("encoder", i + 1)  # after the ELU
        i += 2
    slstm("encoder", i)
    sconv("encoder", i + 2)  # after LSTM, ELU

    i = 0
    sconv("decoder", i)
    slstm("decoder", i + 1)
    i += 2
    for _ in config.upsampling_ratios:
        sconvtr("decoder", i + 1)  # after the ELU
        i += 2
        for _ in range(config.num_residual_layers):
            resblock("decoder", i)
            i += 1
    sconv("decoder", i + 1)  # after the ELU

    for n in range(config.num_quantizers):
        for name in _CODEBOOK_BUFFERS:
            pairs.append((f"quantizer.vq.layers.{n}._codebook.{name}", f"quantizer.layers.{n}.codebook.{name}"))
    return pairs


def _weight_norm_names(model: EncodecModel) -> tuple[str, str]:
    """How this transformers/torch pair names weight norm's g and v on a conv."""
    conv = model.encoder.layers[0].conv
    if hasattr(conv, "parametrizations"):
        return "parametrizations.weight.original0", "parametrizations.weight.original1"
    return "weight_g", "weight_v"


def load_encodec_state_dict(checkpoint_path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of an original EnCodec `.th` checkpoint, unwrapped and with `encodec`'s own key spelling."""
    try:
        # weights_only=True: a checkpoint is data, never code to run.
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{checkpoint_path} holds objects other than tensors and plain containers, which are not loaded "
            f"(weights_only=True); re-save just the model's state_dict(): {error}"
        ) from error
    return _normalize_source_keys(_unwrap_state_dict(checkpoint, checkpoint_path))


def convert_encodec_checkpoint(checkpoint_path: str | Path, config: EncodecConfig | None = None) -> EncodecModel:
    """Load an original Meta EnCodec checkpoint into transformers' `EncodecModel`.

    Args:
        checkpoint_path: A `.th` file as saved by the `encodec` package (`torch.save(model.state_dict())`) or a
            training checkpoint wrapping such a dict.
        config: Architecture of the checkpoint, e.g. from `encodec_config_from_seanet`. Without it, the layout is
            read off the weight shapes and the settings weights cannot show (sample rate, causality, bandwidths)
            are taken from the released model with the same channels and norm (24 kHz mono causal, or 48 kHz
            stereo non-causal).

    Returns:
        The model in eval mode, with every tensor of the checkpoint copied in.

    Raises:
        ValueError: If any checkpoint key is not mapped, any model tensor gets no value, or any shape differs.
    """
    state_dict = load_encodec_state_dict(checkpoint_path)
    if config is None:
        config = encodec_config_from_seanet(**_infer_seanet_kwargs(state_dict))
    model = EncodecModel(config)
    target = model.state_dict()
    pairs = _key_mapping(config, _weight_norm_names(model))

    mapped_sources = {src for src, _ in pairs}
    mapped_targets = {dst for _, dst in pairs}
    problems = []
    unexpected = sorted(set(state_dict) - mapped_sources)
    if unexpected:
        problems.append(f"checkpoint keys with no place in the model: {unexpected}")
    missing = sorted(src for src in mapped_sources if src not in state_dict)
    if missing:
        problems.append(f"keys the model needs but the checkpoint lacks: {missing}")
    unfilled = sorted(set(target) - mapped_targets)
    if unfilled:  # the mapping must cover the whole model, or some tensors would keep their random init
        problems.append(f"transformers tensors not covered by the mapping: {unfilled}")
    unknown = sorted(mapped_targets - set(target))
    if unknown:
        problems.append(f"mapped names missing from transformers' model: {unknown}")
    shapes = [
        f"{src} {tuple(state_dict[src].shape)} -> {dst} {tuple(target[dst].shape)}"
        for src, dst in pairs
        if src in state_dict and dst in target and state_dict[src].shape != target[dst].shape
    ]
    if shapes:
        problems.append(f"shape mismatches: {shapes}")
    if problems:
        raise ValueError(f"cannot convert {checkpoint_path} to EncodecModel:\n  " + "\n  ".join(problems))

    # strict=True as a second guard: the checks above already make the two key sets equal.
    model.load_state_dict({dst: state_dict[src] for src, dst in pairs}, strict=True)
    return model.eval()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Convert an original EnCodec .th checkpoint to transformers.")
    parser.add_argument("checkpoint", type=Path, help="original `encodec` checkpoint (.th)")
    parser.add_argument("output_dir", type=Path, help="directory for save_pretrained (config.json + safetensors)")
    parser.add_argument(
        "--config", type=Path, default=None, help="EncodecConfig JSON file (or a directory with config.json)"
    )
    args = parser.parse_args(argv)
    config = None
    if args.config is not None:
        config = (
            EncodecConfig.from_pretrained(args.config)
            if args.config.is_dir()
            else EncodecConfig.from_json_file(args.config)
        )
    model = convert_encodec_checkpoint(args.checkpoint, config)
    model.save_pretrained(args.output_dir)
    print(f"saved {sum(p.numel() for p in model.parameters()):,} parameters to {args.output_dir}")


if __name__ == "__main__":
    main()
