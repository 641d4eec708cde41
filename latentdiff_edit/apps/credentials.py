"""C2PA Content Credentials for edited files: a signed manifest, embedded in the WAV/FLAC/MP3 file, that says the audio
was edited by a generative model, with which parameters, and from which input.

The manifest of an output holds
- a `c2pa.actions.v2` assertion: `c2pa.opened` (the input, added by the C2PA SDK) and `c2pa.edited` with this toolkit
  as `softwareAgent` and the IPTC digital source type `compositeWithTrainedAlgorithmicMedia`;
- an `org.latentdiff-edit.edit` assertion: the provenance record of `latentdiff_edit.apps.editing.provenance_record`
  (model, requested pitch/intonation/attributes, measured figures, seed, steps, depth, inversion method, ...) and
  `self_signed`;
- the input file as its `parentOf` ingredient; an input that carries its own manifest keeps it there.

The signing key is, in this order: the `cert`/`key` arguments (`--sign-cert`/`--sign-key`), the environment variables
`LATENTDIFF_EDIT_SIGN_CERT`/`LATENTDIFF_EDIT_SIGN_KEY`, a `signing.json` file (`{"sign_cert": PATH, "sign_key": PATH}`)
in the config folder, or else a self-signed certificate and key generated on first use in the config folder's
`signing/`. The config folder is `$LATENTDIFF_EDIT_CONFIG_DIR`, `$XDG_CONFIG_HOME/latentdiff-edit` or
`~/.config/latentdiff-edit`. Such a local key proves that a file is unchanged since it was signed, not who signed it:
its certificate says it is self-signed and no C2PA trust list holds it.

    >>> key = resolve_signing_key()                     # the user's key, or the local self-signed one
    >>> sign_file("unsigned.wav", "edited.wav", record, key, parent="speech.wav")
    >>> report = read_credentials("edited.wav")
    >>> report.signature_valid, report.tampered, report.parameters["pitch"]
    (True, False, 3.0)
"""

from __future__ import annotations

import datetime
import io
import json
import mimetypes
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import c2pa
import numpy as np
import soundfile as sf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONFIG_DIR_ENV = "LATENTDIFF_EDIT_CONFIG_DIR"
SIGN_CERT_ENV = "LATENTDIFF_EDIT_SIGN_CERT"
SIGN_KEY_ENV = "LATENTDIFF_EDIT_SIGN_KEY"
CONFIG_FILE_NAME = "signing.json"
LOCAL_KEY_FOLDER = "signing"
ASSERTION_LABEL = "org.latentdiff-edit.edit"
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
SOURCE_TYPE = c2pa.C2paDigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA  # the same, as the SDK's enum
# The formats soundfile writes and the C2PA SDK embeds a manifest in.
MIME_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg"}
# The organization of the local certificates: C2PA readers show it as the signature's issuer.
LOCAL_ORGANIZATION = "latentdiff-edit self-signed local key"
LOCAL_VALIDITY_DAYS = 3650
# Failure codes that mean the signed content no longer matches the file (the C2PA spec's hash mismatch codes).
TAMPER_CODES = ("assertion.dataHash.mismatch", "assertion.boxesHash.mismatch", "assertion.bmffHash.mismatch",
                "assertion.collectionHash.mismatch", "assertion.hashedURI.mismatch")
# Failure codes that say nothing against the signature: the signer is just not on a trust list.
UNTRUSTED_CODES = ("signingCredential.untrusted",)


@dataclass(frozen=True)
class SigningKey:
    """
    A certificate chain and its private key, as PEM.

    Args:
        certificate_chain (`bytes`): the signing certificate, then the certificates that issued it.
        private_key (`bytes`): its unencrypted private key (EC P-256/384/521, Ed25519 or RSA).
        algorithm (`str`): the C2PA signing algorithm that goes with the key (`"es256"`, `"ed25519"`, `"ps256"`, ...).
        self_signed (`bool`): a key generated locally by this toolkit rather than a user's certificate.
        origin (`str`): where the key came from, for messages.
    """

    certificate_chain: bytes
    private_key: bytes = field(repr=False)
    algorithm: str
    self_signed: bool
    origin: str

    @property
    def subject(self) -> str:
        return x509.load_pem_x509_certificates(self.certificate_chain)[0].subject.rfc4514_string()


