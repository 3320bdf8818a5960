import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('facilities', '0003_qc_instrument_kinds'),
    ]

    operations = [
        migrations.AddField(
            model_name='room',
            name='length_m',
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=6, null=True),
        ),
        migrations.AddField(
            model_name='room',
            name='width_m',
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=6, null=True),
        ),
        migrations.AddField(
            model_name='room',
            name='within',
            field=models.ForeignKey(blank=True, help_text='the room this zone stands in', null=True,
                                    on_delete=django.db.models.deletion.PROTECT, related_name='zones',
                                    to='facilities.room'),
        ),
    ]
