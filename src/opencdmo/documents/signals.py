"""What the documents app announces to the apps above it (training), which it must not import.

Receivers run in the sender's transaction: what they write commits or rolls back with it.
"""

from django.dispatch import Signal

# Sent with `actor` and `version` when a version is approved (it may take effect later).
version_approved = Signal()
# Sent with `actor` and `version` at the instant-catch-up when a version takes effect; the
# versions it superseded are in `superseded` (a list).
version_effective = Signal()
# Sent with `actor` and `document` when a whole document is made obsolete.
document_obsoleted = Signal()