@dataclass
class CredentialsReport:
    """
    What a C2PA validator found in a file (see `read_credentials`).

    Args:
        state (`str`): the SDK's validation state: `"Trusted"`, `"Valid"` (signature and hashes check out; the signer
            is not on a trust list) or `"Invalid"`.
        signature_valid (`bool`): the manifest's signature and content hashes check out.
        tampered (`bool`): the file's content changed after it was signed (a hash mismatch).
        trusted (`bool`): the signer chains to a trust anchor.
        self_signed (`bool`): signed with this toolkit's locally generated key.
        signer (`str`): the signing certificate's common name; `issuer`: its issuer's organization.
        algorithm (`str`): the signature algorithm.
        actions (`list[dict]`): the active manifest's actions.
        parameters (`dict`, *optional*): the `org.latentdiff-edit.edit` assertion.
        ingredients (`list[dict]`): the active manifest's ingredients (`active_manifest` is set when one carried its
            own manifest, whose content is in `manifests`).
        failures (`list[dict]`): the validation failures (`code`, `explanation`), untrusted signer included.
        manifest (`dict`): the active manifest as the SDK reports it; `manifests`: the whole store.
    """

    state: str
    signature_valid: bool
    tampered: bool
    trusted: bool
    self_signed: bool
    signer: str
    issuer: str
    algorithm: str
    actions: list[dict]
    parameters: dict | None
    ingredients: list[dict]
    failures: list[dict]
    manifest: dict
    manifests: dict


