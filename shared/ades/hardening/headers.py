"""Security headers on every response, error pages included.

The seed's five (X-Content-Type-Options, X-Frame-Options, X-XSS-Protection,
Strict-Transport-Security, Content-Security-Policy) plus Referrer-Policy and a few
cross-origin isolation headers. HSTS is only sent over HTTPS (as seen through the
trusted proxy) or when HTTPS is enforced: browsers ignore it on plain HTTP anyway, and
sending it from a laptop's http://localhost would pin that host to HTTPS. A view that
needs a different policy sets the header itself; these are only defaults.
"""

from __future__ import annotations

from flask import Flask, Response, request

from .context import HardeningState

CONTENT_SECURITY_POLICY = ("default-src 'self'; base-uri 'self'; form-action 'self'; "
                           "frame-ancestors 'none'; object-src 'none'")
HSTS = "max-age=31536000; includeSubDomains"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def add_security_headers(response: Response, *, enforce_https: bool) -> Response:
    """Set the default security headers on `response` (keeping any a view set)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure or enforce_https:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_headers(app: Flask, hardening: HardeningState) -> None:
    """Register the after-request hook that adds the headers to every response.

    Flask runs after-request hooks for responses made by error handlers too, including
    404, 405 and the 500 of an unhandled exception.
    """
    enforce = hardening.config.security.enforce_https

    def security_headers(response: Response) -> Response:
        return add_security_headers(response, enforce_https=enforce)

    app.after_request(security_headers)
