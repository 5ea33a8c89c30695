from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from backups.models import BackupSessionConfig, Cluster
from storage.models import BackupStorage, RetentionPolicy
from tests import factories as f

pytestmark = pytest.mark.django_db


def messages(excinfo: pytest.ExceptionInfo[ValidationError]) -> str:
    return " ".join(excinfo.value.messages)


def test_a_cron_expression_croniter_cannot_parse_is_refused_with_an_example(teams):
    config = f.configuration(teams["a"])
    session = config.sessions.get()
    session.schedule = "61 * * * *"
    with pytest.raises(ValidationError) as e:
        session.full_clean()
    assert "not a valid cron schedule" in messages(e) and "minute 0-59" in messages(e)


@pytest.mark.parametrize("schedule", ["0 0 31 2 *", "0 0 30 2 *", "15 4 31 4,6,9,11 *"])
def test_a_cron_expression_that_never_fires_is_refused(teams, schedule):
    session = BackupSessionConfig(configuration=f.configuration(teams["a"]), name="x", schedule=schedule)
    with pytest.raises(ValidationError) as e:
        session.full_clean()
    assert f"'{schedule}' never runs in the next 5 years" in messages(e) and "'0 0 L 2 *'" in messages(e)


def test_a_cron_expression_that_fires_rarely_is_accepted(teams):
    BackupSessionConfig(configuration=f.configuration(teams["a"]), name="x", schedule="0 0 29 2 *").full_clean()


def test_a_cron_expression_with_six_fields_says_how_many_it_needs(teams):
    session = BackupSessionConfig(configuration=f.configuration(teams["a"]), name="x", schedule="0 0 2 * * *")
    with pytest.raises(ValidationError) as e:
        session.full_clean()
    assert "has 6 fields; a cron schedule has 5" in messages(e)


@pytest.mark.parametrize(
    "bucket, phrase",
    [
        ("My_Bucket", "lowercase letters"),
        ("ab", "3 to 63"),
        ("a..b", "two adjacent periods"),
        ("192.168.1.1", "IP address"),
        ("-bucket", "start and end with a letter or digit"),
    ],
)
def test_a_bucket_name_s3_would_refuse_is_refused(teams, bucket, phrase):
    storage = BackupStorage(team=teams["a"], name="s3", provider="s3", bucket=bucket)
    with pytest.raises(ValidationError) as e:
        storage.full_clean()
    assert phrase in " ".join(e.value.message_dict["bucket"])


def test_a_valid_s3_storage_passes(teams):
    storage = BackupStorage(team=teams["a"], name="s3", provider="s3", bucket="stash-backups.prod", endpoint="https://s3.example.com")
    storage.full_clean()


def test_a_local_storage_outside_the_allowed_root_is_refused(teams):
    storage = BackupStorage(team=teams["a"], name="l", provider="local", mount_path="/etc")
    with pytest.raises(ValidationError) as e:
        storage.full_clean()
    assert "outside the allowed local storage roots" in e.value.message_dict["mount_path"][0]


def test_a_cluster_url_without_scheme_is_refused_with_the_fix(teams):
    cluster = Cluster(team=teams["a"], name="es", urls="es.example.com:9200")
    with pytest.raises(ValidationError) as e:
        cluster.full_clean()
    assert "https://es.example.com:9200" in e.value.message_dict["urls"][0]


def test_credentials_in_a_cluster_url_are_refused_without_echoing_them(teams):
    cluster = Cluster(team=teams["a"], name="es", urls="https://elastic:hunter2@es.example.com:9200")
    with pytest.raises(ValidationError) as e:
        cluster.full_clean()
    message = e.value.message_dict["urls"][0]
    assert "credentials in the URL" in message and "hunter2" not in message


def test_basic_auth_needs_a_secret_with_username_and_password(teams):
    secret = f.secret(teams["a"], "es-creds", {"username": "elastic"})
    cluster = Cluster(team=teams["a"], name="es", urls="https://es:9200", auth="basic", auth_secret=secret)
    with pytest.raises(ValidationError) as e:
        cluster.full_clean()
    assert "lacks password" in e.value.message_dict["auth_secret"][0]


