from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from storage import encryption
from storage.models import Secret
from tests import factories as f

pytestmark = pytest.mark.django_db

VALUE = "s3cr3t-Value-that-must-never-show"


def test_a_secret_value_is_encrypted_at_rest(teams):
    secret = f.secret(teams["a"], "aws", {"AWS_SECRET_ACCESS_KEY": VALUE})
    with connection.cursor() as cursor:
        cursor.execute("SELECT encrypted_data, key_names FROM storage_secret WHERE id = %s", [secret.pk])
        stored, keys = cursor.fetchone()
    assert VALUE not in stored and "AWS_SECRET_ACCESS_KEY" not in stored
    assert Secret.objects.get(pk=secret.pk).get("AWS_SECRET_ACCESS_KEY") == VALUE
    assert "AWS_SECRET_ACCESS_KEY" in str(keys)


def test_a_secret_is_never_in_its_repr_or_str(teams):
    secret = f.secret(teams["a"], "aws", {"k": VALUE})
    assert VALUE not in repr(secret) and VALUE not in str(secret)


def test_old_values_stay_readable_after_a_new_key_is_added_and_rotation_moves_them(teams, settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    secret = f.secret(teams["a"], "aws", {"k": VALUE})
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert Secret.objects.get(pk=secret.pk).get("k") == VALUE
    call_command("rotate_secrets", verbosity=0)
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert Secret.objects.get(pk=secret.pk).get("k") == VALUE


def test_a_value_written_with_an_unknown_key_fails_with_a_message_that_shows_no_value(teams, settings):
    secret = f.secret(teams["a"], "aws", {"k": VALUE})
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(encryption.DecryptionError) as e:
        Secret.objects.get(pk=secret.pk).get_data()
    assert "add back the key" in str(e.value)
    assert VALUE not in str(e.value) and secret.encrypted_data not in str(e.value)


def test_update_keeps_keys_not_mentioned(teams):
    secret = f.secret(teams["a"], "es", {"username": "elastic", "password": "one"})
    secret.update_data({"password": "two"})
    secret.save()
    assert Secret.objects.get(pk=secret.pk).get_data() == {"username": "elastic", "password": "two"}


def test_the_admin_form_never_renders_a_value(teams, client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    secret = f.secret(teams["a"], "aws", {"AWS_SECRET_ACCESS_KEY": VALUE})
    client.force_login(admin)
    for url in (f"/admin/storage/secret/{secret.pk}/change/", "/admin/storage/secret/"):
        body = client.get(url).content.decode()
        assert VALUE not in body and secret.encrypted_data not in body
        assert "AWS_SECRET_ACCESS_KEY" in body


def test_the_admin_form_replaces_values_without_showing_them(teams, client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    secret = f.secret(teams["a"], "es", {"username": "elastic", "password": "old"})
    client.force_login(admin)
    response = client.post(
        f"/admin/storage/secret/{secret.pk}/change/",
        {"team": teams["a"].pk, "name": "es", "description": "", "values": "password=new", "remove_keys": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Secret.objects.get(pk=secret.pk).get_data() == {"username": "elastic", "password": "new"}


def test_no_secret_value_reaches_the_logs(teams, caplog):
    with caplog.at_level(logging.DEBUG):
        secret = f.secret(teams["a"], "aws", {"k": VALUE})
        Secret.objects.get(pk=secret.pk).get_data()
    assert VALUE not in caplog.text
