"""C2PA Content Credentials: manifests on WAV and FLAC outputs read back by the C2PA SDK, tampering, signing keys
(local self-signed, a user's, trust anchors), parent ingredients, batch outputs, `--no-credentials` and `info`."""

from __future__ import annotations

import datetime
import json
import stat
import struct

import c2pa
import numpy as np
import pytest
import soundfile as sf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from latentdiff_edit import __version__
from latentdiff_edit.apps.cli import main
from latentdiff_edit.apps.credentials import (
    ASSERTION_LABEL,
    DIGITAL_SOURCE_TYPE,
    LOCAL_ORGANIZATION,
    SIGN_CERT_ENV,
    SIGN_KEY_ENV,
    config_dir,
    local_signing_key,
    read_credentials,
    resolve_signing_key,
)
from latentdiff_edit.apps.editing import read_provenance, write_output
from latentdiff_edit.testing import harmonic_tone

SR = 8000
RECORD = {"tool": "latentdiff-edit", "version": __version__, "operation": "edit", "model": "tiny/model",
          "source": "speech.wav", "pitch": 3.0, "intonation": 1.0, "attributes": {"style": "high-wide-fast"},
          "mode": "cfg", "guidance": 2.0, "guidance_reference": "source", "seed": 7, "steps": 2, "depth": 0.8,
          "inversion": "ddpm", "measured": {"source_f0_hz": 150.0, "pitch_shift_st": 2.9},
          "created": "2025-01-01T00:00:00Z"}


@pytest.fixture
def speech(tmp_path):
    path = tmp_path / "speech.wav"
    sf.write(path, harmonic_tone(150.0, 0.6, SR), SR)
    return path


