"""The security audit log (SecurityEvent), append-only: on PostgreSQL a trigger refuses UPDATE and
DELETE of its rows, as 0002 does for ledger entries (TRUNCATE, which the test suite's flush uses,
is a different statement and stays possible)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


PG_FORWARD = """
CREATE OR REPLACE FUNCTION wallets_security_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'security events are append-only: % refused on %', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER security_event_append_only
    BEFORE UPDATE OR DELETE ON wallets_securityevent
    FOR EACH ROW EXECUTE FUNCTION wallets_security_event_append_only();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS security_event_append_only ON wallets_securityevent;
DROP FUNCTION IF EXISTS wallets_security_event_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('wallets', '0006_ledger_entry_balances_agree_without_overflow'),
    ]

    operations = [
        migrations.CreateModel(
            name='SecurityEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('login', 'Login'), ('login_failed', 'Failed login'), ('logout', 'Logout'), ('api_key_created', 'API key created'), ('api_key_revoked', 'API key revoked'), ('adjustment_approved', 'Adjustment approved'), ('adjustment_rejected', 'Adjustment rejected')], max_length=32)),
                ('actor_type', models.CharField(choices=[('api_key', 'API key'), ('user', 'Dashboard user'), ('command', 'Management command'), ('system', 'System')], max_length=16)),
                ('actor_id', models.CharField(blank=True, default='', max_length=255)),
                ('actor_name', models.CharField(blank=True, default='', help_text='e.g. the user name at the time', max_length=255)),
                ('ip', models.GenericIPAddressField(blank=True, null=True)),
                ('details', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('business', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallets.business')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['business', '-created_at'], name='security_event_business'), models.Index(fields=['kind', '-created_at'], name='security_event_kind')],
            },
        ),
        migrations.RunPython(forward, reverse),
    ]
