from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LOGIN_ATTEMPTS = 10
LOGIN_WINDOW_SECONDS = 300


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


class ThrottledLoginView(auth_views.LoginView):
    """Django's login page, with failed attempts counted per address and per username so a
    password cannot be guessed by brute force."""

    template_name = "frontend/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
        username = request.POST.get("username", "").lower()[:150]
        keys = [f"login-fail:ip:{_client_ip(request)}", f"login-fail:user:{username}"]
        if any(cache.get(key, 0) >= LOGIN_ATTEMPTS for key in keys):
            form = self.get_form()
            form.add_error(None, "Too many failed sign-ins. Wait five minutes, then try again.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        response = super().post(request, *args, **kwargs)
        if response.status_code != 302:
            for key in keys:
                cache.add(key, 0, LOGIN_WINDOW_SECONDS)
                cache.incr(key)
        return response


class LogoutView(auth_views.LogoutView):
    template_name = "frontend/logged_out.html"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/home.html")