def run(argv, capsys):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def make_certificates(folder, organization="Example Newsroom", self_signed_leaf=False,
                      extended_key_usage=ExtendedKeyUsageOID.EMAIL_PROTECTION):
    """A CA and a signing certificate it issued (or one that signed itself), as PEM files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)

    def certificate(common_name, key, issuer_name, issuer_key, is_ca):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=not is_ca, key_cert_sign=is_ca, crl_sign=is_ca,
                                                **usage), critical=True))
        if not is_ca:  # the C2PA SDK wants the issuer's key identifier and an extended key usage it accepts
            builder = (builder
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                      critical=False)
                       .add_extension(x509.ExtendedKeyUsage([extended_key_usage]), critical=False))
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Example CA", ca_key, None, ca_key, is_ca=True)
    leaf = (certificate("Example signer", key, None, key, is_ca=False) if self_signed_leaf
            else certificate("Example signer", key, ca.subject, ca_key, is_ca=False))
    paths = {name: folder / f"{name}.pem" for name in ("ca", "cert", "key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


def change_one_sample(path):
    """Add one LSB to one 16-bit sample of a WAV file in place, leaving every other byte (the manifest) alone."""
    data = bytearray(path.read_bytes())
    position = 12
    while data[position : position + 4] != b"data":
        position += 8 + struct.unpack("<I", data[position + 4 : position + 8])[0]
    sample_at = position + 8 + 2 * 1000
    value = struct.unpack("<h", data[sample_at : sample_at + 2])[0]
    data[sample_at : sample_at + 2] = struct.pack("<h", value + 1)
    path.write_bytes(data)


def change_flac_audio(path):
    """Flip one bit in the middle of a FLAC file's audio frames (after its last metadata block)."""
    data = bytearray(path.read_bytes())
    position = 0
    if data[:3] == b"ID3":  # the C2PA SDK puts the manifest of a FLAC file in an ID3v2 tag before it
        position = 10 + sum(byte << (7 * (3 - i)) for i, byte in enumerate(data[6:10]))  # a synchsafe size
    assert data[position : position + 4] == b"fLaC"
    position, last = position + 4, False
    while not last:
        last = bool(data[position] & 0x80)
        position += 4 + int.from_bytes(data[position + 1 : position + 4], "big")
    data[(position + len(data)) // 2] ^= 0x01
    path.write_bytes(data)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_manifest_round_trip(suffix, speech, tmp_path):
    audio = harmonic_tone(180.0, 0.5, SR, seed=3)
    output = tmp_path / "out" / f"edited{suffix}"
    assert write_output(output, audio, SR, RECORD, parent=speech) == output

    report = read_credentials(output)
    assert report.signature_valid and not report.tampered and report.state == "Valid"
    assert report.self_signed and report.issuer == LOCAL_ORGANIZATION and not report.trusted
    assert [f["code"] for f in report.failures] == ["signingCredential.untrusted"]  # no trust list holds the key
    edited = next(action for action in report.actions if action["action"] == "c2pa.edited")
    assert edited["softwareAgent"] == {"name": "latentdiff-edit", "version": __version__}
    assert edited["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert "pitch +3 st" in edited["description"] and "style=high-wide-fast" in edited["description"]
    assert report.parameters == {**RECORD, "self_signed": True}
    assert [(i["title"], i["relationship"]) for i in report.ingredients] == [("speech.wav", "parentOf")]

    # the C2PA SDK's own reader agrees; the samples and the plain-text tags are those written
    with c2pa.Reader(str(output)) as reader:
        assert reader.get_validation_state() == "Valid"
        assert reader.get_active_manifest()["claim_generator_info"][0]["name"] == "latentdiff-edit"
    written, rate = sf.read(output, dtype="float32")
    assert rate == SR and np.abs(written - audio).max() < 1e-4
    assert read_provenance(output) == RECORD
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # no temporary file left


@pytest.mark.parametrize("suffix, tamper", [(".wav", change_one_sample), (".flac", change_flac_audio)])
def test_audio_changed_after_signing_is_reported_as_tampered(suffix, tamper, speech, tmp_path, capsys):
    output = tmp_path / f"edited{suffix}"
    write_output(output, harmonic_tone(180.0, 0.5, SR), SR, RECORD, parent=speech)
    assert read_credentials(output).signature_valid
    tamper(output)

    report = read_credentials(output)
    assert report.state == "Invalid" and report.tampered and not report.signature_valid
    assert "assertion.dataHash.mismatch" in [f["code"] for f in report.failures]
    status, out, _ = run(["info", output], capsys)
    assert status == 1
    assert "INVALID: TAMPERED, the audio changed after it was signed" in out


def test_local_key_is_made_once_in_the_config_folder(config_dir, speech, tmp_path):
    assert not config_dir.exists()
    key = resolve_signing_key()
    folder = config_dir / "signing"
    assert key.self_signed and key.algorithm == "es256" and key.origin == str(folder / "certificate.pem")
    assert stat.S_IMODE((folder / "private_key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert resolve_signing_key() == key  # reused, not remade
    assert local_signing_key(folder) == key
    assert sorted(p.name for p in config_dir.iterdir()) == ["signing"]  # no temporary folder left

    # whoever chooses to trust the local certificate can
    output = tmp_path / "edited.wav"
    write_output(output, harmonic_tone(180.0, 0.5, SR), SR, RECORD, parent=speech)
    report = read_credentials(output, trust_anchors=folder / "certificate.pem")
    assert report.state == "Trusted" and report.trusted and report.signature_valid


def test_config_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("LATENTDIFF_EDIT_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "latentdiff-edit"


def test_user_certificate_from_the_environment(monkeypatch, speech, tmp_path, config_dir):
    paths = make_certificates(tmp_path / "pki")
    monkeypatch.setenv(SIGN_CERT_ENV, str(paths["cert"]))
    monkeypatch.setenv(SIGN_KEY_ENV, str(paths["key"]))
    output = tmp_path / "edited.flac"
    write_output(output, harmonic_tone(180.0, 0.5, SR), SR, RECORD, parent=speech)
    assert not config_dir.exists()  # no local key made

    report = read_credentials(output)
    assert report.signature_valid and not report.self_signed and not report.trusted
    assert report.signer == "Example signer" and report.issuer == "Example Newsroom"
    assert report.parameters["self_signed"] is False
    assert read_credentials(output, trust_anchors=paths["ca"]).state == "Trusted"


def test_a_users_self_signed_certificate_validates_but_is_not_the_local_key(speech, tmp_path):
    paths = make_certificates(tmp_path / "pki", self_signed_leaf=True)
    output = tmp_path / "edited.wav"
    write_output(output, harmonic_tone(180.0, 0.5, SR), SR, RECORD, parent=speech,
                 credentials=resolve_signing_key(paths["cert"], paths["key"]))
    report = read_credentials(output)
    assert report.state == "Valid" and report.signature_valid and not report.self_signed
    assert read_credentials(output, trust_anchors=paths["cert"]).trusted


def test_bad_signing_keys_are_refused_with_a_clear_message(tmp_path):
    paths, other = make_certificates(tmp_path / "a"), make_certificates(tmp_path / "b")
    with pytest.raises(ValueError, match="--sign-cert needs --sign-key"):
        resolve_signing_key(cert=paths["cert"])
    with pytest.raises(ValueError, match="does not belong to the certificate"):
        resolve_signing_key(cert=paths["cert"], key=other["key"])
    with pytest.raises(ValueError, match="holds no PEM certificate"):
        resolve_signing_key(cert=paths["key"], key=paths["key"])
    web_server = make_certificates(tmp_path / "c", extended_key_usage=ExtendedKeyUsageOID.SERVER_AUTH)
    with pytest.raises(ValueError, match="the C2PA SDK refuses the signing certificate"):
        resolve_signing_key(cert=web_server["cert"], key=web_server["key"])


def test_outputs_never_replace_inputs_and_failures_leave_nothing(speech, tmp_path):
    original = speech.read_bytes()
    with pytest.raises(ValueError, match="refusing to overwrite the input file"):
        write_output(speech, harmonic_tone(180.0, 0.5, SR), SR, RECORD, overwrite=True, parent=speech)
    assert speech.read_bytes() == original

    output = tmp_path / "out" / "edited.wav"
    with pytest.raises(FileNotFoundError):  # a parent that vanished: signing fails after the samples were written
        write_output(output, harmonic_tone(180.0, 0.5, SR), SR, RECORD, parent=tmp_path / "gone.wav")
    assert list(output.parent.iterdir()) == []
    with pytest.raises(ValueError, match="cannot embed Content Credentials in `edited.ogg`"):
        write_output(tmp_path / "edited.ogg", harmonic_tone(180.0, 0.5, SR), SR, RECORD, parent=speech)


def test_edit_keeps_a_signed_input_as_its_parent_ingredient(tiny_pipeline_dir, tmp_path, capsys):
    # a recording that already carries Content Credentials (here: ours, made without a parent)
    signed_input = tmp_path / "signed_input.wav"
    input_record = {**RECORD, "operation": "reconstruct", "model": "earlier/model"}
    write_output(signed_input, harmonic_tone(150.0, 0.6, SR), SR, input_record)
    assert [a["action"] for a in read_credentials(signed_input).actions] == ["c2pa.created", "c2pa.edited"]

    output = tmp_path / "edited.wav"
    status, out, err = run(["edit", signed_input, "-o", output, "--model", tiny_pipeline_dir, "--steps", 2,
                            "--pitch", "+2", "--seed", 5], capsys)
    assert status == 0, err
    assert "Content Credentials signed with the local self-signed key" in out
    report = read_credentials(output)
    assert report.signature_valid and report.parameters["pitch"] == 2.0 and report.parameters["seed"] == 5
    assert report.parameters["model"] == str(tiny_pipeline_dir.resolve())
    (ingredient,) = report.ingredients
    assert ingredient["title"] == "signed_input.wav" and ingredient["relationship"] == "parentOf"
    parent_manifest = report.manifests[ingredient["active_manifest"]]  # the input's own manifest, kept
    parent_parameters = {a["label"]: a["data"] for a in parent_manifest["assertions"]}[ASSERTION_LABEL]
    assert parent_parameters["model"] == "earlier/model" and parent_parameters["operation"] == "reconstruct"

    status, out, _ = run(["info", output], capsys)
    assert status == 0
    assert "credentials: C2PA manifest, signature valid" in out
    assert "c2pa.edited by latentdiff-edit" in out and "[compositeWithTrainedAlgorithmicMedia]" in out
    assert "self-signed local key" in out
    assert "signed_input.wav (parentOf, audio/wav), with its own Content Credentials (latentdiff-edit" in out
    assert '"pitch": 2.0' in out  # the provenance tags, which the signed parameters repeat
    assert "parameters:  those of the provenance tags above, signed (org.latentdiff-edit.edit; self_signed: true)" in out


def test_no_credentials_writes_tags_only(tiny_pipeline_dir, speech, tmp_path, capsys, config_dir):
    output = tmp_path / "plain.wav"
    status, out, err = run(["edit", speech, "-o", output, "--model", tiny_pipeline_dir, "--steps", 2, "--pitch", 1,
                            "--no-credentials"], capsys)
    assert status == 0, err
    assert "no Content Credentials" in out
    assert read_credentials(output) is None and read_provenance(output)["pitch"] == 1.0
    assert not config_dir.exists()  # no key was made
    status, out, _ = run(["info", output], capsys)
    assert status == 0 and "credentials: none" in out

    # formats that cannot carry a manifest are refused before the model loads, unless credentials are off
    status, _, err = run(["edit", speech, "-o", tmp_path / "out.ogg", "--model", tmp_path / "no-model"], capsys)
    assert status == 2 and "cannot embed Content Credentials in `out.ogg`" in err
    status, _, err = run(["edit", speech, "-o", tmp_path / "x.wav", "--no-credentials", "--sign-key", "k.pem"],
                         capsys)
    assert status == 2 and "--no-credentials contradicts" in err


def test_batch_outputs_are_signed(tiny_pipeline_dir, tmp_path, capsys):
    clips, output_dir = tmp_path / "clips", tmp_path / "edited"
    clips.mkdir()
    for i, name in enumerate(["a.wav", "b.flac"]):
        sf.write(clips / name, harmonic_tone(130.0 + 20 * i, 0.3, SR, seed=i), SR)
    status, out, err = run(["batch", clips, "-o", output_dir, "--model", tiny_pipeline_dir, "--steps", 2,
                            "--pitch", 2], capsys)
    assert status == 0, err
    assert "2 ok, 0 failed" in out
    for name in ["a.wav", "b.flac"]:
        report = read_credentials(output_dir / name)
        assert report.signature_valid and report.parameters["pitch"] == 2.0
        assert [(i["title"], i["relationship"]) for i in report.ingredients] == [(name, "parentOf")]
    rows = [json.loads(line) for line in (output_dir / "manifest.jsonl").read_text().splitlines()]
    assert {row["status"] for row in rows} == {"ok"}

    status, _, err = run(["batch", clips, "-o", tmp_path / "plain", "--model", tiny_pipeline_dir, "--steps", 2,
                          "--no-credentials"], capsys)
    assert status == 0, err
    assert read_credentials(tmp_path / "plain" / "a.wav") is None
    assert read_provenance(tmp_path / "plain" / "a.wav")["tool"] == "latentdiff-edit"