def config_dir() -> Path:
    """The folder of this toolkit's user configuration (the local signing key, `signing.json`)."""
    if os.environ.get(CONFIG_DIR_ENV):
        return Path(os.environ[CONFIG_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "latentdiff-edit"


def mime_type(path: str | os.PathLike) -> str:
    """The MIME type of an output that can carry Content Credentials.

    Raises:
        ValueError: a format the manifest cannot be embedded in.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in MIME_TYPES:
        raise ValueError(f"cannot embed Content Credentials in `{Path(path).name}`: write {', '.join(MIME_TYPES)} "
                         "or pass --no-credentials")
    return MIME_TYPES[suffix]


# --- signing keys ---------------------------------------------------------------------------------------------------


def resolve_signing_key(cert: str | os.PathLike | None = None, key: str | os.PathLike | None = None) -> SigningKey:
    """
    The key outputs are signed with: `cert` and `key`, else the `LATENTDIFF_EDIT_SIGN_CERT`/`_KEY` environment
    variables, else `signing.json` in the config folder, else the local self-signed key (created on first use).
    The key is checked by signing a tiny file, so a bad certificate fails before any editing.

    Raises:
        ValueError: only one of a cert/key pair given, an unreadable or encrypted key, a key that does not match its
            certificate, an expired certificate, or a certificate the C2PA SDK refuses.
    """
    if cert is not None or key is not None:
        signing_key = _user_key(cert, key, "--sign-cert", "--sign-key")
    elif os.environ.get(SIGN_CERT_ENV) or os.environ.get(SIGN_KEY_ENV):
        signing_key = _user_key(os.environ.get(SIGN_CERT_ENV) or None, os.environ.get(SIGN_KEY_ENV) or None,
                                SIGN_CERT_ENV, SIGN_KEY_ENV)
    elif (config_dir() / CONFIG_FILE_NAME).is_file():
        config_file = config_dir() / CONFIG_FILE_NAME
        try:
            config = json.loads(config_file.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read {config_file}: {e}") from None
        if not isinstance(config, dict):
            raise ValueError(f"{config_file} must hold a JSON object with `sign_cert` and `sign_key`")
        signing_key = _user_key(config.get("sign_cert"), config.get("sign_key"), f"`sign_cert` in {config_file}",
                                f"`sign_key` in {config_file}")
    else:
        signing_key = local_signing_key()
    _check_with_sdk(signing_key)
    return signing_key


def _user_key(cert, key, cert_name: str, key_name: str) -> SigningKey:
    if cert is None or key is None:
        given, missing = (cert_name, key_name) if key is None else (key_name, cert_name)
        raise ValueError(f"{given} needs {missing}: give the certificate chain and its private key together")
    return load_signing_key(cert, key)


def load_signing_key(cert: str | os.PathLike, key: str | os.PathLike, self_signed: bool = False) -> SigningKey:
    """
    Read a PEM certificate chain (signing certificate first) and its unencrypted PEM private key.

    Raises:
        ValueError: a missing or unreadable file, an encrypted or unsupported key, a key that does not match the
            certificate, or a certificate outside its validity period.
    """
    cert, key = Path(cert).expanduser(), Path(key).expanduser()
    try:
        chain_pem, key_pem = cert.read_bytes(), key.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read the signing certificate or key: {e}") from None
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise ValueError(f"{cert} holds no PEM certificate") from None
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise ValueError(f"{key} is encrypted; give an unencrypted PEM key (e.g. `openssl pkey -in KEY -out "
                         "KEY.pem`) and keep it readable by you only") from None
    except ValueError:
        raise ValueError(f"{key} holds no PEM private key") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private_key.public_key().public_bytes(*spki) != chain[0].public_key().public_bytes(*spki):
        raise ValueError(f"the key {key} does not belong to the certificate {cert} (the first certificate of the "
                         "chain must be the signing one)")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not chain[0].not_valid_before_utc <= now <= chain[0].not_valid_after_utc:
        raise ValueError(f"the certificate {cert} is not valid now (valid {chain[0].not_valid_before_utc:%Y-%m-%d} "
                         f"to {chain[0].not_valid_after_utc:%Y-%m-%d})")
    return SigningKey(chain_pem, key_pem, _algorithm(private_key, key), self_signed, origin=str(cert))


def _algorithm(private_key, path: Path) -> str:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        algorithm = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(private_key.curve.name)
        if algorithm:
            return algorithm
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    elif isinstance(private_key, rsa.RSAPrivateKey):
        return "ps256"
    raise ValueError(f"{path}: C2PA signs with EC P-256/P-384/P-521, Ed25519 or RSA keys")


def local_signing_key(folder: str | os.PathLike | None = None) -> SigningKey:
    """
    The locally generated self-signed key in `folder` (default: `signing/` in the config folder), created on first
    use (folder 0700, key 0600) and again once its certificate expires. Concurrent first uses (the processes of a
    batch job) agree on one key: each builds a complete folder and renames it into place, and all but the first
    rename fail and use the winner's.
    """
    folder = Path(folder) if folder is not None else config_dir() / LOCAL_KEY_FOLDER
    cert, key = folder / "certificate.pem", folder / "private_key.pem"
    if cert.is_file() and key.is_file():
        expires = x509.load_pem_x509_certificates(cert.read_bytes())[0].not_valid_after_utc
        if expires > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1):
            return load_signing_key(cert, key, self_signed=True)
        folder.rename(folder.with_name(f"{folder.name}.expired-{expires:%Y%m%d}-{uuid.uuid4().hex[:6]}"))
    _create_local_key(folder)
    return load_signing_key(cert, key, self_signed=True)


def _create_local_key(folder: Path) -> None:
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = folder.with_name(f".{folder.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.mkdir(mode=0o700)
    try:
        chain_pem, key_pem = _local_certificates()
        (temporary / "certificate.pem").write_bytes(chain_pem)
        descriptor = os.open(temporary / "private_key.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as f:
            f.write(key_pem)
        (temporary / "README.txt").write_text(
            "The key latentdiff-edit signs its outputs' C2PA Content Credentials with when no certificate is given\n"
            "(--sign-cert/--sign-key). It is self-signed: it proves a file is unchanged since it was signed, not who\n"
            "signed it. `latentdiff-edit info FILE --trust certificate.pem` checks a file against this key.\n"
            "Keep private_key.pem private; delete this folder to make a new key.\n"
        )
        try:
            temporary.rename(folder)
        except OSError:
            if not (folder / "private_key.pem").is_file():  # not another process winning the race: a real error
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _local_certificates() -> tuple[bytes, bytes]:
    """A self-signed ES256 signing certificate and its key, with the extensions C2PA validators ask for (key
    identifiers, an email-protection extended key usage); its subject says it is self-signed."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "latentdiff-edit local signing key (self-signed)"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, LOCAL_ORGANIZATION)])
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LOCAL_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, **usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        # without an authority key identifier the C2PA SDK calls the certificate invalid
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def _check_with_sdk(signing_key: SigningKey) -> None:
    # The SDK has checks of its own (key identifiers, extended key usage, algorithm): meet them now, on a tiny file in
    # memory, rather than after an edit.
    probe = io.BytesIO()
    sf.write(probe, np.zeros(8, dtype=np.float32), 8000, format="WAV")
    probe.seek(0)
    try:
        manifest = build_manifest({}, "probe.wav", signing_key.self_signed)
        with _signer(signing_key) as signer, c2pa.Builder(manifest, context=_context()) as builder:
            builder.set_intent(c2pa.C2paBuilderIntent.CREATE, SOURCE_TYPE)
            builder.sign(signer, "audio/wav", probe, io.BytesIO())
    except c2pa.C2paError as e:
        raise ValueError(f"the C2PA SDK refuses the signing certificate {signing_key.origin}: {e}") from None


def _signer(signing_key: SigningKey) -> c2pa.Signer:
    info = c2pa.C2paSignerInfo(signing_key.algorithm, signing_key.certificate_chain, signing_key.private_key, None)
    return c2pa.Signer.from_info(info)


def _context(trust_anchors: str | None = None) -> c2pa.Context:
    # offline: no remote manifests, no OCSP, no timestamp authority (the signer is built without one)
    settings = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors:
        settings["trust"] = {"user_anchors": trust_anchors}
    return c2pa.Context.from_dict(settings)


# --- manifests ------------------------------------------------------------------------------------------------------


def build_manifest(record: dict, title: str, self_signed: bool) -> dict:
    """
    The manifest definition of an output (see the module's docstring) for the C2PA SDK's `Builder`.

    Args:
        record (`dict`): the output's provenance record (`tool`, `version`, `operation`, `model`, edits, seed, ...).
        title (`str`): the output's file name.
        self_signed (`bool`): whether the signing key is the local self-signed one.
    """
    agent = {"name": str(record.get("tool", "latentdiff-edit")), "version": str(record.get("version", ""))}
    return {
        "claim_generator_info": [agent],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [{
                "action": "c2pa.edited",
                "softwareAgent": agent,
                "digitalSourceType": DIGITAL_SOURCE_TYPE,
                "description": describe_record(record),
            }]}},
            {"label": ASSERTION_LABEL, "data": {**record, "self_signed": self_signed}},
        ],
    }


