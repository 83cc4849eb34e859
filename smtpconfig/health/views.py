"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work), as JSON.

Both answer GET and HEAD only, without login, set no cookie (they touch
neither the session nor the CSRF token) and forbid caching, so that a proxy
never answers a probe from a stale copy. ``/readyz`` costs a fixed handful of
small queries and no network beyond the database: it may be polled every few
seconds.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .checks import CHECKS, run_checks


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 ``{"status": "ok"}`` while the process serves requests; touches no database."""
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every check passes, else 503; the body names each check and the failing ones:

    ``{"status": "ok" | "fail", "failing": [...], "checks": {name: {"ok": ..., ...}}}``

    ``?skip=outbox`` (names comma-separated) leaves checks out: a load balancer's probe
    should not take every web instance out at once because the task workers stopped,
    while monitoring polls the whole of it. An unknown name is a 400 listing the names.
    """
    skip = frozenset(name for name in request.GET.get("skip", "").split(",") if name)
    unknown = sorted(skip - set(CHECKS))
    if unknown:
        return JsonResponse(
            {"status": "error", "unknown_checks": unknown, "checks": list(CHECKS)}, status=400
        )
    results = run_checks(skip)
    failing = [name for name, result in results.items() if result.ok is False]
    return JsonResponse(
        {
            "status": "fail" if failing else "ok",
            "failing": failing,
            "checks": {name: result.as_dict() for name, result in results.items()},
        },
        status=503 if failing else 200,
    )
