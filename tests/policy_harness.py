"""Speak to the policy pack the way the Pulumi engine does: start `policies/__main__.py`, read
the port it prints, and call the Analyzer gRPC service."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tests.conftest import ROOT

LEVELS = {0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(dict(props), struct_pb2.Struct())


class PolicyClient:
    def __init__(self, stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
        self.stub = stub

    def info(self) -> Any:
        return self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)

    def configure(self, config: Mapping[str, Mapping[str, Any]]) -> None:
        request = analyzer_pb2.ConfigureAnalyzerRequest(
            policyConfig={
                name: analyzer_pb2.PolicyConfig(
                    enforcementLevel=analyzer_pb2.MANDATORY, properties=_struct(values)
                )
                for name, values in config.items()
            }
        )
        self.stub.Configure(request, timeout=30)

    def analyze(self, record: Mapping[str, Any]) -> list[dict[str, str]]:
        request = analyzer_pb2.AnalyzeRequest(
            type=record["type"],
            properties=_struct(record.get("inputs") or {}),
            urn=record["urn"],
            name=record["name"],
            options=analyzer_pb2.AnalyzerResourceOptions(protect=bool(record.get("protect")), parent=record.get("parent") or ""),
        )
        return self._diagnostics(self.stub.Analyze(request, timeout=30))

    def analyze_stack(self, records: list[Mapping[str, Any]]) -> list[dict[str, str]]:
        resources = [
            analyzer_pb2.AnalyzerResource(
                type=r["type"],
                properties=_struct(r.get("inputs") or {}),
                urn=r["urn"],
                name=r["name"],
                options=analyzer_pb2.AnalyzerResourceOptions(protect=bool(r.get("protect")), parent=r.get("parent") or ""),
                parent=r.get("parent") or "",
                dependencies=r.get("dependencies", []),
            )
            for r in records
        ]
        return self._diagnostics(self.stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), timeout=60))

    @staticmethod
    def _diagnostics(response: Any) -> list[dict[str, str]]:
        # The server prefixes each message with the policy's description; keep the finding.
        return [
            {
                "policy": d.policyName,
                "level": LEVELS[d.enforcementLevel],
                "urn": d.urn,
                "message": d.message.removeprefix(d.description + "\n"),
            }
            for d in response.diagnostics
        ]


@contextmanager
def policy_server() -> Iterator[PolicyClient]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "policies" / "__main__.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT / "policies",
    )
    try:
        line = proc.stdout.readline().decode().strip() if proc.stdout else ""
        if not line.isdigit():
            raise RuntimeError(f"policy pack did not print a port: {line!r} {proc.stderr.read().decode() if proc.stderr else ''}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield PolicyClient(analyzer_pb2_grpc.AnalyzerStub(channel))
        channel.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)
