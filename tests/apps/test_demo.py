"""The web demo on a tiny pipeline: its API through `gradio_client` against a server on 127.0.0.1 (edits, the report,
the download's provenance, bad input as messages), controls built from the schema, and the refusal of remote hosts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import latentdiff_edit
from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.apps.cli import build_parser, main
from latentdiff_edit.apps.credentials import read_credentials
from latentdiff_edit.apps.demo import ATTRIBUTE_PREFIX, KEEP, build_demo, check_host, is_local_host
from latentdiff_edit.apps.editing import read_provenance
from latentdiff_edit.apps.hub import load_pipeline
from latentdiff_edit.evaluation.report import REPORT_ATTRIBUTES
from latentdiff_edit.testing import harmonic_tone, tiny_components, tiny_denoiser

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

SR = 8000
MAX_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_pipeline_dir):
    """The demo of the tiny pipeline served on 127.0.0.1 (clips up to MAX_SECONDS); closed after the module."""
    demo = build_demo(load_pipeline(tiny_pipeline_dir), max_seconds=MAX_SECONDS)
    demo.queue(default_concurrency_limit=1)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False, download_files=True)


def write(path, audio, rate, subtype="FLOAT"):
    sf.write(path, audio, rate, subtype=subtype)
    return str(path)


def test_edit_through_the_api(client, tmp_path):
    path = write(tmp_path / "speech.wav", harmonic_tone(150.0, 0.6, SR), SR)
    before, after, plot, markdown, download, report = client.predict(
        audio_path=handle_file(path), pitch=3, set_style="high-wide-fast", set_rate="4", steps=2, seed=7,
        api_name="/edit",
    )
    source, _ = sf.read(path)
    edited, rate = sf.read(after)
    assert rate == SR and edited.shape == source.shape and np.isfinite(edited).all()
    assert sf.read(before)[0].shape == source.shape
    assert open(plot, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    # the shared disentanglement report: every attribute, asked or not, and the targets that were set
    attributes = report["attributes"]
    assert set(attributes) == set(REPORT_ATTRIBUTES)
    assert attributes["pitch"]["asked"] and attributes["pitch"]["requested"] == 3.0
    assert isinstance(attributes["pitch"]["measured"], float)
    assert not attributes["duration"]["asked"] and attributes["duration"]["requested"] == 1.0
    assert not attributes["loudness"]["asked"] and isinstance(attributes["loudness"]["measured"], float)
    assert report["targets"]["style"] == {"requested": "high-wide-fast", "measured": None}
    assert report["targets"]["rate"]["requested"] == 4.0 and report["targets"]["rate"]["measured"] > 0
    assert report["measured"]["source_f0_hz"] == pytest.approx(150, abs=5)
    assert report["source"] == {"duration_s": 0.6, "input_sampling_rate": SR, "input_channels": 1,
                                "edited_span_s": [0.0, 0.6]}
    assert "pitch +3 st" in report["edit"] and "2 steps" in report["edit"] and "seed 7" in report["edit"]
    assert "| pitch | +3.00 st |" in markdown and "| style (target) | high-wide-fast |" in markdown
    assert "| should not change |" in markdown and "| loudness |" in markdown

    # the download is the file the command line would have written: same samples, provenance tags
    assert sf.read(download)[0].shape == source.shape
    record = read_provenance(download)
    assert record["tool"] == "latentdiff-edit" and record["operation"] == "edit" and record["source"] == "speech.wav"
    assert record["pitch"] == 3.0 and record["attributes"] == {"style": "high-wide-fast", "rate": 4.0}
    assert record["steps"] == 2 and record["seed"] == 7 and "pitch_shift_st" in record["measured"]
    assert record["depth"] == 0.8 and "depth 0.8" in report["edit"]  # automatic depth, raising the pitch
    credentials = read_credentials(download)  # signed Content Credentials, the upload as parent ingredient
    assert credentials.signature_valid and not credentials.tampered
    assert [ingredient.get("title") for ingredient in credentials.ingredients] == ["speech.wav"]


def test_stereo_upload_at_another_rate_and_a_segment(client, tmp_path):
    tone = harmonic_tone(150.0, 1.0, 16000)
    path = write(tmp_path / "stereo.flac", np.stack([tone, 0.5 * tone], axis=1), 16000, subtype="PCM_16")
    _, after, _, _, _, report = client.predict(audio_path=handle_file(path), pitch=-2, steps=2, start="0.25",
                                               end="0.75", api_name="/edit")
    edited, rate = sf.read(after)
    assert rate == SR and edited.shape == (SR,)  # mono at the model's rate, as long as the input
    assert report["source"]["input_sampling_rate"] == 16000 and report["source"]["input_channels"] == 2
    assert report["source"]["edited_span_s"] == [0.25, 0.75]
    assert read_provenance(after)["segment"] == [0.25, 0.75]
    assert read_provenance(after)["depth"] == 0.7  # automatic depth, lowering the pitch

    # the depth asked for, once the automatic choice is off
    _, after, _, _, _, report = client.predict(audio_path=handle_file(path), pitch=-2, steps=2, depth_auto=False,
                                               depth=0.5, api_name="/edit")
    assert read_provenance(after)["depth"] == 0.5 and "depth 0.5" in report["edit"]


def write_text(path, text):
    path.write_text(text)
    return str(path)


def test_speaking_rate(client, tmp_path):
    path = write(tmp_path / "speech.wav", harmonic_tone(150.0, 1.0, SR), SR)
    _, after, _, _, _, report = client.predict(audio_path=handle_file(path), rate=1.25, steps=2, api_name="/edit")
    edited, _ = sf.read(after)
    assert abs(len(edited) - SR / 1.25) <= 0.02 * SR  # duration / 1.25, to a latent frame or two
    assert report["attributes"]["rate"]["asked"] and report["attributes"]["rate"]["requested"] == 1.25
    assert read_provenance(after)["rate"] == 1.25


@pytest.mark.parametrize(
    "make, kwargs, message",
    [
        (lambda p: write_text(p, "not audio"), {}, "cannot read clip.wav as audio"),
        (lambda p: write(p, np.zeros(SR, dtype=np.float32), SR), {}, "silent"),
        (lambda p: write(p, np.full(SR, np.nan, dtype=np.float32), SR), {}, "NaN"),
        (lambda p: write(p, harmonic_tone(150.0, MAX_SECONDS + 0.5, SR), SR), {}, "too long"),
        (lambda p: write(p, harmonic_tone(150.0, 0.6, SR), SR), {"set_rate": "99"}, "outside the range"),
        (lambda p: write(p, harmonic_tone(150.0, 0.6, SR), SR), {"set_rate": "fast"}, "must be a number"),
        (lambda p: write(p, harmonic_tone(150.0, 0.6, SR), SR), {"start": "0.5", "end": "0.2"}, "must come after"),
        (lambda p: write(p, harmonic_tone(150.0, 0.6, SR), SR), {"mode": "direction"}, "at least one attribute"),
        (lambda p: write(p, harmonic_tone(150.0, 0.6, SR), SR), {"rate": 1.25, "start": "0.1"}, "whole file"),
    ],
    ids=["not-audio", "silence", "nan", "too-long", "out-of-range", "not-a-number", "bad-span", "direction-alone",
         "rate-and-span"],
)
def test_bad_input_is_a_message_not_a_traceback(client, tmp_path, make, kwargs, message):
    path = make(tmp_path / "clip.wav")
    with pytest.raises(AppError) as error:
        client.predict(audio_path=handle_file(path), steps=2, api_name="/edit", **kwargs)
    assert message in str(error.value)
    assert "Traceback" not in str(error.value) and "/tmp" not in str(error.value)


def test_controls_follow_the_schema():
    schema = [{"name": "f0", "type": "frame", "dim": 2}, {"name": "energy", "type": "frame", "dim": 1},
              {"name": "breathiness", "type": "continuous", "min": 0.0, "max": 1.0},
              {"name": "emotion", "type": "categorical", "categories": ["calm", "angry"]}]
    pipe = VoiceEditPipeline(**{**tiny_components(), "denoiser": tiny_denoiser(schema=schema)})
    demo = build_demo(pipe)
    components = {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert {"pitch", "intonation-scale", "attribute-breathiness", "attribute-emotion"} <= set(components)
    assert not {"attribute-f0", "attribute-energy", "attribute-style", "attribute-rate"} & set(components)
    assert [choice[1] for choice in components["attribute-emotion"].choices] == [KEEP, "calm", "angry"]
    assert "0.00 to 1.00" in components["attribute-breathiness"].placeholder
    parameters = [p["parameter_name"] for p in demo.get_api_info()["named_endpoints"]["/edit"]["parameters"]]
    assert f"{ATTRIBUTE_PREFIX}breathiness" in parameters and f"{ATTRIBUTE_PREFIX}emotion" in parameters


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_local_hosts_are_served(host):
    assert is_local_host(host)
    check_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.org", "::"])
def test_other_hosts_need_allow_remote(host):
    assert not is_local_host(host)
    with pytest.raises(ValueError, match="--allow-remote"):
        check_host(host)
    check_host(host, allow_remote=True)
    with pytest.raises(ValueError, match="public link"):
        check_host("127.0.0.1", share=True)


def test_demo_command_refuses_remote_hosts_before_loading_a_model(capsys):
    assert main(["demo", "--host", "0.0.0.0", "--model", "/nonexistent/model"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert main(["demo", "--share", "true", "--model", "/nonexistent/model"]) == 2
    assert "public link" in capsys.readouterr().err


def test_demo_command_arguments():
    args = build_parser().parse_args(["demo"])
    assert (args.model, args.host, args.port, args.share, args.allow_remote) == (None, "127.0.0.1", 7860, False,
                                                                                  False)
    args = build_parser().parse_args(["demo", "--model", "m", "--port", "7999", "--share", "false"])
    assert (args.model, args.port, args.share) == ("m", 7999, False)
    assert build_parser().parse_args(["demo", "--share"]).share is True
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--share", "maybe"])


@pytest.mark.slow
def test_the_readme_command_serves_the_shipped_model(tmp_path):
    """`latentdiff-edit demo` as the README starts it (on a free port): the page is served on 127.0.0.1 with the
    shipped model's controls, and the process stops when asked."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "latentdiff_edit", "demo", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        deadline, config = time.monotonic() + 300, None
        while config is None and time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as response:
                    config = json.load(response)
            except OSError:
                time.sleep(1)
        assert config is not None, f"no page on port {port}: {process.stdout.read() if process.poll() else ''}"
        assert config["title"] == "latentdiff-edit demo"
        elem_ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
        assert {"source-audio", "pitch", "rate", "attribute-style", "edit-button", "after-audio"} <= elem_ids
        styles = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "attribute-style")
        shipped = json.loads((Path(latentdiff_edit.__file__).parent / "default_model" / "denoiser" /
                              "config.json").read_text())["attributes"]
        style = next(spec for spec in shipped if spec["name"] == "style")
        assert [choice[1] for choice in styles["props"]["choices"]] == [KEEP, *style["categories"]]
    finally:
        process.terminate()
        process.wait(timeout=60)
