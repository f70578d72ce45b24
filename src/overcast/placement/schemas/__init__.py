"""What Placement accepts: one module of request schemas per resource, under the
same names as `handlers/` and `objects/` (as openstack/placement keeps
`placement/schemas/<resource>.py`), and `common` for what they share.

Each module declares its bodies and query strings as JSON Schema per microversion
range (`Versioned` where a microversion changes them), for the routes' `@accepts`,
which checks them before any handler runs and lists them in /openapi.json; and it
turns a checked body into the plain values the domain service takes.
"""
