"""The domain errors every service raises; views and the API map them to 4xx in one place."""


class DomainError(Exception):
    status = 400
    title = "Request refused"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PermissionDenied(DomainError):
    status = 403
    title = "Not permitted"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class RuleViolation(DomainError):
    status = 422
    title = "Not allowed by the rules"
