"""Events the kernel announces to the apps above it, which must not be imported from here.

Receivers run in the sender's transaction, so what they write commits or rolls back with it.
"""

from django.dispatch import Signal

# Sent with `actor`, `user` and `role` (a Role) after a role is granted; training assigns
# the role's curriculum.
role_granted = Signal()
