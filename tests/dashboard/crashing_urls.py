"""The dashboard's URLs plus one view that raises, for the 500 page test."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from dashboard.urls import urlpatterns as dashboard_urlpatterns


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [path("crash/", crash), *dashboard_urlpatterns]
