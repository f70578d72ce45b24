"""Nova v2.1: servers, flavors, key pairs, quotas, server groups and compute hosts.

How the package is laid out (the same rooms as every service):

- `api` mounts the routes, declares the microversion range (`VERSIONS`) and starts
  the conductor; `routes/<resource>` parse (`schemas`), authorise (`policy`, or
  `ADMIN` declared on the route), delegate and shape (`views`): no SQL there.
- The domain, one module per resource, with its transactions and no HTTP:
  `service` (servers and their actions), `flavors`, `keypairs`, `quotas`,
  `server_groups`, `hosts` (services, hypervisors, host status); `states` is Nova's
  legal-state table and `models` the tables.
- `conductor` schedules and writes what agents report; it and `service` share
  `hosts` and `instances` and never each other's private parts (`service` never
  imports `conductor`: an import-linter contract).
- The other services are reached only through `ports` (NetworkPort, ImagePort,
  PlacementPort), handed over in `overcast.app.wire`.
- `metadata` answers instances' metadata requests; `local` runs the all-in-one
  cloud's own agents.
"""
