"""Team and Membership now belong to tenancy (tenancy/migrations/0001): forget them here,
in the state only, once every foreign key names tenancy.team. Their tables stay."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0001_initial'),
        ('tenancy', '0001_initial'),
        ('storage', '0003_team_in_tenancy'),
        ('backups', '0006_team_in_tenancy'),
        ('restores', '0003_team_in_tenancy'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.DeleteModel(name='Membership'),
            migrations.DeleteModel(name='Team'),
        ]),
    ]