@pytest.mark.parametrize(
    "pattern, phrase",
    [
        ("Logs-*", "uppercase"),
        ("logs/2026", "'/'"),
        ("-logs", "exclude list"),
        ("_internal", "starts with '_'"),
        ("logs 2026", "' '"),
    ],
)
def test_an_index_pattern_that_can_never_match_is_refused(teams, pattern, phrase):
    session = f.configuration(teams["a"]).sessions.get()
    session.task_params = {"indices": f"logs-*, {pattern}"}
    with pytest.raises(ValidationError) as e:
        session.full_clean()
    assert phrase in messages(e)


def test_wildcards_and_hidden_index_patterns_are_accepted(teams):
    session = f.configuration(teams["a"]).sessions.get()
    session.task_params = {"indices": "logs-*,.kibana*,metrics-202?", "exclude": "logs-debug-*"}
    session.full_clean()


def test_an_unknown_task_parameter_is_named(teams):
    session = f.configuration(teams["a"]).sessions.get()
    session.task_params = {"batchsize": 100}
    with pytest.raises(ValidationError) as e:
        session.full_clean()
    assert "'batchsize' is not a parameter of logical-backup" in messages(e)


def test_page_bytes_is_a_task_parameter_that_reaches_the_dump(teams):
    from backups.jobs import dump_params

    session = f.configuration(teams["a"]).sessions.get()
    session.task_params = {"page_bytes": 0}
    with pytest.raises(ValidationError) as e:
        session.full_clean()
    assert "page_bytes must be at least 1" in messages(e)
    session.task_params = {"page_bytes": 1 << 20, "batch_size": 1000}
    session.full_clean()
    p = dump_params(session.params())
    assert (p.page_bytes, p.batch_size) == (1 << 20, 1000)
    session.task_params = {}
    assert dump_params(session.params()).page_bytes == 8 << 20


def test_a_retention_policy_that_keeps_nothing_is_refused(teams):
    policy = RetentionPolicy(team=teams["a"], name="none")
    with pytest.raises(ValidationError) as e:
        policy.full_clean()
    assert "keeps no successful snapshot" in messages(e)


def test_a_retention_period_of_zero_is_refused(teams):
    policy = RetentionPolicy(team=teams["a"], name="zero", max_retention_period="0d")
    with pytest.raises(ValidationError) as e:
        policy.full_clean()
    assert "keeps nothing" in messages(e)


def test_a_retention_period_in_an_unknown_unit_says_which_units_exist(teams):
    policy = RetentionPolicy(team=teams["a"], name="bad", max_retention_period="30 days", keep_last=1)
    with pytest.raises(ValidationError) as e:
        policy.full_clean()
    assert "h (hours), d (days)" in messages(e)


def test_a_retention_policy_with_only_a_period_is_fine(teams):
    RetentionPolicy(team=teams["a"], name="month", max_retention_period="30d").full_clean()


def test_a_hook_without_a_url_scheme_is_refused(teams):
    session = f.configuration(teams["a"]).sessions.get()
    session.hooks = {"preBackup": [{"name": "notify", "kind": "http", "url": "hooks.example.com"}]}
    with pytest.raises(ValidationError) as e:
        session.full_clean()
    assert "preBackup[0].url must be a full http:// or https:// URL" in messages(e)


def test_an_object_cannot_point_at_another_teams_secret(teams):
    other = f.secret(teams["b"], "theirs", {"username": "u", "password": "p"})
    cluster = Cluster(team=teams["a"], name="es", urls="https://es:9200", auth="basic", auth_secret=other)
    with pytest.raises(ValidationError) as e:
        cluster.full_clean()
    assert "same team" in e.value.message_dict["auth_secret"][0]


OVERLAP = "overlaps a storage that already exists"


def _cloud(team, name, provider, bucket, prefix):  # type: ignore[no-untyped-def]
    extra = {"storage_account": "devstoreaccount1"} if provider == "azure" else {}
    return BackupStorage(team=team, name=name, provider=provider, bucket=bucket, prefix=prefix, **extra)


