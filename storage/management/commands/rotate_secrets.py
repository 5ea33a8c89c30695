from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from storage import encryption
from storage.models import Secret


class Command(BaseCommand):
    help = "Re-encrypt every secret with the newest key of FIELD_ENCRYPTION_KEYS (then the old keys can go)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            for secret in Secret.objects.select_for_update().exclude(encrypted_data=""):
                secret.encrypted_data = encryption.rotate(secret.encrypted_data)
                secret.save(update_fields=["encrypted_data"])
                count += 1
        self.stdout.write(f"re-encrypted {count} secret(s) with the newest key")
