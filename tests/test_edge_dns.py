"""EdgeDNS per DNS provider: the exact record sets, SES mail authentication, IAM documents,
the SMTP credentials' secret wiring, the DNS-01 Secret and solver, and a dev stack without
any cloud resource (Mailpit instead)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, Synth, run_synth
from tests.upstream import crd_errors

STAGING = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"]
NS = "saas-platform"
REGION = "eu-west-1"  # aws:region of the staging and prod stack files
# No `static`: nothing serves such a host (review finding 7); graylog's IngressRoute exists.
WEB_LABELS = ("", "www", "app", "grafana", "graylog", "rabbitmq")
CF_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
R53_RECORD = "aws:route53/record:Record"


def _variant(directory: Path, name: str, **edge: Any) -> Path:
    cfg = json.loads(json.dumps(STAGING))
    cfg[f"{NS}:edge"] = {**cfg[f"{NS}:edge"], **edge}
    if cfg[f"{NS}:edge"]["dns"] != "cloudflare":
        cfg.pop(f"{NS}:cloudflareDns01Token", None)  # a secret nothing would use is a config error
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": cfg}))
    return path


@pytest.fixture(scope="module")
def route53(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Staging with Route53 instead of Cloudflare, records in the parent zone, a rotated SMTP key."""
    base = tmp_path_factory.mktemp("route53")
    stack_file = _variant(
        base, "staging", dns="route53", route53={"zoneName": "example.net"},
        mail={**STAGING[f"{NS}:edge"]["mail"], "smtpKeyRotation": 2},
    )
    proc = run_synth("staging", base / "out", "--stack-file", str(stack_file))
    synth = Synth.load("staging", base / "out", proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return synth


@pytest.fixture(params=["staging", "prod"])
def cloudflare(request: pytest.FixtureRequest, synthesized: dict[str, Synth]) -> Synth:
    synth = synthesized[request.param]
    assert synth.returncode == 0, synth.stderr
    return synth


@pytest.fixture(params=["cloudflare", "route53"])
def edge_stack(request: pytest.FixtureRequest, synthesized: dict[str, Synth], route53: Synth) -> Synth:
    return synthesized["staging"] if request.param == "cloudflare" else route53


def domain_of(stack: Synth) -> str:
    return stack.outputs["domain"]


def one(stack: Synth, type_: str) -> dict[str, Any]:
    (resource,) = stack.of_type(type_)
    return resource


def dkim_tokens(stack: Synth) -> list[str]:
    identity = one(stack, "aws:sesv2/emailIdentity:EmailIdentity")
    assert identity["inputs"]["emailIdentity"] == domain_of(stack)
    names = [
        r["inputs"]["name"] for r in stack.resources
        if r["type"] in (CF_RECORD, R53_RECORD) and r["inputs"]["name"].endswith(f"._domainkey.{domain_of(stack)}")
    ]
    return sorted(n.split(".", 1)[0] for n in names)


def expected_records(stack: Synth, address: str) -> set[tuple[str, str, bool]]:
    """(name, type, proxied) of every record EdgeDNS must publish for the stack's domain."""
    domain = domain_of(stack)
    web = {(f"{label}.{domain}" if label else domain, "A", True) for label in WEB_LABELS}
    mail = {(f"{token}._domainkey.{domain}", "CNAME", False) for token in dkim_tokens(stack)}
    mail |= {
        (domain, "TXT", False),  # SPF
        (f"_dmarc.{domain}", "TXT", False),
        (f"bounce.{domain}", "MX", False),  # MAIL FROM
        (f"bounce.{domain}", "TXT", False),  # MAIL FROM SPF
    }
    return web | mail


# ---- records per provider -------------------------------------------------------------------


def test_cloudflare_publishes_exactly_the_record_set(cloudflare: Synth) -> None:
    records = [r["inputs"] for r in cloudflare.of_type(CF_RECORD)]
    assert len(dkim_tokens(cloudflare)) == 3
    published = {(r["name"], r["type"], r["proxied"]) for r in records}
    assert len(published) == len(records) == 13
    assert published == expected_records(cloudflare, "")
    zone = cloudflare.outputs["dnsZoneId"]
    for record in records:
        assert record["zoneId"] == zone
        # Proxied records must use automatic TTL; DNS-only ones a real TTL.
        assert record["ttl"] == (1 if record["proxied"] else 3600), record["name"]
        if record["type"] == "A":
            # No committed override: the address Traefik's LoadBalancer reports (the mocks' IP).
            assert record["content"] == "203.0.113.10"


def test_route53_publishes_the_same_names_without_a_proxy(route53: Synth) -> None:
    records = [r["inputs"] for r in route53.of_type(R53_RECORD)]
    assert route53.of_type(CF_RECORD) == [] and route53.of_type("cloudflare:index/zoneSetting:ZoneSetting") == []
    published = {(r["name"], r["type"], True if r["type"] == "A" else False) for r in records}
    assert len(records) == 13
    assert published == expected_records(route53, "")
    zone_id = route53.outputs["dnsZoneId"]
    assert zone_id.startswith("Z") and all(r["zoneId"] == zone_id for r in records)
    assert {r["ttl"] for r in records if r["type"] == "A"} == {300}
    assert {r["ttl"] for r in records if r["type"] != "A"} == {3600}


def _answers(stack: Synth) -> dict[tuple[str, str], list[str]]:
    answers: dict[tuple[str, str], list[str]] = {}
    for r in stack.resources:
        if r["type"] == CF_RECORD:
            value = r["inputs"]["content"]
            if r["inputs"]["type"] == "MX":
                value = f"{int(r['inputs']['priority'])} {value}"
            answers.setdefault((r["inputs"]["name"], r["inputs"]["type"]), []).append(value.strip('"'))
        elif r["type"] == R53_RECORD:
            answers.setdefault((r["inputs"]["name"], r["inputs"]["type"]), []).extend(r["inputs"]["records"])
    return answers


def test_ses_dkim_spf_dmarc_and_mail_from_records(edge_stack: Synth) -> None:
    domain = domain_of(edge_stack)
    answers = _answers(edge_stack)
    for token in dkim_tokens(edge_stack):
        assert answers[(f"{token}._domainkey.{domain}", "CNAME")] == [f"{token}.dkim.amazonses.com"]
    assert answers[(domain, "TXT")] == ["v=spf1 include:amazonses.com ~all"]
    assert answers[(f"_dmarc.{domain}", "TXT")] == [
        "v=DMARC1; p=quarantine; sp=quarantine; adkim=s; aspf=r; fo=1; rua=mailto:dmarc@example.net"
    ]
    assert answers[(f"bounce.{domain}", "MX")] == [f"10 feedback-smtp.{REGION}.amazonses.com"]
    assert answers[(f"bounce.{domain}", "TXT")] == ["v=spf1 include:amazonses.com ~all"]
    mail_from = one(edge_stack, "aws:sesv2/emailIdentityMailFromAttributes:EmailIdentityMailFromAttributes")["inputs"]
    assert mail_from["mailFromDomain"] == f"bounce.{domain}"


def test_dmarc_policy_follows_config(synthesized: dict[str, Synth]) -> None:
    answers = _answers(synthesized["prod"])
    assert answers[("_dmarc.example.com", "TXT")][0].startswith("v=DMARC1; p=reject; sp=reject;")


def test_ses_identity_sends_events_to_sns(edge_stack: Synth) -> None:
    identity = one(edge_stack, "aws:sesv2/emailIdentity:EmailIdentity")["inputs"]
    configuration_set = one(edge_stack, "aws:sesv2/configurationSet:ConfigurationSet")["inputs"]
    assert identity["configurationSetName"] == configuration_set["configurationSetName"]
    assert configuration_set["deliveryOptions"]["tlsPolicy"] == "REQUIRE"
    destination = one(edge_stack, "aws:sesv2/configurationSetEventDestination:ConfigurationSetEventDestination")["inputs"]
    topic = one(edge_stack, "aws:sns/topic:Topic")
    assert destination["eventDestination"]["enabled"] is True
    assert sorted(destination["eventDestination"]["matchingEventTypes"]) == ["BOUNCE", "COMPLAINT"]
    topic_arn = destination["eventDestination"]["snsDestination"]["topicArn"]
    assert topic_arn.endswith(":" + topic["inputs"]["name"])
    subscription = one(edge_stack, "aws:sns/topicSubscription:TopicSubscription")["inputs"]
    assert (subscription["protocol"], subscription["endpoint"], subscription["topic"]) == ("email", "ops@example.net", topic_arn)
    publish = json.loads(one(edge_stack, "aws:sns/topicPolicy:TopicPolicy")["inputs"]["policy"])
    (statement,) = publish["Statement"]
    assert statement["Principal"] == {"Service": "ses.amazonaws.com"}
    assert statement["Action"] == "SNS:Publish" and statement["Resource"] == topic_arn
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"].endswith(":configuration-set/" + configuration_set["configurationSetName"])


# ---- IAM ------------------------------------------------------------------------------------


def policies(stack: Synth) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["name"]: json.loads(r["inputs"]["policy"]) for r in stack.of_type("aws:iam/userPolicy:UserPolicy")}


