from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "opencdmo.documents"
    verbose_name = "Controlled documents"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: PLC0415

        from . import selectors, services  # noqa: PLC0415
        from .models import Document, DocumentVersion  # noqa: PLC0415
        from .workflows import document_workflow, version_workflow  # noqa: PLC0415

        registry.register(Document, lookup="number", label="Controlled document", url_name="documents:document",
                          workflow=document_workflow, transition=services.transition_document)
        registry.register(DocumentVersion, lookup="number", label="Document version", url_name="documents:version",
                          workflow=version_workflow, transition=services.transition_version)
        tasks.provider(selectors.document_task_list)
