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

from .checks import run_checks


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
    """
    results = run_checks()
    failing = [name for name, result in results.items() if result.ok is False]
    return JsonResponse(
        {
            "status": "fail" if failing else "ok",
            "failing": failing,
            "checks": {name: result.as_dict() for name, result in results.items()},
        },
        status=503 if failing else 200,
    )