def test_smtp_user_may_only_send_as_the_domain(edge_stack: Synth) -> None:
    domain = domain_of(edge_stack)
    (statement,) = policies(edge_stack)["ses-send-as-domain"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["ses:SendEmail", "ses:SendRawEmail"]
    assert sorted(statement["Resource"]) == sorted([
        f"arn:aws:ses:{REGION}:123456789012:configuration-set/saas-platform-staging-mail",
        f"arn:aws:ses:{REGION}:123456789012:identity/{domain}",
    ])
    assert statement["Condition"] == {"StringLike": {"ses:FromAddress": f"*@{domain}"}}


def test_route53_dns01_user_may_only_touch_acme_challenges(route53: Synth) -> None:
    domain = domain_of(route53)
    zone_arn = f"arn:aws:route53:::hostedzone/{route53.outputs['dnsZoneId']}"
    statements = {s["Sid"]: s for s in policies(route53)["acme-dns01-challenges"]["Statement"]}
    change = statements["AcmeChallengeRecordsOnly"]
    assert (change["Action"], change["Resource"]) == (["route53:ChangeResourceRecordSets"], [zone_arn])
    assert change["Condition"]["ForAllValues:StringEquals"] == {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}
    assert change["Condition"]["ForAllValues:StringLike"] == {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [f"_acme-challenge.{domain}", f"_acme-challenge.*.{domain}"]
    }
    assert (statements["ReadTheZone"]["Action"], statements["ReadTheZone"]["Resource"]) == (["route53:ListResourceRecordSets"], [zone_arn])
    assert statements["WatchPropagation"]["Resource"] == ["arn:aws:route53:::change/*"]


def test_no_iam_document_grants_a_wildcard_action_or_resource(edge_stack: Synth) -> None:
    documents = list(policies(edge_stack).values())
    documents.append(json.loads(one(edge_stack, "aws:sns/topicPolicy:TopicPolicy")["inputs"]["policy"]))
    assert len(documents) == (2 if edge_stack.of_type(R53_RECORD) else 1) + 1
    for document in documents:
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert actions and all("*" not in action for action in actions), statement
            assert "*" not in resources and "NotAction" not in statement, statement
            assert statement["Effect"] == "Allow"


def test_key_rotation_counter_replaces_the_smtp_key(synthesized: dict[str, Synth], route53: Synth) -> None:
    def key_names(stack: Synth) -> set[str]:
        return {r["name"] for r in stack.of_type("aws:iam/accessKey:AccessKey")}

    assert "edge-ses-smtp-key-r1" in key_names(synthesized["staging"])
    assert "edge-ses-smtp-key-r2" in key_names(route53) and "edge-ses-smtp-key-r1" not in key_names(route53)


# ---- mail relay and DNS-01 wiring -----------------------------------------------------------


def test_mail_relay_is_ses_with_secret_credentials(edge_stack: Synth) -> None:
    relay = edge_stack.outputs["mailRelay"]
    assert relay == {"host": f"email-smtp.{REGION}.amazonaws.com", "port": 587, "tls": True, "from": "no-reply@example.net"}
    assert edge_stack.outputs["mailRelayCredentials"] == "[secret]"


WIRING_PROGRAM = """
import pulumi
from components import config
from components.edge import EdgeDNS, EdgeDNSArgs

settings = config.load()
edge = EdgeDNS("edge", EdgeDNSArgs(config=settings, ingress_address="192.0.2.10",
               dns01_secret=("cert-manager", "dns01-credentials"), mail_catcher_namespace="saas-app"))
# What a consumer (LaravelBackend, Alertmanager) receives: secret Outputs. Unwrapped copies let
# the test check they carry the access key id and the SES SMTP password of that key.
pulumi.export("username", edge.mail.username)
pulumi.export("password", edge.mail.password)
pulumi.export("usernameValue", pulumi.Output.unsecret(edge.mail.username))
pulumi.export("passwordValue", pulumi.Output.unsecret(edge.mail.password))
"""


def test_smtp_credentials_are_the_access_keys_ses_password(tmp_path: Path) -> None:
    from synth.mocks import SynthMocks

    program = tmp_path / "wiring.py"
    program.write_text(WIRING_PROGRAM)
    proc = run_synth("staging", tmp_path / "out", "--program", str(program))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = json.loads((tmp_path / "out" / "outputs.json").read_text())
    assert outputs["username"] == outputs["password"] == "[secret]"
    expected = SynthMocks().new_resource(_Args("aws:iam/accessKey:AccessKey", "edge-ses-smtp-key-r1"))
    assert outputs["usernameValue"] == expected[0] and outputs["usernameValue"].startswith("AKIA")
    assert outputs["passwordValue"] == expected[1]["sesSmtpPasswordV4"]
    # The password never appears in what synth writes about resources.
    assert expected[1]["sesSmtpPasswordV4"] not in (tmp_path / "out" / "resources.json").read_text()


class _Args:
    def __init__(self, typ: str, name: str) -> None:
        self.typ, self.name, self.inputs, self.custom, self.provider, self.id = typ, name, {}, True, None, None


def test_dns01_secret_holds_the_provider_credentials(edge_stack: Synth) -> None:
    # The Secret sits where the platform's DNS-01 solver reads it (cert-manager's namespace).
    secret = edge_stack.object("Secret", "dns01-credentials", edge_stack.outputs["namespaces"]["cert-manager"])
    keys = sorted(secret["stringData"])
    if edge_stack.of_type(R53_RECORD):
        assert keys == ["access-key-id", "secret-access-key"]
    else:
        assert keys == ["api-token"]
    assert set(secret["stringData"].values()) == {"[secret]"}


def _issuer(solver: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": "letsencrypt"},
        "spec": {"acme": {
            "server": "https://acme-v02.api.letsencrypt.org/directory",
            "privateKeySecretRef": {"name": "letsencrypt-account"},
            "solvers": [{"dns01": solver}],
        }},
    }


def test_dns01_solver_fits_cert_managers_clusterissuer(edge_stack: Synth) -> None:
    solver = edge_stack.outputs["dns01Solver"]
    assert crd_errors(_issuer(solver)) == []
    if edge_stack.of_type(R53_RECORD):
        assert solver["route53"]["hostedZoneID"] == edge_stack.outputs["dnsZoneId"]
        assert solver["route53"]["region"] == REGION
        assert solver["route53"]["secretAccessKeySecretRef"] == {"name": "dns01-credentials", "key": "secret-access-key"}
    else:
        assert solver == {"cloudflare": {"apiTokenSecretRef": {"name": "dns01-credentials", "key": "api-token"}}}


def test_dns01_solver_check_can_fail() -> None:
    typo = {"cloudflare": {"apiTokenSecretRef": {"name": "dns01-credentials", "keys": "api-token"}}}
    assert crd_errors(_issuer(typo))


# ---- Cloudflare zone hardening ---------------------------------------------------------------


def test_zone_settings_are_strict_and_protected_in_prod(cloudflare: Synth) -> None:
    settings = {r["inputs"]["settingId"]: r for r in cloudflare.of_type("cloudflare:index/zoneSetting:ZoneSetting")}
    values = {key: r["inputs"]["value"] for key, r in settings.items()}
    assert values["ssl"] == "strict" and values["always_use_https"] == "on"
    assert values["min_tls_version"] == "1.2" and values["tls_1_3"] == "on"
    # Cloudflare API v4 deprecations: the `brotli` setting reached end of life on 2024-06-14
    # (developers.cloudflare.com/fundamentals/api/reference/deprecations); never managed.
    assert "brotli" not in values
    hsts = values["security_header"]["strict_transport_security"]
    assert hsts["enabled"] is True and hsts["max_age"] >= 15552000 and hsts["include_subdomains"] is True
    production = cloudflare.stack == "prod"
    assert all(r["protect"] is production and r["retainOnDelete"] for r in settings.values())
    identity = one(cloudflare, "aws:sesv2/emailIdentity:EmailIdentity")
    assert identity["protect"] is production and identity["retainOnDelete"] is production


def test_rulesets_limit_rates_block_exploits_and_cache_assets(cloudflare: Synth) -> None:
    rulesets = {r["inputs"]["phase"]: r["inputs"] for r in cloudflare.of_type("cloudflare:index/ruleset:Ruleset")}
    assert set(rulesets) == {"http_ratelimit", "http_request_firewall_custom", "http_request_cache_settings"}
    assert all(r["kind"] == "zone" and r["zoneId"] == cloudflare.outputs["dnsZoneId"] for r in rulesets.values())
    api = f"app.{domain_of(cloudflare)}"
    limits = {rule["ref"]: rule for rule in rulesets["http_ratelimit"]["rules"]}
    assert set(limits) == {"rate_limit_login", "rate_limit_api"}
    for rule in limits.values():
        assert f'http.host eq "{api}"' in rule["expression"] and rule["action"] == "block"
        assert rule["ratelimit"]["characteristics"] == ["cf.colo.id", "ip.src"]
    assert '"/login"' in limits["rate_limit_login"]["expression"]
    assert limits["rate_limit_login"]["ratelimit"]["requestsPerPeriod"] < limits["rate_limit_api"]["ratelimit"]["requestsPerPeriod"]
    waf = {rule["ref"]: rule for rule in rulesets["http_request_firewall_custom"]["rules"]}
    assert waf["block_exploit_paths"]["action"] == "block"
    for path in ("/.env", "/.git/", "/_ignition/", "/vendor/phpunit/"):
        assert f'"{path}"' in waf["block_exploit_paths"]["expression"]
    domain = domain_of(cloudflare)
    admin = waf["challenge_admin_hosts"]["expression"]
    assert all(f'"{label}.{domain}"' in admin for label in ("grafana", "graylog", "rabbitmq")), admin
    cache = {rule["ref"]: rule for rule in rulesets["http_request_cache_settings"]["rules"]}
    # Only hosts that exist are cached: no rule for a `static.` host nothing serves.
    assert set(cache) == {"cache_next_static"}
    assert "static." not in json.dumps(rulesets)
    assert all(rule["actionParameters"]["cache"] is True for rule in cache.values())


# ---- development: no cloud, Mailpit ---------------------------------------------------------


def test_dev_registers_no_cloud_resource_and_runs_mailpit(synthesized: dict[str, Synth]) -> None:
    dev = synthesized["dev"]
    assert dev.returncode == 0, dev.stderr
    assert [r["type"] for r in dev.resources if r["type"].startswith(("aws:", "cloudflare:"))] == []
    assert dev.outputs["dnsZoneId"] is None and dev.outputs["dns01Solver"] is None
    assert dev.outputs["mailRelay"] == {"host": "mailpit.saas-app.svc.cluster.local", "port": 1025, "tls": False, "from": "no-reply@saas.localhost"}
    assert dev.outputs["mailRelayCredentials"] == "[secret]"
    deployment = dev.object("Deployment", "mailpit", "saas-app")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("axllent/mailpit:v1.")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MP_SMTP_AUTH_ACCEPT_ANY"] == "true"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    service = dev.object("Service", "mailpit", "saas-app")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"smtp": 1025, "http": 8025}
    policy = dev.object("NetworkPolicy", "mailpit-allow-smtp", "saas-app")["spec"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 1025}]
    sources = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in rule["from"]}
    assert sources == {"saas-app", "saas-monitoring"}