def describe_record(record: dict) -> str:
    """One line for the `c2pa.edited` action: what the model did."""
    if record.get("operation", "edit") != "edit":
        what = f"{record.get('operation')} (inverted and regenerated by a latent diffusion model, no edit)"
    else:
        parts = [f"pitch {record.get('pitch', 0.0):+g} st", f"intonation x{record.get('intonation', 1.0):g}"]
        parts += [f"{name}={value}" for name, value in (record.get("attributes") or {}).items()]
        what = "voice edited by a latent diffusion model: " + ", ".join(parts)
    return f"{what}; model {record.get('model', 'unknown')}"


def sign_file(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    record: dict,
    signing_key: SigningKey,
    parent: str | os.PathLike | None = None,
    format: str | None = None,
) -> None:
    """
    Write `source` with an embedded, signed C2PA manifest to `destination` (a new file; callers make it atomic).

    Args:
        source (`str` or `os.PathLike`): the unsigned audio file.
        destination (`str` or `os.PathLike`): where the signed file goes.
        record (`dict`): the provenance record (the `org.latentdiff-edit.edit` assertion).
        signing_key (`SigningKey`): see `resolve_signing_key`.
        parent (`str` or `os.PathLike`, *optional*): the input file, recorded as the `parentOf` ingredient with its
            own manifest if it has one. Without it, the manifest records a `c2pa.created` action instead.
        format (`str`, *optional*): the MIME type; by default from `destination`'s extension.

    Raises:
        ValueError: a format that cannot carry a manifest, or the SDK refusing to sign.
    """
    source, destination = Path(source), Path(destination)
    format = format or mime_type(destination)
    manifest = build_manifest(record, destination.name, signing_key.self_signed)
    try:
        with _signer(signing_key) as signer, c2pa.Builder(manifest, context=_context()) as builder:
            if parent is not None:
                builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
                _add_parent(builder, Path(parent))
            else:
                builder.set_intent(c2pa.C2paBuilderIntent.CREATE, SOURCE_TYPE)
            with open(source, "rb") as unsigned, open(destination, "w+b") as signed:
                builder.sign(signer, format, unsigned, signed)
    except c2pa.C2paError as e:
        raise ValueError(f"signing the Content Credentials of {destination} failed: {e}") from None


