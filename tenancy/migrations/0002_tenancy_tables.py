"""The tables take tenancy's names. PostgreSQL's foreign keys follow a renamed table, and
so do SQLite's (Django runs it with legacy_alter_table off)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('tenancy', '0001_initial'),
        ('dashboard', '0002_team_in_tenancy'),
    ]

    operations = [
        migrations.AlterModelTable(name='team', table=None),
        migrations.AlterModelTable(name='membership', table=None),
    ]
