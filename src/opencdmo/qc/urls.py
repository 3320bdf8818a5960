from django.urls import path

from . import views

app_name = "qc"

urlpatterns = [
    # ===== methods and specifications =====
    # ===== end methods and specifications =====
    # ===== samples and results =====
    # ===== end samples and results =====
    # ===== OOS investigations =====
    # ===== end OOS investigations =====
    # ===== stability =====
    # ===== end stability =====
]
