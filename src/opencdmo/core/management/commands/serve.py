"""`opencdmo serve`: the application behind gunicorn; static files come from the app itself."""

from django.conf import settings
from django.core.management.base import BaseCommand
from gunicorn.app.base import BaseApplication

from opencdmo.wsgi import application


class _Server(BaseApplication):
    def __init__(self, options):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return application


class Command(BaseCommand):
    help = "Serve OpenCDMO with gunicorn."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--threads", type=int, default=4)

    def handle(self, *args, bind, workers, threads, **options):
        database = settings.DATABASES["default"]
        self.stdout.write(f"OpenCDMO on http://{bind}/ (database: {database['ENGINE'].rsplit('.', 1)[-1]} "
                          f"{database.get('NAME')}; data folder: {settings.DATA_DIR})")
        _Server({"bind": bind, "workers": workers, "threads": threads, "accesslog": "-",
                 "timeout": 120}).run()
