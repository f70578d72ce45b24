"""Placement's routes, one module per resource under the same name as its
`objects/` module; `overcast.placement.api` mounts them all."""
