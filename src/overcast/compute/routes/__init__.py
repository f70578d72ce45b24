"""Nova's routes, one module per resource (the same names as the domain modules).

A route parses (`compute.schemas`), authorises (`compute.policy`, or `ADMIN`
declared on the route), delegates to the service and shapes the reply
(`compute.views`). No SQL here: what a route needs from the database is a
service method. Every router negotiates the microversion first (`base.router`).
"""
