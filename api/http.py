"""The NinjaAPI object: token authentication, errors in one shape, the OpenAPI schema at
/api/v1/schema. The endpoints are in api/endpoints.py (every kind) and api/actions.py."""
from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from api.models import ApiToken
from tenancy.manifests import ManifestError


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        return ApiToken.objects.authenticate(token.strip())


class ApiError(Exception):
    """An answer other than success: `detail` says what to fix; `errors` name the fields."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []

    @classmethod
    def invalid(cls, e: ManifestError) -> ApiError:
        return cls(400, str(e) if e.path else e.message, [{"path": e.path, "message": e.message}])


DESCRIPTION = """Every team resource in the KubeStash shapes of `manage.py export` / `apply`.
Authenticate with `Authorization: Bearer <token>`: a team's owners make tokens in Team
settings; a token sees only its own team, and a read-only token cannot write (403).
Errors answer `{"detail": ..., "errors": [{"path": "spec.storage.s3.bucket", "message": ...}]}`."""

api = NinjaAPI(title="Stashboard API", version="1", description=DESCRIPTION, urls_namespace="api-v1",
               openapi_url="/schema", docs_url=None, auth=TokenAuth())


def token_of(request: HttpRequest) -> ApiToken:
    token = request.auth  # type: ignore[attr-defined]
    assert isinstance(token, ApiToken)
    return token


def writable_token(request: HttpRequest) -> ApiToken:
    token = token_of(request)
    if not token.can_write:
        raise ApiError(403, f"the token '{token.name}' is read-only: make a read-write token in Team settings to change things")
    return token


def _answer(request: HttpRequest, status: int, detail: str, errors: list[dict[str, str]] | None = None) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": errors or []}, status=status)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return _answer(request, exc.status, exc.detail, exc.errors)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _answer(request, 401, "give a valid API token: Authorization: Bearer <token> (Team settings makes them)")


@api.exception_handler(NinjaValidationError)
def _bad_parameters(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = []
    for e in exc.errors:
        loc: list[Any] = list(e.get("loc", []))
        where = ".".join(str(p) for p in loc[1:]) or str(loc[0] if loc else "")
        errors.append({"path": where, "message": str(e.get("msg", "invalid"))})
    detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors) or "invalid request"
    return _answer(request, 400, detail, errors)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _answer(request, 404, str(exc) or "not found")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _answer(request, exc.status_code, str(exc))

