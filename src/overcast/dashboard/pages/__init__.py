"""The console's pages, one module per area; `ROUTERS` is what `web.mount` adds."""

from overcast.dashboard.pages import auth, overview

ROUTERS = [auth.router, overview.router]
