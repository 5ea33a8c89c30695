"""Team and Membership move here from dashboard without touching their rows.

The models are created in the migration state only, on the tables dashboard made
(dashboard_team, dashboard_membership); 0002 renames the tables. The content types are
relabelled rather than recreated, so the permissions that groups and users hold and
the admin's log entries keep pointing at them."""

import django.core.validators
import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models

MODELS = ("team", "membership")


def relabel_content_types(apps, schema_editor, source, target):
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    for model in MODELS:
        if not types.filter(app_label=source, model=model).exists():
            continue  # a fresh database: post_migrate creates them afterwards
        # One created in between (a post_migrate that saw the target state) holds nothing
        # the old one does not: drop it so the old one, with its grants, takes its name.
        types.filter(app_label=target, model=model).delete()
        types.filter(app_label=source, model=model).update(app_label=target)


def forwards(apps, schema_editor):
    relabel_content_types(apps, schema_editor, "dashboard", "tenancy")


def backwards(apps, schema_editor):
    relabel_content_types(apps, schema_editor, "tenancy", "dashboard")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('dashboard', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.CreateModel(
                name='Team',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('uuid', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                    ('name', models.CharField(max_length=100)),
                    ('slug', models.CharField(help_text="The namespace of this team's resources in YAML and Kubernetes.", max_length=63, unique=True, validators=[django.core.validators.RegexValidator('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$', "Use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit (a Kubernetes name, so the resource can be mirrored as is).")])),
                    ('created', models.DateTimeField(auto_now_add=True)),
                    ('webhook_url', models.URLField(blank=True, help_text='Slack-compatible webhook for failures and recoveries.')),
                    ('notify_emails', models.TextField(blank=True, help_text='E-mail addresses, one per line.')),
                    ('stale_after_hours', models.PositiveIntegerField(default=26, help_text='Alert when a schedule has not produced a successful snapshot for this many hours.')),
                ],
                options={
                    'ordering': ['name'],
                    'db_table': 'dashboard_team',
                },
            ),
            migrations.CreateModel(
                name='Membership',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('role', models.CharField(choices=[('owner', 'Owner'), ('operator', 'Operator'), ('viewer', 'Viewer')], default='viewer', max_length=10)),
                    ('created', models.DateTimeField(auto_now_add=True)),
                    ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to=settings.AUTH_USER_MODEL)),
                    ('team', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='tenancy.team')),
                ],
                options={
                    'ordering': ['team__name', 'user__username'],
                    'db_table': 'dashboard_membership',
                    'constraints': [models.UniqueConstraint(fields=('team', 'user'), name='one_membership_per_team')],
                },
            ),
        ]),
        migrations.RunPython(forwards, backwards),
    ]
