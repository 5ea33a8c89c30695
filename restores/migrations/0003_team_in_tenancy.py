# Team moved from dashboard to tenancy (tenancy/migrations/0001).
from django.db import migrations

from tenancy.migration_ops import team_foreign_keys_to_tenancy


class Migration(migrations.Migration):
    dependencies = [('restores', '0002_claims_and_session_hooks'), ('tenancy', '0001_initial')]
    operations = [team_foreign_keys_to_tenancy('restoresession')]
