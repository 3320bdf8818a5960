from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "opencdmo.training"
    verbose_name = "Training"