def _add_parent(builder: c2pa.Builder, parent: Path) -> None:
    ingredient = {"title": parent.name, "relationship": "parentOf"}
    format = MIME_TYPES.get(parent.suffix.lower()) or mimetypes.guess_type(parent.name)[0]
    format = format or "application/octet-stream"
    with open(parent, "rb") as stream:
        builder.add_ingredient(ingredient, format, stream)


# --- reading and validation -----------------------------------------------------------------------------------------


def read_credentials(
    path: str | os.PathLike, trust_anchors: str | os.PathLike | None = None
) -> CredentialsReport | None:
    """
    Validate the C2PA manifest of a file, offline.

    Args:
        path (`str` or `os.PathLike`): the file.
        trust_anchors (`str` or `os.PathLike`, *optional*): a PEM file of certificates to trust (e.g. your
            organization's root CA, or the local key's `certificate.pem`); without it no signer is trusted.

    Returns:
        `CredentialsReport`, or None when the file carries no manifest (or is a format that cannot carry one).
    """
    anchors = None
    if trust_anchors is not None:
        try:
            anchors = Path(trust_anchors).read_text()
        except OSError as e:
            raise ValueError(f"cannot read the trust anchors: {e}") from None
    try:
        with open(path, "rb") as stream:
            format = MIME_TYPES.get(Path(path).suffix.lower()) or mimetypes.guess_type(str(path))[0]
            if format not in MIME_TYPES.values():
                return None
            reader = c2pa.Reader.try_create(format, stream, None, _context(anchors))
            if reader is None:
                return None
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError.NotSupported:
        return None
    except c2pa.C2paError as e:  # a manifest that cannot be parsed at all
        raise ValueError(f"cannot read the Content Credentials of {path}: {e}") from None
    return _report(store)