@pytest.mark.parametrize("provider", ["s3", "gcs", "azure"])
@pytest.mark.parametrize("theirs, mine", [("backups", "backups"), ("backups", "backups/team-b"),
                                          ("backups/team-a", "backups"), ("", "anything")])
def test_a_cloud_storage_overlapping_another_teams_is_refused_without_naming_it(teams, provider, theirs, mine):
    _cloud(teams["a"], "secret-name-of-a", provider, "shared", theirs).save()
    storage = _cloud(teams["b"], "mine", provider, "shared", mine)
    with pytest.raises(ValidationError) as e:
        storage.full_clean()
    message = " ".join(e.value.message_dict["prefix"])
    assert OVERLAP in message and "choose another prefix" in message
    assert "secret-name-of-a" not in message and "team-a" not in message and "Team A" not in message


@pytest.mark.parametrize("provider", ["s3", "gcs", "azure"])
def test_sibling_prefixes_and_other_buckets_do_not_overlap(teams, provider):
    _cloud(teams["a"], "a", provider, "shared", "backups/team-a").save()
    _cloud(teams["b"], "b", provider, "shared", "backups/team-a-2").full_clean()  # a segment, not a string prefix
    _cloud(teams["b"], "c", provider, "shared", "backups/team-b").full_clean()
    _cloud(teams["b"], "d", provider, "other", "backups/team-a").full_clean()


def test_object_keys_are_case_sensitive_but_azure_containers_are_not(teams):
    _cloud(teams["a"], "a", "s3", "shared", "Backups").save()
    _cloud(teams["b"], "b", "s3", "shared", "backups").full_clean()
    # A saved row can predate the lowercase validator; Azure folds the name, so it is the same container.
    _cloud(teams["a"], "az", "azure", "SHARED", "backups").save()
    with pytest.raises(ValidationError, match=OVERLAP):
        _cloud(teams["b"], "az", "azure", "shared", "backups/x").full_clean()


def test_a_local_storage_at_a_parent_of_another_teams_directory_is_refused(teams, settings, tmp_path):
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path]
    f.storage(teams["a"], "a", mount_path=str(tmp_path / "teams" / "a"))
    for mount_path, prefix in ((tmp_path / "teams", ""), (tmp_path / "teams" / "a" / "inside", ""),
                               (tmp_path / "teams" / "a", ""), (tmp_path / "teams" / "x" / ".." / "a", ""),
                               (tmp_path, "teams")):
        storage = BackupStorage(team=teams["b"], name="b", provider="local", mount_path=str(mount_path), prefix=prefix)
        with pytest.raises(ValidationError) as e:
            storage.full_clean()
        assert OVERLAP in e.value.message_dict["mount_path"][0], mount_path
        assert "choose another directory" in e.value.message_dict["mount_path"][0]
    BackupStorage(team=teams["b"], name="b", provider="local", mount_path=str(tmp_path / "teams" / "b")).full_clean()


def test_a_local_storage_reaching_another_through_a_symlink_is_refused(teams, settings, tmp_path):
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path]
    (tmp_path / "real" / "a").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    f.storage(teams["a"], "a", mount_path=str(tmp_path / "real" / "a"))
    storage = BackupStorage(team=teams["b"], name="b", provider="local", mount_path=str(tmp_path / "link"))
    with pytest.raises(ValidationError, match=OVERLAP):
        storage.full_clean()


def test_a_storage_does_not_overlap_itself_when_edited(teams):
    storage = f.storage(teams["a"], "a")
    storage.default = True
    storage.full_clean()


def test_parallel_indices_is_a_task_parameter_that_reaches_the_dump(teams):
    from backups.jobs import dump_params

    session = f.configuration(teams["a"]).sessions.get()
    for bad, said in ((0, "parallel_indices must be at least 1"), (-2, "'parallel_indices' must be a whole number"),
                      ("4", "'parallel_indices' must be a whole number")):
        session.task_params = {"parallel_indices": bad}
        with pytest.raises(ValidationError) as e:
            session.full_clean()
        assert said in messages(e)
    assert dump_params(session.params() | {"parallel_indices": 4}).parallel_indices == 4
    session.task_params = {"parallel_indices": 8}
    session.full_clean()
    assert dump_params(session.params()).parallel_indices == 8
