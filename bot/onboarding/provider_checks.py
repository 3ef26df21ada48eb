"""The provider checks: does each configured provider answer and accept its API key.

One cheap authenticated call per protocol, never one that could start (and
bill) a video: a models list where the protocol has one, otherwise a status
query for an id that cannot exist. Providers check the key first, so a
401/403 means the key was refused, while a 404 (unknown id) or 400 (a request
it will not run) means the key was accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from bot.config import ProviderSettings, env_name, offered_models
from bot.onboarding.report import Report

# An id no provider can have issued: only its status query is ever sent.
UNKNOWN_ID = "sora-bot-check-0000"
Kind = Literal["key", "list", "unknown"]
Verdict = Literal["ok", "fail", "unsure"]


@dataclass(frozen=True, slots=True)
class Probe:
    """One request to a provider.

    ``key`` asks about the key itself, ``list`` lists models (it may be absent:
    404 is inconclusive), ``unknown`` asks about something that does not exist
    (404/400 mean the key was accepted). ``then`` runs the next probe even after a pass.
    """

    kind: Kind
    method: str
    path: str
    json: dict[str, Any] | None = None
    then: bool = False


@dataclass
class Outcome:
    """What one probe learnt."""

    verdict: Verdict
    text: str
    model_ids: list[str] = field(default_factory=list)


PROBES: dict[str, tuple[Probe, ...]] = {
    # Chat gateways often list models at GET /v1/models (not guaranteed); a POST with
    # no model and no messages is refused as invalid (400) once the key is accepted.
    "chat": (
        Probe("list", "GET", "/v1/models"),
        Probe("unknown", "POST", "/v1/chat/completions", json={}),
    ),
    "generations": (Probe("unknown", "GET", f"/v2/videos/generations/{UNKNOWN_ID}"),),
    "videos": (Probe("unknown", "GET", f"/v1/videos/{UNKNOWN_ID}"),),
    # OpenRouter's catalogue may answer without a key, so the key is checked on its
    # own endpoint first (https://openrouter.ai/docs/api/api-reference/api-keys/get-current-key).
    "openrouter": (
        Probe("key", "GET", "/api/v1/key", then=True),
        Probe("list", "GET", "/api/v1/videos/models"),
    ),
}


def provider_label(settings: ProviderSettings) -> str:
    """``provider generations (https://api.example.com)``: which provider a line is about."""
    return f"provider {settings.name or settings.protocol} ({settings.base_url})"


def _variable(settings: ProviderSettings, suffix: str) -> str:
    """The provider's own variable: ``PROVIDER_API_KEY``, or ``PROVIDER_<NAME>_API_KEY``."""
    return f"PROVIDER_{env_name(settings.name)}_{suffix}" if settings.name else f"PROVIDER_{suffix}"


async def _run(session: aiohttp.ClientSession, settings: ProviderSettings, probe: Probe) -> Outcome:
    url = settings.base_url + probe.path
    headers = {"Authorization": settings.auth_header}
    timeout = aiohttp.ClientTimeout(total=settings.request_timeout)
    where = f"{probe.method} {probe.path}"
    try:
        async with session.request(
            probe.method, url, headers=headers, json=probe.json, timeout=timeout
        ) as resp:
            status = resp.status
            body = await resp.json(content_type=None) if status == 200 else None
    except TimeoutError:
        return Outcome(
            "fail",
            f"no answer to {where} within {settings.request_timeout:g} s "
            f"({_variable(settings, 'REQUEST_TIMEOUT')}): is "
            f"{_variable(settings, 'BASE_URL')} right and the provider up?",
        )
    except aiohttp.ClientError as exc:
        variable = _variable(settings, "BASE_URL")
        return Outcome("fail", f"cannot reach it ({type(exc).__name__}): check {variable}")
    except ValueError:  # a 200 whose body is not JSON: not the API we expect
        return Outcome("unsure", f"{where} answered something that is not JSON")
    return _judge(status, body, probe, where, settings)


def _judge(status: int, body: Any, probe: Probe, where: str, settings: ProviderSettings) -> Outcome:
    if status in (401, 403):
        return Outcome(
            "fail",
            f"the API key was refused (HTTP {status} to {where}): check "
            f"{_variable(settings, 'API_KEY')} and {_variable(settings, 'AUTH_SCHEME')}",
        )
    if status == 402:
        return Outcome("fail", "the key was accepted but the account has no credit (HTTP 402)")
    if status == 429:
        return Outcome("ok", f"reachable, busy right now (HTTP 429 to {where}); key not refused")
    if status >= 500:
        return Outcome("fail", f"the provider failed (HTTP {status} to {where}); try again later")
    if 200 <= status < 300:
        ids = _model_ids(body) if probe.kind == "list" else []
        return Outcome("ok", f"the API key was accepted ({where})", ids)
    if probe.kind == "unknown" and status in (400, 404, 409, 422):
        return Outcome("ok", f"the API key was accepted ({where} answered {status} as expected)")
    return Outcome("unsure", f"{where} answered HTTP {status}")


def _model_ids(body: Any) -> list[str]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return []
    return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]


async def check_provider(session: aiohttp.ClientSession, settings: ProviderSettings) -> Report:
    """Run the protocol's probes in order until one decides; one line, plus model findings."""
    report = Report()
    label = provider_label(settings)
    passed: Outcome | None = None
    listed: list[str] = []
    unsure: list[str] = []
    for probe in PROBES[settings.protocol]:
        outcome = await _run(session, settings, probe)
        if outcome.verdict == "fail":
            report.fail(label, outcome.text)
            return report
        if outcome.verdict == "unsure":
            unsure.append(outcome.text)
            continue
        passed = passed or outcome
        listed = listed or outcome.model_ids
        if not probe.then:
            break
    if passed is None:
        report.fail(
            label,
            f"could not tell whether the key works: {'; '.join(unsure)}. Is "
            f"{_variable(settings, 'BASE_URL')} the address of a {settings.protocol} provider?",
        )
        return report
    report.ok(label, passed.text)
    _check_models(report, label, settings, listed)
    return report


def _check_models(
    report: Report, label: str, settings: ProviderSettings, listed: list[str]
) -> None:
    """Say when a configured model is missing from the provider's own list."""
    if not listed:
        return
    wanted = offered_models(settings) or (settings.model,)
    missing = [m for m in wanted if m not in listed]
    if not missing:
        return
    names = ", ".join(missing)
    models = f"{_variable(settings, 'MODEL')} and {_variable(settings, 'MODELS')}"
    if settings.protocol == "openrouter":  # its catalogue is what the bot offers from
        report.fail(label, f"not in its video catalogue: {names}; check {models}")
    else:  # gateways' lists are often incomplete: the model may still work
        report.warn(label, f"not in its model list: {names}; check {models}")
