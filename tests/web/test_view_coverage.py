"""Every page and every API operation has a class of the shared view tests (NetBox style)."""

from django.urls import URLPattern, URLResolver, get_resolver

from opencdmo.api import api
from tests.batches import test_api as _batches_api  # noqa: F401  (batch records' view tests)
from tests.batches import test_pages as _batches_pages  # noqa: F401
from tests.batches import test_patient_material as _batches_patient_material  # noqa: F401
from tests.batches import test_record_json as _batches_record_json  # noqa: F401  (review and record)
from tests.batches import test_record_pdf as _batches_record_pdf  # noqa: F401
from tests.batches import test_review as _batches_review  # noqa: F401
from tests.documents import test_pages as _documents_pages  # noqa: F401  (documents' page and API view tests)
from tests.envmon import test_levels_pages as _envmon_levels_pages  # noqa: F401  (EM levels, classification)
from tests.envmon import test_room_pages as _envmon_room_pages  # noqa: F401  (EM trends, report, batch summary)
from tests.envmon import test_sampling_pages as _envmon_sampling_pages  # noqa: F401  (EM programme and samples)
from tests.facilities import test_api_access as _facilities_api  # noqa: F401  (facilities' view tests)
from tests.facilities import test_pages as _facilities_pages  # noqa: F401
from tests.identity import test_custody_api as _custody_api  # noqa: F401  (chain of custody's view tests)
from tests.identity import test_custody_pages as _custody_pages  # noqa: F401
from tests.identity import test_label_prints as _label_prints  # noqa: F401
from tests.identity import test_pages as _identity_pages  # noqa: F401  (chain of identity's page and API view tests)
from tests.identity import test_storage_views as _storage_views  # noqa: F401
from tests.identity import test_v2v_views as _v2v_views  # noqa: F401
from tests.materials import test_api as _materials_api  # noqa: F401  (materials' view tests)
from tests.materials import test_pages as _materials_pages  # noqa: F401
from tests.processes import test_api as _processes_api  # noqa: F401  (master batch records' view tests)
from tests.processes import test_pages as _processes_pages  # noqa: F401
from tests.qc import test_oos_pages as _qc_oos_pages  # noqa: F401  (QC laboratory: OOS pages and API)
from tests.qc import test_result_pages as _qc_result_pages  # noqa: F401  (samples, results, worklist)
from tests.qc import test_spec_api as _qc_spec_api  # noqa: F401  (methods and specifications over the API)
from tests.qc import test_spec_pages as _qc_spec_pages  # noqa: F401  (methods and specifications)
from tests.qc import test_stability_pages as _qc_stability_pages  # noqa: F401  (stability studies and pulls)
from tests.quality import test_change_pages as _change_pages  # noqa: F401  (change control, risk, dashboard)
from tests.quality import test_deviation_views as _deviation_views  # noqa: F401  (deviations and CAPA)
from tests.release import test_certificates as _release_certificates  # noqa: F401  (certificates of analysis)
from tests.release import test_disposition_pages as _release_pages  # noqa: F401  (disposition pages and API)
from tests.training import test_pages as _training_pages  # noqa: F401  (training's page and API view tests)

from . import test_api_access, test_pages  # noqa: F401  (defines the test classes enumerated below)
from .viewtests import api_tests, page_tests

# Routes deliberately without the shared tests, and why.
PUBLIC = {
    "core:login": "the sign-in page itself (tests/web/test_login.py)",
    "core:logout": "signing out works for anyone (tests/web/test_login.py)",
    "api:openapi-json": "the OpenAPI document is public, it holds no GMP data",
    "api:openapi-view": "the interactive API docs are public, they hold no GMP data",
    "api:api-root": "the API root names no resource",
    "api:no-such-endpoint": "the JSON 404 for paths under /api/v1 that are no endpoint (test_api.py)",
}


def _named_routes(patterns=None, namespace=""):
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            yield from _named_routes(p.url_patterns, p.namespace or namespace)
        elif isinstance(p, URLPattern) and p.name:
            yield f"{namespace}:{p.name}" if namespace else p.name


def _api_operations():
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                for method in operation.methods:
                    yield method, (prefix.rstrip("/") + path) or "/"


def test_every_page_has_view_tests():
    pages = {r for r in _named_routes() if not r.startswith("api:")}
    tested = {cls.route for cls in page_tests()}
    missing = sorted(pages - tested - set(PUBLIC))
    assert not missing, f"pages without a PageTest / PermissionPageTest class: {missing}"


def test_every_api_operation_has_view_tests():
    tested = {cls.operation for cls in api_tests()}
    missing = sorted(set(_api_operations()) - tested)
    assert not missing, f"API operations without an ApiTest / PermissionApiTest class: {missing}"
