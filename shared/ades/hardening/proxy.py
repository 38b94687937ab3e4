"""Trusting exactly the configured reverse proxies, and enforcing HTTPS behind them.

`security.trusted_proxy_hops` is the number of proxies (nginx, an ingress) in front of
the service. ProxyFix takes the client address and scheme from that many entries,
counted from the right, of X-Forwarded-For and X-Forwarded-Proto, so whatever a client
puts into those headers itself is ignored. With 0 hops the headers are not read at all.
Nothing in this package parses X-Forwarded-For by hand.
"""

from __future__ import annotations

from flask import Flask, Response, redirect, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .context import HardeningState, is_exempt_path, json_error

_APPLIED_KEY = "ades.proxy_fix"


def apply_proxy_fix(app: Flask, hops: int) -> None:
    """Wrap `app.wsgi_app` in ProxyFix trusting `hops` proxies (once per app)."""
    if hops <= 0 or app.extensions.get(_APPLIED_KEY):
        return
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.extensions[_APPLIED_KEY] = hops


def require_https() -> Response | None:
    """Before-request hook: send plain-HTTP requests to HTTPS.

    Safe requests are redirected permanently (308); anything else is refused with 403,
    since its body has already crossed the network in the clear. Probe and metrics
    paths are left alone: kubelets and Prometheus reach pods directly over HTTP.
    """
    if request.is_secure or is_exempt_path():
        return None
    if request.method in ("GET", "HEAD"):
        return redirect(request.url.replace("http://", "https://", 1), code=308)
    return json_error(403, "HTTPS required")


def init_proxy(app: Flask, hardening: HardeningState) -> None:
    """Apply ProxyFix and, when `security.enforce_https` is set, the HTTPS redirect."""
    security = hardening.config.security
    apply_proxy_fix(app, security.trusted_proxy_hops)
    if security.enforce_https:
        app.before_request(require_https)