def test_edge_stacks_run_no_mailpit(cloudflare: Synth) -> None:
    assert [d for d in cloudflare.objects("Deployment") if d["metadata"]["name"] == "mailpit"] == []


# ---- the record type follows the load balancer's answer (review finding 11) ------------------


def _resolve(address: str, *record_type: Any) -> list[tuple[str, str]]:
    """(type, content) of every web record for `address`, resolved in an event loop."""
    import pulumi

    from components.edge.records import web_records
    from tests.conftest import run_in_fresh_loop

    async def run() -> list[tuple[str, str]]:
        records = web_records("example.com", pulumi.Output.from_input(address), *record_type)
        assert {r.key for r in records} == {"apex", "www", "app", "grafana", "graylog", "rabbitmq"}
        assert all(r.proxied for r in records)
        return [(await r.type.future(), await r.content.future()) for r in records]

    return run_in_fresh_loop(run)


@pytest.mark.parametrize(
    ("address", "expected"),
    [("198.51.100.7", "A"), ("2001:db8::7", "AAAA"), ("a1b2-123.elb.eu-west-1.amazonaws.com", "CNAME")],
)
def test_web_record_type_follows_the_reported_address(address: str, expected: str) -> None:
    """An AWS load balancer reports `status.loadBalancer.ingress[0].hostname`, never `ip`: a
    host name published as an A record is rejected by the DNS API."""
    assert set(_resolve(address)) == {(expected, address)}


def test_an_empty_load_balancer_address_is_a_clear_error() -> None:
    import pulumi

    with pytest.raises(pulumi.RunError, match="reports no address yet"):
        _resolve("")


def test_route53_refuses_a_host_name_at_the_apex() -> None:
    import pulumi

    from components.edge.records import route53_record_type

    with pytest.raises(pulumi.RunError, match="Route53 cannot point the apex at a host name"):
        _resolve("lb.example.net", route53_record_type)
    assert set(_resolve("198.51.100.7", route53_record_type)) == {("A", "198.51.100.7")}


def test_origin_answers_only_cloudflare(synthesized: dict[str, Synth]) -> None:
    """Review finding 25: behind Cloudflare the Traefik load balancer admits only Cloudflare's
    ranges, so nobody reaches the origin around the WAF and rate limits."""
    from components.platform.traefik import cloudflare_ranges

    for stack in ("staging", "prod"):
        service = synthesized[stack].release("traefik")["values"]["service"]["spec"]
        assert service["loadBalancerSourceRanges"] == cloudflare_ranges()
    assert "loadBalancerSourceRanges" not in synthesized["dev"].release("traefik")["values"]["service"]["spec"]
