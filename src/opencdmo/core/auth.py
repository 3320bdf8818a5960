"""Session authentication that drops a session as soon as its user is locked or deactivated."""

from django.contrib.auth.backends import ModelBackend


class LockoutAwareBackend(ModelBackend):
    def user_can_authenticate(self, user):
        return user.is_active and not user.is_locked

    def get_user(self, user_id):
        user = super().get_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
