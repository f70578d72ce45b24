"""The block storage routes, one module per resource (no SQL: they parse, authorise
through the domain, delegate and shape the reply)."""