def _report(store: dict) -> CredentialsReport:
    manifests = store.get("manifests", {})
    manifest = manifests.get(store.get("active_manifest"), {})
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = [{"code": f.get("code", ""), "explanation": f.get("explanation", "")}
                for f in results.get("failure", store.get("validation_status", []))]
    codes = [f["code"] for f in failures]
    state = store.get("validation_state", "Invalid" if failures else "Valid")
    signature = manifest.get("signature_info", {})
    assertions = {a.get("label"): a.get("data") for a in manifest.get("assertions", [])}
    actions = (assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get("actions", [])
    parameters = assertions.get(ASSERTION_LABEL)
    self_signed = signature.get("issuer") == LOCAL_ORGANIZATION or bool((parameters or {}).get("self_signed"))
    return CredentialsReport(
        state=state,
        signature_valid=state != "Invalid" and not any(code not in UNTRUSTED_CODES for code in codes),
        tampered=any(code in TAMPER_CODES for code in codes),
        trusted=state == "Trusted",
        self_signed=self_signed,
        signer=signature.get("common_name", ""),
        issuer=signature.get("issuer", ""),
        algorithm=signature.get("alg", ""),
        actions=actions,
        parameters=parameters,
        ingredients=manifest.get("ingredients", []),
        failures=failures,
        manifest=manifest,
        manifests=manifests,
    )


def format_report(report: CredentialsReport | None, tags_record: dict | None = None) -> list[str]:
    """The lines `latentdiff-edit info FILE` prints about a file's Content Credentials; `tags_record`, the file's
    (unsigned) provenance tags, shortens the signed parameters to a line when they agree and is flagged when not."""
    if report is None:
        return ["credentials: none (no C2PA manifest: written with --no-credentials, by another tool, or stripped)"]
    problems = [f"{f['code']} ({f['explanation']})" for f in report.failures if f["code"] not in UNTRUSTED_CODES]
    if report.tampered:
        verdict = "INVALID: TAMPERED, the audio changed after it was signed"
    elif not report.signature_valid:
        verdict = "INVALID"
    else:
        verdict = "signature valid"
    lines = [f"credentials: C2PA manifest, {verdict}" + (f": {'; '.join(problems)}" if problems else "")]
    lines.append(f"signer:      {report.signer}; issuer {report.issuer}; {report.algorithm}")
    if report.trusted:
        trust = "trusted: the signer chains to a trust anchor you gave"
    elif report.self_signed:
        trust = ("self-signed local key, on no trust list: it shows the file is unchanged since it was signed, "
                 "not who signed it")
    else:
        trust = "the signer is not on a trust list here (pass --trust CA.pem to check it against your CA)"
    lines.append(f"trust:       {trust}")
    for i, action in enumerate(report.actions):
        agent = action.get("softwareAgent")
        agent = f" by {agent.get('name')} {agent.get('version', '')}".rstrip() if isinstance(agent, dict) else ""
        source_type = action.get("digitalSourceType", "")
        source_type = f" [{source_type.rsplit('/', 1)[-1]}]" if source_type else ""
        description = f": {action['description']}" if action.get("description") else ""
        lines.append(f"{'actions:' if i == 0 else '':<13}{action.get('action')}{agent}{source_type}{description}")
    for i, ingredient in enumerate(report.ingredients):
        lines.append(f"{'ingredient:' if i == 0 else '':<13}{_describe_ingredient(ingredient, report.manifests)}")
    if report.parameters is not None:
        signed = {k: v for k, v in report.parameters.items() if k != "self_signed"}
        if tags_record is not None and json.dumps(signed, sort_keys=True) == json.dumps(tags_record, sort_keys=True):
            lines.append(f"parameters:  those of the provenance tags above, signed ({ASSERTION_LABEL}; self_signed: "
                         f"{str(report.parameters.get('self_signed')).lower()})")
        else:
            note = "" if tags_record is None else " (the provenance tags above differ: shortened or rewritten)"
            lines.append(f"parameters:  {ASSERTION_LABEL}{note} "
                         + json.dumps(report.parameters, indent=2).replace("\n", "\n             "))
    return lines


def _describe_ingredient(ingredient: dict, manifests: dict) -> str:
    text = f"{ingredient.get('title', '?')} ({ingredient.get('relationship', '?')}, {ingredient.get('format', '?')})"
    label = ingredient.get("active_manifest")
    if label is None:
        return text + ", no Content Credentials of its own"
    own = manifests.get(label, {})
    results = (ingredient.get("validation_results") or {}).get("activeManifest") or {}
    own_failures = [f.get("code") for f in results.get("failure", []) if f.get("code") not in UNTRUSTED_CODES]
    generators = own.get("claim_generator_info", [])
    generator = ", ".join(f"{g.get('name')} {g.get('version', '')}".strip() for g in generators)
    status = "invalid: " + ", ".join(own_failures) if own_failures else "valid"
    return f"{text}, with its own Content Credentials ({generator or 'unknown generator'}; {status})"
