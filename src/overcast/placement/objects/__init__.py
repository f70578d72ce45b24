"""Placement's domain logic, one module per resource (as openstack/placement's
`objects/`): each holds the transactions of its resource and no HTTP.
`overcast.placement.service.PlacementService` puts them together."""
