"""Keystone v3: identity, tokens, the service catalog.

The package is laid out by resource; each module has one part of the design:

  api.py            routes: parse (schemas), authorise (policy), delegate, shape (views);
                    the plain CRUD routes are generated from its `CRUD` table
  schemas.py        request bodies and listing filters
  policy.py         who may do what (every admin/owner check of identity)
  views.py          wire shapes, one function per resource
  errors.py         Keystone's error messages
  service.py        `IdentityService`, the facade on `app.state.identity`
  auth.py           tokens: issue, validate, cache, the revocation interface, catalog view
  tokens.py         the Fernet token format and key repository; passwords.py: bcrypt
  effective.py      effective roles (groups, inheritance, implied roles), read-only
  domains.py  projects.py  users.py  groups.py  roles.py  assignments.py
  catalog.py (regions, services, endpoints)  application_credentials.py
  credentials.py    one module per resource: its rules and transactions, no HTTP
                    (credentials.py: /v3/credentials and OS-EC2, blobs encrypted at rest)
  credentials_api.py  the routes of credentials, OS-EC2, ec2tokens and s3tokens
                    (api.py mounts them)
  ec2.py            the signature checks of ec2tokens (keystoneclient's algorithms) and
                    s3tokens
  bootstrap.py      the identity a new cloud starts with
  models.py         the tables

A resource module never reaches into another's internals: it uses their
`get_<thing>(session, id)` lookups, and changes what tokens mean only through
auth.py's public `bump_generation` / `revoke_*` functions, inside its own
transaction.
"""
