# Shard readiness: every unique key of a business table includes business_id (docs/sharding.md).
# Equivalent to the old (event, endpoint) key, as a delivery and its event belong to one business.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('wallets', '0020_search_indexes'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='webhookdelivery',
            name='webhook_delivery_once_per_endpoint',
        ),
        migrations.AddConstraint(
            model_name='webhookdelivery',
            constraint=models.UniqueConstraint(
                fields=('business', 'event', 'endpoint'), name='webhook_delivery_once_per_endpoint'),
        ),
    ]
