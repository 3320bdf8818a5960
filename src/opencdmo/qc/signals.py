"""What the laboratory tells the layers above it (disposition) without knowing them."""

from django.dispatch import Signal

# Sent in the result's transaction after a result is entered, reviewed or invalidated:
# sender=TestResult, result=<TestResult>, actor=<User>, event="entered" | "reviewed" | "invalidated".
result_changed = Signal()
