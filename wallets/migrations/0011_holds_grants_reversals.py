"""Holds, expiring grants, their draws, payments from the wallet, and the links on entries
(reversal_of, expired_grant, hold, expires_at, metadata); the wallet's held and granted counters.

On SQLite, adding columns with foreign keys and constraints rebuilds the ledger and wallet tables,
which drops their triggers (and the wallet trigger that reads the ledger table would break the
rebuild's rename): every ledger trigger of 0002 and 0009 is dropped before the rebuilds and
created again after them, in both directions. PostgreSQL alters the tables in place.
"""

import importlib

import django.db.models.deletion
import django.db.models.expressions
import wallets.ids
from django.db import migrations, models


def _sqlite_triggers():
    immutable = importlib.import_module("wallets.migrations.0002_immutable_ledger")
    chain = importlib.import_module("wallets.migrations.0009_ledger_chain_guard")
    return [immutable.SQLITE_FORWARD, *chain.SQLITE_FORWARD], [immutable.SQLITE_REVERSE, *chain.SQLITE_REVERSE]


def drop_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in _sqlite_triggers()[1]:
            schema_editor.execute(statement)


def create_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in _sqlite_triggers()[0]:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('wallets', '0010_security_event_lockout'),
    ]

    operations = [
        migrations.RunPython(drop_sqlite_triggers, create_sqlite_triggers),
        migrations.CreateModel(
            name='CreditGrant',
            fields=[
                ('entry', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, primary_key=True, related_name='grant', serialize=False, to='wallets.ledgerentry')),
                ('currency', models.CharField(choices=[('AED', 'AED'), ('ALL', 'ALL'), ('AMD', 'AMD'), ('ANG', 'ANG'), ('AOA', 'AOA'), ('ARS', 'ARS'), ('AUD', 'AUD'), ('AWG', 'AWG'), ('AZN', 'AZN'), ('BAM', 'BAM'), ('BBD', 'BBD'), ('BDT', 'BDT'), ('BGN', 'BGN'), ('BHD', 'BHD'), ('BIF', 'BIF'), ('BMD', 'BMD'), ('BND', 'BND'), ('BOB', 'BOB'), ('BRL', 'BRL'), ('BSD', 'BSD'), ('BWP', 'BWP'), ('BYN', 'BYN'), ('BZD', 'BZD'), ('CAD', 'CAD'), ('CHF', 'CHF'), ('CLP', 'CLP'), ('CNY', 'CNY'), ('COP', 'COP'), ('CRC', 'CRC'), ('CUP', 'CUP'), ('CVE', 'CVE'), ('CZK', 'CZK'), ('DJF', 'DJF'), ('DKK', 'DKK'), ('DOP', 'DOP'), ('DZD', 'DZD'), ('EGP', 'EGP'), ('ETB', 'ETB'), ('EUR', 'EUR'), ('FJD', 'FJD'), ('FKP', 'FKP'), ('GBP', 'GBP'), ('GEL', 'GEL'), ('GHS', 'GHS'), ('GIP', 'GIP'), ('GMD', 'GMD'), ('GNF', 'GNF'), ('GTQ', 'GTQ'), ('GYD', 'GYD'), ('HKD', 'HKD'), ('HNL', 'HNL'), ('HRK', 'HRK'), ('HTG', 'HTG'), ('HUF', 'HUF'), ('IDR', 'IDR'), ('ILS', 'ILS'), ('INR', 'INR'), ('IQD', 'IQD'), ('JMD', 'JMD'), ('JOD', 'JOD'), ('JPY', 'JPY'), ('KES', 'KES'), ('KGS', 'KGS'), ('KHR', 'KHR'), ('KMF', 'KMF'), ('KRW', 'KRW'), ('KWD', 'KWD'), ('KYD', 'KYD'), ('KZT', 'KZT'), ('LAK', 'LAK'), ('LBP', 'LBP'), ('LKR', 'LKR'), ('LRD', 'LRD'), ('LSL', 'LSL'), ('LYD', 'LYD'), ('MAD', 'MAD'), ('MDL', 'MDL'), ('MGA', 'MGA'), ('MKD', 'MKD'), ('MMK', 'MMK'), ('MNT', 'MNT'), ('MOP', 'MOP'), ('MRU', 'MRU'), ('MUR', 'MUR'), ('MVR', 'MVR'), ('MWK', 'MWK'), ('MXN', 'MXN'), ('MYR', 'MYR'), ('MZN', 'MZN'), ('NAD', 'NAD'), ('NGN', 'NGN'), ('NIO', 'NIO'), ('NOK', 'NOK'), ('NPR', 'NPR'), ('NZD', 'NZD'), ('OMR', 'OMR'), ('PAB', 'PAB'), ('PEN', 'PEN'), ('PGK', 'PGK'), ('PHP', 'PHP'), ('PKR', 'PKR'), ('PLN', 'PLN'), ('PYG', 'PYG'), ('QAR', 'QAR'), ('RON', 'RON'), ('RSD', 'RSD'), ('RUB', 'RUB'), ('RWF', 'RWF'), ('SAR', 'SAR'), ('SBD', 'SBD'), ('SCR', 'SCR'), ('SEK', 'SEK'), ('SGD', 'SGD'), ('SHP', 'SHP'), ('SLE', 'SLE'), ('SLL', 'SLL'), ('SOS', 'SOS'), ('SRD', 'SRD'), ('SSP', 'SSP'), ('STN', 'STN'), ('SVC', 'SVC'), ('SZL', 'SZL'), ('THB', 'THB'), ('TND', 'TND'), ('TOP', 'TOP'), ('TRY', 'TRY'), ('TTD', 'TTD'), ('TWD', 'TWD'), ('TZS', 'TZS'), ('UAH', 'UAH'), ('UGX', 'UGX'), ('USD', 'USD'), ('UYU', 'UYU'), ('UZS', 'UZS'), ('VES', 'VES'), ('VND', 'VND'), ('VUV', 'VUV'), ('WST', 'WST'), ('XAF', 'XAF'), ('XCD', 'XCD'), ('XOF', 'XOF'), ('XPF', 'XPF'), ('YER', 'YER'), ('ZAR', 'ZAR'), ('ZMW', 'ZMW')], max_length=3)),
                ('amount', models.BigIntegerField()),
                ('remaining', models.BigIntegerField()),
                ('expired_amount', models.BigIntegerField(default=0)),
                ('expires_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField()),
            ],
            options={
                'ordering': ['expires_at', 'entry_id'],
            },
        ),
        migrations.CreateModel(
            name='GrantDraw',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('amount', models.BigIntegerField()),
                ('created_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='Hold',
            fields=[
                ('id', models.CharField(default=wallets.ids.hold_id, editable=False, max_length=32, primary_key=True, serialize=False)),
                ('currency', models.CharField(choices=[('AED', 'AED'), ('ALL', 'ALL'), ('AMD', 'AMD'), ('ANG', 'ANG'), ('AOA', 'AOA'), ('ARS', 'ARS'), ('AUD', 'AUD'), ('AWG', 'AWG'), ('AZN', 'AZN'), ('BAM', 'BAM'), ('BBD', 'BBD'), ('BDT', 'BDT'), ('BGN', 'BGN'), ('BHD', 'BHD'), ('BIF', 'BIF'), ('BMD', 'BMD'), ('BND', 'BND'), ('BOB', 'BOB'), ('BRL', 'BRL'), ('BSD', 'BSD'), ('BWP', 'BWP'), ('BYN', 'BYN'), ('BZD', 'BZD'), ('CAD', 'CAD'), ('CHF', 'CHF'), ('CLP', 'CLP'), ('CNY', 'CNY'), ('COP', 'COP'), ('CRC', 'CRC'), ('CUP', 'CUP'), ('CVE', 'CVE'), ('CZK', 'CZK'), ('DJF', 'DJF'), ('DKK', 'DKK'), ('DOP', 'DOP'), ('DZD', 'DZD'), ('EGP', 'EGP'), ('ETB', 'ETB'), ('EUR', 'EUR'), ('FJD', 'FJD'), ('FKP', 'FKP'), ('GBP', 'GBP'), ('GEL', 'GEL'), ('GHS', 'GHS'), ('GIP', 'GIP'), ('GMD', 'GMD'), ('GNF', 'GNF'), ('GTQ', 'GTQ'), ('GYD', 'GYD'), ('HKD', 'HKD'), ('HNL', 'HNL'), ('HRK', 'HRK'), ('HTG', 'HTG'), ('HUF', 'HUF'), ('IDR', 'IDR'), ('ILS', 'ILS'), ('INR', 'INR'), ('IQD', 'IQD'), ('JMD', 'JMD'), ('JOD', 'JOD'), ('JPY', 'JPY'), ('KES', 'KES'), ('KGS', 'KGS'), ('KHR', 'KHR'), ('KMF', 'KMF'), ('KRW', 'KRW'), ('KWD', 'KWD'), ('KYD', 'KYD'), ('KZT', 'KZT'), ('LAK', 'LAK'), ('LBP', 'LBP'), ('LKR', 'LKR'), ('LRD', 'LRD'), ('LSL', 'LSL'), ('LYD', 'LYD'), ('MAD', 'MAD'), ('MDL', 'MDL'), ('MGA', 'MGA'), ('MKD', 'MKD'), ('MMK', 'MMK'), ('MNT', 'MNT'), ('MOP', 'MOP'), ('MRU', 'MRU'), ('MUR', 'MUR'), ('MVR', 'MVR'), ('MWK', 'MWK'), ('MXN', 'MXN'), ('MYR', 'MYR'), ('MZN', 'MZN'), ('NAD', 'NAD'), ('NGN', 'NGN'), ('NIO', 'NIO'), ('NOK', 'NOK'), ('NPR', 'NPR'), ('NZD', 'NZD'), ('OMR', 'OMR'), ('PAB', 'PAB'), ('PEN', 'PEN'), ('PGK', 'PGK'), ('PHP', 'PHP'), ('PKR', 'PKR'), ('PLN', 'PLN'), ('PYG', 'PYG'), ('QAR', 'QAR'), ('RON', 'RON'), ('RSD', 'RSD'), ('RUB', 'RUB'), ('RWF', 'RWF'), ('SAR', 'SAR'), ('SBD', 'SBD'), ('SCR', 'SCR'), ('SEK', 'SEK'), ('SGD', 'SGD'), ('SHP', 'SHP'), ('SLE', 'SLE'), ('SLL', 'SLL'), ('SOS', 'SOS'), ('SRD', 'SRD'), ('SSP', 'SSP'), ('STN', 'STN'), ('SVC', 'SVC'), ('SZL', 'SZL'), ('THB', 'THB'), ('TND', 'TND'), ('TOP', 'TOP'), ('TRY', 'TRY'), ('TTD', 'TTD'), ('TWD', 'TWD'), ('TZS', 'TZS'), ('UAH', 'UAH'), ('UGX', 'UGX'), ('USD', 'USD'), ('UYU', 'UYU'), ('UZS', 'UZS'), ('VES', 'VES'), ('VND', 'VND'), ('VUV', 'VUV'), ('WST', 'WST'), ('XAF', 'XAF'), ('XCD', 'XCD'), ('XOF', 'XOF'), ('XPF', 'XPF'), ('YER', 'YER'), ('ZAR', 'ZAR'), ('ZMW', 'ZMW')], max_length=3)),
                ('amount', models.BigIntegerField()),
                ('captured_amount', models.BigIntegerField(default=0)),
                ('status', models.CharField(choices=[('active', 'Active'), ('captured', 'Captured'), ('voided', 'Voided'), ('expired', 'Expired')], default='active', max_length=16)),
                ('expires_at', models.DateTimeField()),
                ('reference_object_id', models.CharField(blank=True, max_length=255, null=True)),
                ('reason', models.CharField(blank=True, max_length=500, null=True)),
                ('idempotency_key', models.CharField(blank=True, max_length=255, null=True)),
                ('actor_type', models.CharField(choices=[('api_key', 'API key'), ('user', 'Dashboard user'), ('command', 'Management command'), ('system', 'System')], max_length=16)),
                ('actor_id', models.CharField(max_length=255)),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField()),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='WalletPayment',
            fields=[
                ('id', models.CharField(default=wallets.ids.payment_id, editable=False, max_length=32, primary_key=True, serialize=False)),
                ('currency', models.CharField(choices=[('AED', 'AED'), ('ALL', 'ALL'), ('AMD', 'AMD'), ('ANG', 'ANG'), ('AOA', 'AOA'), ('ARS', 'ARS'), ('AUD', 'AUD'), ('AWG', 'AWG'), ('AZN', 'AZN'), ('BAM', 'BAM'), ('BBD', 'BBD'), ('BDT', 'BDT'), ('BGN', 'BGN'), ('BHD', 'BHD'), ('BIF', 'BIF'), ('BMD', 'BMD'), ('BND', 'BND'), ('BOB', 'BOB'), ('BRL', 'BRL'), ('BSD', 'BSD'), ('BWP', 'BWP'), ('BYN', 'BYN'), ('BZD', 'BZD'), ('CAD', 'CAD'), ('CHF', 'CHF'), ('CLP', 'CLP'), ('CNY', 'CNY'), ('COP', 'COP'), ('CRC', 'CRC'), ('CUP', 'CUP'), ('CVE', 'CVE'), ('CZK', 'CZK'), ('DJF', 'DJF'), ('DKK', 'DKK'), ('DOP', 'DOP'), ('DZD', 'DZD'), ('EGP', 'EGP'), ('ETB', 'ETB'), ('EUR', 'EUR'), ('FJD', 'FJD'), ('FKP', 'FKP'), ('GBP', 'GBP'), ('GEL', 'GEL'), ('GHS', 'GHS'), ('GIP', 'GIP'), ('GMD', 'GMD'), ('GNF', 'GNF'), ('GTQ', 'GTQ'), ('GYD', 'GYD'), ('HKD', 'HKD'), ('HNL', 'HNL'), ('HRK', 'HRK'), ('HTG', 'HTG'), ('HUF', 'HUF'), ('IDR', 'IDR'), ('ILS', 'ILS'), ('INR', 'INR'), ('IQD', 'IQD'), ('JMD', 'JMD'), ('JOD', 'JOD'), ('JPY', 'JPY'), ('KES', 'KES'), ('KGS', 'KGS'), ('KHR', 'KHR'), ('KMF', 'KMF'), ('KRW', 'KRW'), ('KWD', 'KWD'), ('KYD', 'KYD'), ('KZT', 'KZT'), ('LAK', 'LAK'), ('LBP', 'LBP'), ('LKR', 'LKR'), ('LRD', 'LRD'), ('LSL', 'LSL'), ('LYD', 'LYD'), ('MAD', 'MAD'), ('MDL', 'MDL'), ('MGA', 'MGA'), ('MKD', 'MKD'), ('MMK', 'MMK'), ('MNT', 'MNT'), ('MOP', 'MOP'), ('MRU', 'MRU'), ('MUR', 'MUR'), ('MVR', 'MVR'), ('MWK', 'MWK'), ('MXN', 'MXN'), ('MYR', 'MYR'), ('MZN', 'MZN'), ('NAD', 'NAD'), ('NGN', 'NGN'), ('NIO', 'NIO'), ('NOK', 'NOK'), ('NPR', 'NPR'), ('NZD', 'NZD'), ('OMR', 'OMR'), ('PAB', 'PAB'), ('PEN', 'PEN'), ('PGK', 'PGK'), ('PHP', 'PHP'), ('PKR', 'PKR'), ('PLN', 'PLN'), ('PYG', 'PYG'), ('QAR', 'QAR'), ('RON', 'RON'), ('RSD', 'RSD'), ('RUB', 'RUB'), ('RWF', 'RWF'), ('SAR', 'SAR'), ('SBD', 'SBD'), ('SCR', 'SCR'), ('SEK', 'SEK'), ('SGD', 'SGD'), ('SHP', 'SHP'), ('SLE', 'SLE'), ('SLL', 'SLL'), ('SOS', 'SOS'), ('SRD', 'SRD'), ('SSP', 'SSP'), ('STN', 'STN'), ('SVC', 'SVC'), ('SZL', 'SZL'), ('THB', 'THB'), ('TND', 'TND'), ('TOP', 'TOP'), ('TRY', 'TRY'), ('TTD', 'TTD'), ('TWD', 'TWD'), ('TZS', 'TZS'), ('UAH', 'UAH'), ('UGX', 'UGX'), ('USD', 'USD'), ('UYU', 'UYU'), ('UZS', 'UZS'), ('VES', 'VES'), ('VND', 'VND'), ('VUV', 'VUV'), ('WST', 'WST'), ('XAF', 'XAF'), ('XCD', 'XCD'), ('XOF', 'XOF'), ('XPF', 'XPF'), ('YER', 'YER'), ('ZAR', 'ZAR'), ('ZMW', 'ZMW')], max_length=3)),
                ('reference_object_id', models.CharField(max_length=255)),
                ('requested', models.BigIntegerField()),
                ('applied', models.BigIntegerField()),
                ('reason', models.CharField(blank=True, max_length=500, null=True)),
                ('balance_after', models.BigIntegerField()),
                ('held_after', models.BigIntegerField()),
                ('created_at', models.DateTimeField()),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='ledgerentry',
            name='ledger_entry_idempotency_key_per_customer',
        ),
        migrations.AddField(
            model_name='adjustmentrequest',
            name='expires_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='adjustmentrequest',
            name='reversal_of',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='reversal_requests', to='wallets.ledgerentry'),
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='expired_grant',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='expiries', to='wallets.ledgerentry'),
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='expires_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='metadata',
            field=models.JSONField(blank=True, default=dict, null=True),
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='reversal_of',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='reversals', to='wallets.ledgerentry'),
        ),
        migrations.AddField(
            model_name='wallet',
            name='granted_balance',
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='wallet',
            name='held_balance',
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='wallet',
            name='next_grant_expiry_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='wallet',
            name='next_hold_expiry_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name='wallet',
            constraint=models.CheckConstraint(condition=models.Q(('held_balance__gte', 0)), name='wallet_held_non_negative'),
        ),
        migrations.AddConstraint(
            model_name='wallet',
            constraint=models.CheckConstraint(condition=models.Q(('granted_balance__gte', 0)), name='wallet_granted_non_negative'),
        ),
        migrations.AddConstraint(
            model_name='wallet',
            constraint=models.CheckConstraint(condition=models.Q(('held_balance__lte', django.db.models.expressions.CombinedExpression(models.F('balance'), '-', models.F('granted_balance')))), name='wallet_held_within_balance'),
        ),
        migrations.AddField(
            model_name='creditgrant',
            name='business',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallets.business'),
        ),
        migrations.AddField(
            model_name='creditgrant',
            name='customer',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallets.customer'),
        ),
        migrations.AddField(
            model_name='creditgrant',
            name='wallet',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='grants', to='wallets.wallet'),
        ),
        migrations.AddField(
            model_name='grantdraw',
            name='business',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallets.business'),
        ),
        migrations.AddField(
            model_name='grantdraw',
            name='entry',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='grant_draws', to='wallets.ledgerentry'),
        ),
        migrations.AddField(
            model_name='grantdraw',
            name='grant',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='draws', to='wallets.creditgrant'),
        ),
        migrations.AddField(
            model_name='hold',
            name='business',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallets.business'),
        ),
        migrations.AddField(
            model_name='hold',
            name='customer',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='holds', to='wallets.customer'),
        ),
        migrations.AddField(
            model_name='hold',
            name='wallet',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='holds', to='wallets.wallet'),
        ),
        migrations.AddField(
            model_name='grantdraw',
            name='hold',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='grant_draws', to='wallets.hold'),
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='hold',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='wallets.hold'),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(condition=models.Q(('reference_object_id__isnull', False)), fields=['business', 'customer', 'reference_object_id'], name='ledger_reference'),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(condition=models.Q(('reversal_of__isnull', False)), fields=['reversal_of'], name='ledger_reversal_of'),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(condition=models.Q(('expired_grant__isnull', False)), fields=['expired_grant'], name='ledger_expired_grant'),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(condition=models.Q(('hold__isnull', False)), fields=['hold'], name='ledger_hold'),
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.UniqueConstraint(condition=models.Q(('idempotency_key__isnull', False), ('reversal_of__isnull', True)), fields=('business', 'customer', 'idempotency_key'), name='ledger_entry_idempotency_key_per_customer'),
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.UniqueConstraint(condition=models.Q(('idempotency_key__isnull', False), ('reversal_of__isnull', False)), fields=('business', 'customer', 'idempotency_key'), name='ledger_entry_reversal_key_per_customer'),
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.CheckConstraint(condition=models.Q(('expires_at__isnull', True), models.Q(('is_credit', True), ('reversal_of__isnull', True)), _connector='OR'), name='ledger_entry_only_credits_expire'),
        ),
        migrations.AddField(
            model_name='walletpayment',
            name='business',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallets.business'),
        ),
        migrations.AddField(
            model_name='walletpayment',
            name='customer',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='wallet_payments', to='wallets.customer'),
        ),
        migrations.AddField(
            model_name='walletpayment',
            name='entry',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='payment', to='wallets.ledgerentry'),
        ),
        migrations.AddIndex(
            model_name='creditgrant',
            index=models.Index(condition=models.Q(('remaining__gt', 0)), fields=['business', 'wallet', 'expires_at'], name='grant_wallet_active'),
        ),
        migrations.AddIndex(
            model_name='creditgrant',
            index=models.Index(condition=models.Q(('remaining__gt', 0)), fields=['expires_at'], name='grant_active_expiry'),
        ),
        migrations.AddConstraint(
            model_name='creditgrant',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='grant_amount_positive'),
        ),
        migrations.AddConstraint(
            model_name='creditgrant',
            constraint=models.CheckConstraint(condition=models.Q(('remaining__gte', 0), ('remaining__lte', models.F('amount'))), name='grant_remaining_within_amount'),
        ),
        migrations.AddConstraint(
            model_name='creditgrant',
            constraint=models.CheckConstraint(condition=models.Q(('expired_amount__gte', 0)), name='grant_expired_non_negative'),
        ),
        migrations.AddIndex(
            model_name='hold',
            index=models.Index(fields=['business', 'customer', '-created_at'], name='hold_customer_recent'),
        ),
        migrations.AddIndex(
            model_name='hold',
            index=models.Index(condition=models.Q(('status', 'active')), fields=['business', 'wallet', 'expires_at'], name='hold_wallet_active'),
        ),
        migrations.AddIndex(
            model_name='hold',
            index=models.Index(condition=models.Q(('status', 'active')), fields=['expires_at'], name='hold_active_expiry'),
        ),
        migrations.AddConstraint(
            model_name='hold',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='hold_amount_positive'),
        ),
        migrations.AddConstraint(
            model_name='hold',
            constraint=models.CheckConstraint(condition=models.Q(('captured_amount__gte', 0), ('captured_amount__lte', models.F('amount'))), name='hold_captured_within_amount'),
        ),
        migrations.AddConstraint(
            model_name='hold',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('captured_amount__gt', 0), ('status', 'captured')), models.Q(models.Q(('status', 'captured'), _negated=True), ('captured_amount', 0)), _connector='OR'), name='hold_captured_only_when_captured'),
        ),
        migrations.AddConstraint(
            model_name='hold',
            constraint=models.UniqueConstraint(condition=models.Q(('idempotency_key__isnull', False)), fields=('business', 'customer', 'idempotency_key'), name='hold_idempotency_key_per_customer'),
        ),
        migrations.AddConstraint(
            model_name='grantdraw',
            constraint=models.CheckConstraint(condition=models.Q(('amount', 0), _negated=True), name='grant_draw_not_zero'),
        ),
        migrations.AddConstraint(
            model_name='grantdraw',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('entry__isnull', False), ('hold__isnull', True)), models.Q(('entry__isnull', True), ('hold__isnull', False)), _connector='OR'), name='grant_draw_entry_or_hold'),
        ),
        migrations.AddConstraint(
            model_name='walletpayment',
            constraint=models.UniqueConstraint(fields=('business', 'customer', 'currency', 'reference_object_id'), name='wallet_payment_once'),
        ),
        migrations.AddConstraint(
            model_name='walletpayment',
            constraint=models.CheckConstraint(condition=models.Q(('requested__gt', 0)), name='wallet_payment_requested_positive'),
        ),
        migrations.AddConstraint(
            model_name='walletpayment',
            constraint=models.CheckConstraint(condition=models.Q(('applied__gte', 0), ('applied__lte', models.F('requested'))), name='wallet_payment_applied_within'),
        ),
        migrations.RunPython(create_sqlite_triggers, drop_sqlite_triggers),
    ]
