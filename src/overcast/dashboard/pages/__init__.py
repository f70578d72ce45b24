"""The console's pages, one module per area; `ROUTERS` is what `mount.mount` adds."""

from overcast.dashboard.pages import (
           admin,
           auth,
           images,
           instances,
           keypairs,
           networks,
           objects,
           overview,
           volumes,
)

ROUTERS = [auth.router, overview.router, instances.router, images.router,
           networks.router, keypairs.router, admin.router,
           volumes.router, objects.router]
