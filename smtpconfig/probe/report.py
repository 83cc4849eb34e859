"""What a test found, step by step: the report the admin, the command and the profile keep."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from ..diagnosis import Diagnosis
from ..transport.clients import TRANSCRIPT_CUT
from ..transport.steps import Step

#: The most a report may take as JSON (it is stored on the profile and sent to the page).
MAX_REPORT_BYTES = 64 * 1024


@dataclass
class StepResult:
    """One step of the conversation: its outcome, duration and evidence."""

    name: str
    ok: bool = False
    duration: float = 0.0
    detail: str = ""
    reply_code: int | None = None
    reply: str = ""

    @property
    def label(self) -> str:
        return str(Step(self.name).label) if self.name in Step.values else self.name

    @property
    def duration_ms(self) -> str:
        """The duration in milliseconds, to a tenth below 10 ms."""
        milliseconds = self.duration * 1000
        return f"{milliseconds:.1f}" if milliseconds < 10 else f"{milliseconds:.0f}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label, "duration": round(self.duration, 4)}


@dataclass
class ProbeReport:
    """What happened, step by step, and why it failed if it did."""

    host: str
    port: int
    security: str
    recipient: str
    send: bool
    steps: list[StepResult] = field(default_factory=list)
    ok: bool = False
    sent: bool = False
    diagnosis: Diagnosis | None = None
    addresses: list[str] = field(default_factory=list)
    certificate: dict = field(default_factory=dict)
    tls: dict = field(default_factory=dict)
    capabilities: list[str] = field(default_factory=list)
    auth_mechanism: str = ""
    final_reply: str = ""
    queue_id: str = ""
    transcript: list[str] = field(default_factory=list)
    duration: float = 0.0
    #: Something the server sent was too long to keep in full, and was cut.
    cut: bool = False
    exception: BaseException | None = field(default=None, repr=False)

    @property
    def failed_step(self) -> StepResult | None:
        return next((step for step in self.steps if not step.ok), None)

    def summary(self) -> str:
        """One line for a message, a log or the profile's last-test column."""
        server = f"{self.host}:{self.port}"
        if self.ok and self.sent:
            return _("%(server)s accepted the test email for %(recipient)s: %(reply)s") % {
                "server": server,
                "recipient": self.recipient,
                "reply": self.final_reply,
            }
        if self.ok:
            return _(
                "%(server)s accepted the connection, login, sender and recipient; "
                "no message was sent."
            ) % {"server": server}
        step = self.failed_step
        return _("The test failed at “%(step)s” on %(server)s: %(reason)s") % {
            "step": step.label if step else "?",
            "server": server,
            "reason": self.diagnosis.problem if self.diagnosis else (step.detail if step else ""),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeReport:
        """A report from :meth:`as_dict`'s data (a profile's stored last report)."""
        steps = [
            StepResult(
                name=step["name"],
                ok=step["ok"],
                duration=step.get("duration", 0.0),
                detail=step.get("detail", ""),
                reply_code=step.get("reply_code"),
                reply=step.get("reply", ""),
            )
            for step in data.get("steps", [])
            if step.get("name") in Step.values
        ]
        diagnosis = data.get("diagnosis")
        return cls(
            host=data.get("host", ""),
            port=data.get("port", 0),
            security=data.get("security", ""),
            recipient=data.get("recipient", ""),
            send=data.get("send", data.get("sent", False)),
            steps=steps,
            ok=data.get("ok", False),
            sent=data.get("sent", False),
            diagnosis=Diagnosis.from_dict(diagnosis) if diagnosis else None,
            addresses=data.get("addresses", []),
            certificate=data.get("certificate", {}),
            tls=data.get("tls", {}),
            capabilities=data.get("capabilities", []),
            auth_mechanism=data.get("auth_mechanism", ""),
            final_reply=data.get("final_reply", ""),
            queue_id=data.get("queue_id", ""),
            transcript=data.get("transcript", []),
            duration=data.get("duration", 0.0),
            cut=bool(data.get("cut", False)),
        )

    def as_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data, at most :data:`MAX_REPORT_BYTES` as JSON.

        Whatever a server made long (its replies, capabilities, the
        transcript) is shortened to fit, and ``"cut"`` says so.
        """
        data = {
            "ok": self.ok,
            "sent": self.sent,
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "recipient": self.recipient,
            "send": self.send,
            "summary": self.summary(),
            "steps": [step.as_dict() for step in self.steps],
            "failed_step": self.failed_step.name if self.failed_step else None,
            "diagnosis": self.diagnosis.as_dict() if self.diagnosis else None,
            "addresses": self.addresses,
            "certificate": self.certificate,
            "tls": self.tls,
            "capabilities": self.capabilities,
            "auth_mechanism": self.auth_mechanism,
            "final_reply": self.final_reply,
            "queue_id": self.queue_id,
            "transcript": self.transcript,
            "duration": round(self.duration, 4),
            "cut": self.cut,
        }
        return _fit(data)


def _json_size(data: Any) -> int:
    # ASCII-escaped, as Django's JSONField and JsonResponse write it: the larger count.
    return len(json.dumps(data, default=str))


def _shorten(value: Any, chars: int, items: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= chars else value[:chars] + "…"
    if isinstance(value, list):
        kept = [_shorten(item, chars, items) for item in value[:items]]
        return kept + [TRANSCRIPT_CUT] if len(value) > items else kept
    if isinstance(value, dict):
        return {key: _shorten(item, chars, items) for key, item in value.items()}
    return value


def _fit(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` within MAX_REPORT_BYTES: strings and lists shortened, harder each round.

    Lists keep at least ten items, so the steps (eight at most) are never cut.
    """
    if _json_size(data) <= MAX_REPORT_BYTES:
        return data
    for chars, items in ((1000, 100), (200, 20), (60, 10)):
        shortened = _shorten({**data, "cut": True}, chars, items)
        if _json_size(shortened) <= MAX_REPORT_BYTES:
            return shortened
    # Only a report made of many long non-ASCII strings gets here: keep the verdict.
    keep = ("ok", "sent", "host", "port", "security", "send", "failed_step", "duration")
    return {
        **{key: data[key] for key in keep},
        "summary": _shorten(data["summary"], 200, 0),
        "steps": [
            {"name": step["name"], "ok": step["ok"], "label": step["label"]}
            for step in data["steps"]
        ],
        "cut": True,
    }
