"""The server: the chat page and the OpenAI-compatible API (under /v1) on one uvicorn, over one
`Application` (one store, one embedder, one model, one queue).

`serve(settings, **parts)` builds the `Application` (any part given instead of built: `assistant=`,
`conversations=`, `store=`, ...), starts loading the assistant in the background (the page answers
"loading" meanwhile, and says why if the start fails), mounts the page on the API's FastAPI app and runs
both on `ui_host:ui_port`, 127.0.0.1 by default.

What it guards:
- **Files**: the page serves only what Gradio made or a user uploaded (Gradio's upload and cache
  folders); `allowed_paths` stays empty and the data dir and the model cache are blocked outright. Gradio
  checks that a file handed to an event was uploaded only once `Blocks.launch()` ran; a mounted app is
  never launched, so `serve` turns that check on itself (`_check_uploads`): a chat history naming a
  server file, or a server path sent to `add_articles`, is refused before any handler runs.
- **Logins**: `ASSISTANT_UI_AUTH` (user:password pairs); repeated wrong passwords from one client are
  paused (`ui_login`). Serving beyond loopback without a login warns; the API beyond loopback needs
  `ASSISTANT_API_KEYS` (`api.check_exposure`).
- **Clients' addresses**: the TCP peer, unless it is one of the proxies named in
  `ASSISTANT_FORWARDED_ALLOW_IPS` (`--forwarded-allow-ips`): only then are its X-Forwarded-For and
  X-Forwarded-Proto headers believed (uvicorn's default would believe any local process).
- **Bodies**: at most `ASSISTANT_MAX_BODY_MB` (1 MB) per request, uploads aside (`api.limit_bodies`).

Left out: TLS (put a reverse proxy in front) and more than one process per data dir serving answers
(each would load its own model).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from .api import LOOPBACK, check_exposure, create_app, limit_bodies
from .app import Application
from .errors import ConfigError
from .settings import Settings
from .ui import ChatBackend, build_app
from .ui_format import CSS
from .ui_login import LoginAttempts, LoginThrottle

__all__ = ["Served", "serve"]


class Served:
    """The running server: one uvicorn serving the API under /v1 and the chat page at /. `close()` stops
    it (and the application's loading and polling)."""

    def __init__(self, app: Application, web: Any, demo: Any, server: Any, host: str, port: int) -> None:
        self.app = app
        self.web = web
        self.demo = demo
        self.server = server
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        self.share_url: str | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> None:
        self._thread = threading.Thread(target=self.server.run, name="assistant-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise ConfigError(f"could not serve on {self.url} (is the port in use?)")
            time.sleep(0.01)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C stops it)."""
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.close()

    def close(self) -> None:
        self.server.should_exit = True
        self.app.close()
        if self._thread is not None:
            self._thread.join(10)


def serve(settings: Settings, *, share: bool = False, block: bool = True, **parts: Any) -> Served:
    """Serve the chat page and the API from one process on `ui_host:ui_port` over one `Application`
    (built from `settings`, with any of its parts given in `parts`), and start loading the assistant.
    Blocks until stopped unless `block` is False; returns the `Served` server. Refuses (`ConfigError`)
    to serve the API beyond loopback without `api_keys`."""
    host, port = settings.ui_host, settings.ui_port
    check_exposure(settings, host=host, share=share)
    auth = [tuple(p.get_secret_value().split(":", 1)) for p in settings.ui_auth] or None
    if (share or host not in LOOPBACK) and not auth:
        _warn_without_login(host)
    app = Application(settings, **parts)
    app.start(
        feeds=True, announce=True
    )  # loads the assistant in the background; polls ASSISTANT_FEEDS and the UI's feeds
    demo = build_app(settings, ChatBackend(app))
    demo.queue(default_concurrency_limit=1, max_size=64)
    if settings.api_enabled:
        web = create_app(app)
    else:
        from fastapi import FastAPI

        web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        limit_bodies(web, settings)
    _mount_page(web, demo, settings, auth)
    served = Served(app, web, demo, _server(web, settings), host, port)
    served.start()
    api = f" · API {served.url}/v1" if settings.api_enabled else ""
    print(f"News Assistant on {served.url}{api}", file=sys.stderr, flush=True)
    if share:
        _share(served, port)
    if block:
        served.wait()
    return served


def _warn_without_login(host: str) -> None:
    print(
        "\n"
        + "!" * 78
        + f"\nWARNING: serving on {host} WITHOUT a login: anyone who can reach this machine can "
        "use the assistant\nand add articles. Set ASSISTANT_UI_AUTH=user:password to require one.\n"
        + "!"
        * 78,
        file=sys.stderr,
    )


def _mount_page(web: Any, demo: Any, settings: Settings, auth: list[tuple[str, ...]] | None) -> None:
    """Mount the page at / on `web`, with the login (and its throttle) and the file rules."""
    import gradio as gr

    # wrong passwords are throttled per client address (see ui_login)
    attempts = LoginAttempts(
        free_attempts=settings.ui_login_free_attempts, max_pause=settings.ui_login_max_pause
    )
    app_kwargs = {"middleware": [_middleware(LoginThrottle, attempts=attempts)]} if auth else None
    gr.mount_gradio_app(
        web,
        demo,
        path="/",
        server_name=settings.ui_host,
        server_port=settings.ui_port,
        auth=auth,
        auth_message=(
            f"Sign in to the News Assistant. After {settings.ui_login_free_attempts} wrong passwords, "
            "sign-in pauses for a while (longer after each further one): if nothing happens, wait a "
            "little and try again."
        ),
        app_kwargs=app_kwargs,
        ssr_mode=False,  # with server-side rendering a Node process fronts the app: every client is 127.0.0.1
        show_error=True,
        max_file_size=f"{settings.ui_max_upload_mb:g}mb",
        allowed_paths=[],  # nothing beyond what Gradio made or a user uploaded
        blocked_paths=[str(settings.data_dir.resolve()), str(settings.model_cache_dir.resolve())],
        footer_links=[],
        css=CSS,
        theme="soft",
    )
    _check_uploads(demo)


def _check_uploads(demo: Any) -> None:
    """Make Gradio check, as after `launch()`, that every file an event receives was uploaded (it lies in
    the upload folder) and every file it returns was made by the app: `processing_utils._check_allowed`
    skips both checks until `Blocks.has_launched`, which only `launch()` sets, and a mounted app is never
    launched."""
    demo.has_launched = True


def _middleware(cls: Any, **options: Any) -> Any:
    from starlette.middleware import Middleware

    return Middleware(cls, **options)


def _server(web: Any, settings: Settings) -> Any:
    """The uvicorn server: forwarded headers believed only from the proxies named in the settings."""
    import uvicorn

    proxies = settings.forwarded_allow_ips
    config = uvicorn.Config(
        web,
        host=settings.ui_host,
        port=settings.ui_port,
        log_level="warning",
        proxy_headers=bool(proxies),
        forwarded_allow_ips=",".join(proxies) if proxies else "",
    )
    return uvicorn.Server(config)


def _share(served: Served, port: int) -> None:
    """A public link to the server through Gradio's share tunnel (best effort, as `launch(share=True)`)."""
    import secrets
    from urllib.parse import urlparse, urlunparse

    from gradio import networking

    try:
        url = networking.setup_tunnel("127.0.0.1", port, secrets.token_urlsafe(32), None, None)
    except Exception as exc:  # the tunnel is optional (as in Gradio's launch): serve on without it
        print(f"No public link ({type(exc).__name__}: {exc}); serving locally only.", file=sys.stderr)
        return
    served.share_url = urlunparse(("https", *urlparse(url)[1:]))
    print(f"Public link: {served.share_url}", file=sys.stderr, flush=True)
