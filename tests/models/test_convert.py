"""Conversion of original `encodec` checkpoints: a tiny random original model must give the same numbers after."""

from __future__ import annotations

import pytest
import torch
from encodec.model import EncodecModel as OriginalEncodecModel
from encodec.modules import SEANetDecoder, SEANetEncoder
from encodec.quantization import ResidualVectorQuantizer
from transformers import EncodecModel

from latentdiff_edit.convert import convert_encodec_checkpoint, encodec_config_from_seanet, main

# encodec builds its convs with the deprecated torch.nn.utils.weight_norm.
pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")

SEANET = dict(dimension=16, n_filters=4, ratios=[4, 2], lstm=1, channels=1)
QUANTIZER = dict(n_q=2, bins=16)
SAMPLE_RATE = 8000
# 2 codebooks of 4 bits at 1000 frames/s: 8 kbps for all of them, in both implementations' formulas.
BANDWIDTHS = [4.0, 8.0]


def build_original(causal: bool, norm: str) -> OriginalEncodecModel:
    """A tiny original EnCodec with every tensor random, so a misplaced tensor shows in the outputs."""
    torch.manual_seed(0)
    seanet = dict(SEANET, causal=causal, norm=norm)
    model = OriginalEncodecModel(
        SEANetEncoder(**seanet),
        SEANetDecoder(**seanet),
        ResidualVectorQuantizer(dimension=SEANET["dimension"], **QUANTIZER),
        target_bandwidths=BANDWIDTHS,
        sample_rate=SAMPLE_RATE,
        channels=1,
    )
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("weight_g"):
                tensor.copy_(0.5 + torch.rand_like(tensor))  # weight norm's g is 1-ish at init: make it matter
            elif name.endswith("inited"):
                tensor.fill_(1.0)
            else:
                tensor.copy_(0.3 * torch.randn_like(tensor))
    return model.eval()


def original_config(causal: bool, norm: str):
    return encodec_config_from_seanet(
        **SEANET, **QUANTIZER, causal=causal, norm=norm, sample_rate=SAMPLE_RATE, target_bandwidths=BANDWIDTHS
    )


def assert_same_model(original: OriginalEncodecModel, converted: EncodecModel) -> None:
    torch.manual_seed(1)
    audio = torch.randn(2, 1, 8 * 20)
    latents = torch.randn(2, SEANET["dimension"], 20)
    with torch.no_grad():
        torch.testing.assert_close(converted.encoder(audio), original.encoder(audio), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(converted.decoder(latents), original.decoder(latents), atol=1e-5, rtol=1e-5)
        # Codebooks: same codes for the same latents, and the same dequantized latents from them.
        codes = original.quantizer.encode(latents, original.frame_rate)
        torch.testing.assert_close(converted.quantizer.encode(latents), codes)
        torch.testing.assert_close(converted.quantizer.decode(codes), original.quantizer.decode(codes))


@pytest.mark.parametrize(("causal", "norm"), [(True, "weight_norm"), (False, "time_group_norm")])
def test_converted_model_matches_original(tmp_path, causal, norm):
    original = build_original(causal, norm)
    path = tmp_path / "encodec.th"
    torch.save(original.state_dict(), path)  # what the encodec package's released .th files hold

    converted = convert_encodec_checkpoint(path, original_config(causal, norm))

    assert_same_model(original, converted)


def test_config_inferred_from_weights_and_cli_round_trip(tmp_path):
    original = build_original(causal=True, norm="weight_norm")
    path = tmp_path / "wrapped.th"
    torch.save({"model": original.state_dict(), "epoch": 3}, path)  # training-style wrapper

    inferred = convert_encodec_checkpoint(path).config
    expected = original_config(causal=True, norm="weight_norm")
    assert list(inferred.upsampling_ratios) == list(expected.upsampling_ratios)
    for field in ("hidden_size", "num_filters", "num_residual_layers", "num_lstm_layers", "codebook_size", "compress"):
        assert getattr(inferred, field) == getattr(expected, field), field
    assert inferred.num_quantizers == QUANTIZER["n_q"]
    assert inferred.use_causal_conv and inferred.norm_type == "weight_norm"

    out_dir = tmp_path / "hf"
    main([str(path), str(out_dir)])
    assert (out_dir / "model.safetensors").is_file()
    assert_same_model(original, EncodecModel.from_pretrained(out_dir).eval())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("extra", "encoder.model.0.conv.conv.weight_x"),
        ("rename", "decoder.model.1.lstm.bias_hh_l0"),
        ("reshape", "quantizer.vq.layers.1._codebook.embed"),
    ],
)
def test_bad_checkpoint_raises(tmp_path, edit, message):
    state_dict = build_original(causal=True, norm="weight_norm").state_dict()
    if edit == "extra":
        state_dict[message] = torch.zeros(1)
    elif edit == "rename":
        state_dict["decoder.model.1.lstm.bias_hh_lX"] = state_dict.pop(message)
    else:
        state_dict[message] = torch.zeros(8, SEANET["dimension"])
    path = tmp_path / "bad.th"
    torch.save(state_dict, path)

    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        convert_encodec_checkpoint(path, original_config(causal=True, norm="weight_norm"))
