# Team moved from dashboard to tenancy (tenancy/migrations/0001).
from django.db import migrations

from tenancy.migration_ops import team_foreign_keys_to_tenancy


class Migration(migrations.Migration):
    dependencies = [('storage', '0002_check_cycle'), ('tenancy', '0001_initial')]
    operations = [team_foreign_keys_to_tenancy('secret', 'backupstorage', 'retentionpolicy', 'repository')]
