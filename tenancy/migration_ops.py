"""An operation the other apps' migrations share for the move of Team out of dashboard."""
from __future__ import annotations

from django.db import migrations, models


def team_foreign_keys_to_tenancy(*model_names: str) -> migrations.SeparateDatabaseAndState:
    """Point each model's `team` foreign key at tenancy.team in the migration state only:
    the table behind it is the same (renamed later, and foreign keys follow a rename), and
    on SQLite a real AlterField would rebuild every table."""
    return migrations.SeparateDatabaseAndState(state_operations=[
        migrations.AlterField(
            model_name=name,
            name="team",
            field=models.ForeignKey(on_delete=models.CASCADE, related_name="+", to="tenancy.team"),
        )
        for name in model_names
    ])
