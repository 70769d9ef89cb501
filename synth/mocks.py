"""Pulumi mocks that stand in for the engine and the providers during offline synthesis.

The stock `MockMonitor` keeps only URN, id and state. We subclass it to also record what a
reviewer and the policy pack care about: parent, dependencies, protect and friends, which are
not part of `MockResourceArgs` (see FACTS.md, "Pulumi under mocks").
"""

from __future__ import annotations

import copy
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml
from pulumi.output import Unknown
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.rpc import UNKNOWN

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The marker Pulumi's wire format uses for secret values (`rpc._special_sig_key`).
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"
REDACTED = "[secret]"


@dataclass
class Registration:
    """One `RegisterResource` call as the engine would have seen it."""

    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    protect: bool
    retain_on_delete: bool
    dependencies: list[str]
    inputs: dict[str, Any]
    order: int = field(default=0)
    # The explicit provider reference (`<provider urn>::<id>`), None for a default provider.
    provider: str | None = None
    # `customTimeouts` (create/update/delete) when set: how long the engine awaits the resource.
    custom_timeouts: dict[str, str] | None = None


def _digest(*parts: str, length: int = 16) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def redact(value: Any) -> Any:
    """Replace every secret in a wire-form value by `[secret]`. A secret map or list keeps its
    shape (keys, length) so a redacted Secret manifest still validates and diffs by key."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE:
            return _mask(value.get("value"))
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return REDACTED


def normalize(value: Any) -> Any:
    """Wire numbers are floats (`replicas: 2.0`); give integral floats back their int form."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class SynthMocks(pulumi.runtime.Mocks):
    """Deterministic provider stand-ins: outputs echo inputs plus the ids, ARNs and results
    that dependent resources read."""

    def __init__(self) -> None:
        super().__init__()
        # The inputs MockMonitor deserialized for the registration this thread is handling:
        # RecordingMonitor records them instead of deserializing the request a second time.
        self._seen = threading.local()

    def take_inputs(self) -> dict | None:
        inputs, self._seen.inputs = getattr(self._seen, "inputs", None), None
        return inputs

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self._seen.inputs = args.inputs
        state = copy.deepcopy(args.inputs)
        typ, name = args.typ, args.name
        resource_id = f"{name}-id"
        if typ.startswith("kubernetes:"):
            meta = state.get("metadata")
            if isinstance(meta, dict) and meta.get("name"):
                ns = meta.get("namespace")
                resource_id = f"{ns}/{meta['name']}" if ns else str(meta["name"])
            if typ == "kubernetes:core/v1:Service":
                state["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}
            if typ == "kubernetes:helm.sh/v3:Release":
                state["status"] = {
                    "name": state.get("name", name),
                    "namespace": state.get("namespace", "default"),
                    "status": "deployed",
                    "version": state.get("version"),
                }
        elif typ.startswith("random:"):
            state.update(_random_outputs(typ, name, args.inputs))
        elif typ.startswith("aws:"):
            service = typ.split(":")[1].split("/")[0]
            state.update(_aws_outputs(typ, name, args.inputs))
            state.setdefault("arn", f"arn:aws:{service}:{aws_region()}:{AWS_ACCOUNT}:{name}")
            resource_id = state.pop("_id", None) or state.get("name") or state.get("bucket") or resource_id
        elif typ.startswith("cloudflare:"):
            resource_id = _digest(typ, name, length=32)
        state.setdefault("id", resource_id)
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        token = args.token
        if token == "kubernetes:yaml:decode":
            # What the provider answers for yaml.ConfigFile (v1): the file's objects, so the
            # vendored operator manifests expand into one resource per object offline. libyaml's
            # parser (same objects, same constructor): the RabbitMQ operators' 450 kB of CRDs
            # took ~0.35 s of every synthesis with the pure-Python one.
            return {"result": [doc for doc in yaml.load_all(str(args.args["text"]), Loader=_LOADER) if doc]}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": AWS_ACCOUNT, "arn": f"arn:aws:iam::{AWS_ACCOUNT}:user/synth", "userId": "synth"}
        if token == "aws:index/getRegion:getRegion":
            region = aws_region()
            return {"name": region, "region": region, "id": region}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:route53/getZone:getZone":
            zone_name = str(args.args.get("name", "example.com"))
            # Hosted zone ids are "Z" plus upper-case alphanumerics.
            zone_id = "Z" + _digest("route53", zone_name, length=20).upper()
            return {
                "zoneId": zone_id,
                "id": zone_id,
                "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
                "name": zone_name,
                "privateZone": False,
                "nameServers": [f"ns-{n}.awsdns-{n:02d}.{tld}" for n, tld in ((1, "com"), (2, "net"), (3, "org"), (4, "co.uk"))],
            }
        if token.startswith("cloudflare:") and "getZone" in token:
            return {"zoneId": _digest("zone", str(args.args), length=32), "id": _digest("zone", str(args.args), length=32)}
        return {}


AWS_ACCOUNT = "123456789012"
AWS_DEFAULT_REGION = "us-east-1"


def aws_region() -> str:
    """The region the stack configures for the AWS provider (`aws:region`), as the provider would use."""
    return pulumi.runtime.get_config("aws:region") or AWS_DEFAULT_REGION


def _aws_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Provider-computed attributes other resources read (ARNs, DKIM tokens, key material)."""
    region = aws_region()
    prefix = f"arn:aws:ses:{region}:{AWS_ACCOUNT}"
    if typ == "aws:sesv2/emailIdentity:EmailIdentity":
        identity = str(inputs.get("emailIdentity"))
        tokens = [_digest("dkim", identity, str(n), length=32) for n in range(3)]
        dkim = {**(inputs.get("dkimSigningAttributes") or {}), "tokens": tokens, "status": "SUCCESS",
                "currentSigningKeyLength": "RSA_2048_BIT", "signingAttributesOrigin": "AWS_SES"}
        return {"_id": identity, "arn": f"{prefix}:identity/{identity}", "dkimSigningAttributes": dkim,
                "identityType": "DOMAIN", "verifiedForSendingStatus": True}
    if typ == "aws:sesv2/configurationSet:ConfigurationSet":
        set_name = str(inputs.get("configurationSetName"))
        return {"_id": set_name, "arn": f"{prefix}:configuration-set/{set_name}"}
    if typ == "aws:sns/topic:Topic":
        topic = str(inputs.get("name") or name)
        arn = f"arn:aws:sns:{region}:{AWS_ACCOUNT}:{topic}"
        return {"_id": arn, "arn": arn}
    if typ == "aws:iam/user:User":
        user = str(inputs.get("name") or name)
        return {"arn": f"arn:aws:iam::{AWS_ACCOUNT}:user{inputs.get('path') or '/'}{user}", "uniqueId": "AIDA" + _digest(user, length=17).upper()}
    if typ == "aws:iam/role:Role":
        role = str(inputs.get("name") or name)
        return {"arn": f"arn:aws:iam::{AWS_ACCOUNT}:role{inputs.get('path') or '/'}{role}", "uniqueId": "AROA" + _digest(role, length=17).upper()}
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        # pulumi-aws 7.51.1 logGroup `arn`: the API's `:*` suffix is removed.
        return {"arn": f"arn:aws:logs:{region}:{AWS_ACCOUNT}:log-group:{inputs.get('name') or name}"}
    if typ == "aws:cloudtrail/trail:Trail":
        trail = str(inputs.get("name") or name)
        return {"arn": f"arn:aws:cloudtrail:{region}:{AWS_ACCOUNT}:trail/{trail}", "homeRegion": region}
    if typ == "aws:s3/bucket:Bucket" and inputs.get("bucket"):
        return {"arn": f"arn:aws:s3:::{inputs['bucket']}"}  # bucket ARNs carry no region or account
    if typ == "aws:iam/accessKey:AccessKey":
        key_id = "AKIA" + _digest("access-key", name, length=16).upper()
        return {"_id": key_id, "secret": _digest("secret", name, length=40), "sesSmtpPasswordV4": "B" + _digest("smtp", name, length=43), "status": "Active"}
    return {}


def _random_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    length = int(inputs.get("length", 32) or 32)
    seed = _digest(typ, name, length=64)
    if typ in ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString"):
        result = (seed * 4)[:length]
        return {"result": result, "bcryptHash": f"$2a$10${seed[:53]}"}
    if typ == "random:index/randomId:RandomId":
        size = int(inputs.get("byteLength", 16) or 16)
        hex_ = (seed * 4)[: size * 2]
        return {"hex": hex_, "b64Std": hex_, "b64Url": hex_, "dec": str(int(hex_, 16))}
    if typ == "random:index/randomBytes:RandomBytes":
        return {"base64": seed[:44], "hex": seed}
    if typ == "random:index/randomUuid:RandomUuid":
        return {"result": f"{seed[:8]}-{seed[8:12]}-{seed[12:16]}-{seed[16:20]}-{seed[20:32]}"}
    if typ == "random:index/randomInteger:RandomInteger":
        return {"result": int(inputs.get("min", 0))}
    return {}


def skip_source_positions() -> None:
    """Make the SDK send no stack trace with each registration. It walks the Python stack
    (`traceback.extract_stack`, reading every frame's source line) for every resource so the
    engine can show where it was declared (pulumi 3.272.0 runtime/resource.py
    `_get_stack_trace`); the mock monitor never reads it (~0.04 s of a dev synthesis).
    Process-global, like the mocks: synthesis only."""
    from pulumi.runtime import resource
    from pulumi.runtime.proto import source_pb2

    resource._get_stack_trace = source_pb2.StackTrace  # an empty trace: no source position


class RecordingMonitor(MockMonitor):
    """A MockMonitor that keeps every registration's options for the synth report."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            from pulumi.runtime import rpc

            # MockMonitor deserialized request.object for the mock in this very call (same
            # thread); a value unknown under preview=False reaches it as None.
            seen = self.mocks.take_inputs() if isinstance(self.mocks, SynthMocks) else None
            if seen is None:
                seen = rpc.deserialize_properties(request.object, keep_unknowns=True) if request.object else {}
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent or None,
                    custom=bool(request.custom),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    dependencies=sorted(set(request.dependencies)),
                    inputs=_record(seen),
                    order=len(self.registrations),
                    provider=request.provider or None,
                    custom_timeouts=_timeouts(request),
                )
            )
        return response


def _timeouts(request: Any) -> dict[str, str] | None:
    timeouts = request.customTimeouts if request.HasField("customTimeouts") else None
    found = {k: getattr(timeouts, k) for k in ("create", "update", "delete") if timeouts and getattr(timeouts, k)}
    return found or None


def _record(value: Any) -> Any:
    """Inputs as synth reports them, in one walk (they can be large: the operators' CRDs):
    secrets masked (`redact`), unknowns shown as `[unknown]`, integral floats as ints
    (`normalize`)."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE:
            return _mask(value.get("value"))
        return {k: _record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_record(v) for v in value]
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Unknown) or (isinstance(value, str) and value == UNKNOWN):
        return "[unknown]"
    return value
