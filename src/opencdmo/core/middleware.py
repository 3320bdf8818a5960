"""Per-request action context: one correlation id and the client address for every audit event."""

from . import context


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with context.action(client_address=request.META.get("REMOTE_ADDR", "")) as ctx:
            request.correlation_id = ctx.correlation_id
            return self.get_response(request)
