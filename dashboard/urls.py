from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from dashboard.metrics import metrics

urlpatterns = [
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
]
