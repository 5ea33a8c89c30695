from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from django.core.management.base import BaseCommand, CommandError

SETTINGS = {"OIDC_OP_ISSUER": "issuer", "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
            "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint", "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
            "OIDC_OP_JWKS_ENDPOINT": "jwks_uri"}


class Command(BaseCommand):
    help = "Read a provider's /.well-known/openid-configuration and print the OIDC_OP_* environment lines."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("issuer", help="e.g. https://login.example.com/realms/main")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["issuer"].rstrip("/") + "/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=15) as response:
                config = json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise CommandError(f"{url}: {e}: check the issuer URL (it is the `iss` of the provider's tokens)") from None
        missing = [key for key in SETTINGS.values() if not config.get(key)]
        if missing:
            raise CommandError(f"{url} has no {', '.join(missing)}: is it an OpenID Connect provider?")
        for name, key in SETTINGS.items():
            self.stdout.write(f"{name}={config[key]}")
