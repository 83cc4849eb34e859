"""The container's health check: GET /healthz from inside the container (no curl in slim).

Exit 0 when the server answers 200, 1 otherwise (a redirect is not followed: it
would leave the container). The request names a host that DJANGO_ALLOWED_HOSTS
accepts, so that a site that allows only its public name is not reported
unhealthy for a 400.
"""

import http.client
import os
import sys

PORT = int(os.environ.get("HEALTHCHECK_PORT", "8000"))


def allowed_host() -> str:
    """The first name DJANGO_ALLOWED_HOSTS lists (a wildcard's domain), else 127.0.0.1."""
    for name in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(","):
        name = name.strip().lstrip(".")
        if name and name != "*":
            return name
    return "127.0.0.1"


def main() -> int:
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=4)
    try:
        connection.request("GET", "/healthz", headers={"Host": allowed_host()})
        status = connection.getresponse().status
    except OSError as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"unhealthy: /healthz answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
