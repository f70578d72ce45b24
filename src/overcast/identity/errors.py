"""Keystone's error messages, written once.

The identity modules raise the kit's typed errors (`BadRequest`, `NotFound`, ...),
which the kit renders in Keystone's envelope. The wording here is the wire: clients
and tests compare it, so a message is a constant or a small constructor, not a
string retyped in each module.
"""

from __future__ import annotations

from overcast.kit.errors import BadRequest, Conflict, Forbidden, NotFound

#: Keystone's answer to every failed authentication, whatever the reason.
AUTH_FAILED = "The request you have made requires authentication."
#: Keystone's answer when a policy check fails.
NOT_AUTHORIZED = "You are not authorized to perform the requested action."
#: An URL that names no kind of resource Keystone has.
NO_SUCH_RESOURCE = "The resource could not be found."
LIST_ASSIGNMENTS_DENIED = ("You are not authorized to perform the requested action: "
                           "identity:list_role_assignments.")
VALIDATE_DENIED = "You are not authorized to validate that token."
REVOKE_DENIED = "You are not authorized to revoke that token."
CATALOG_NEEDS_SCOPE = "The service catalog is only available with a scoped token."
APP_CRED_NOT_YOURS = "You can only create application credentials for yourself."
APP_CRED_NEEDS_PROJECT = "Application credentials need a project-scoped token."
APP_CRED_RESTRICTED = ("Using a restricted application credential to create another "
                       "application credential is not allowed.")
CREDENTIAL_DELEGATED_PROJECT = ("Credential project does not match the project scope of "
                               "the delegated token")
APP_CRED_NO_CREDENTIALS = ("Using method 'application_credential' is not allowed for "
                           "managing additional credentials.")
EC2_KEY_NOT_FOUND = "EC2 access key not found."
IMPLIED_LOOP = "Implied roles cannot form a loop."
GLOBAL_IMPLIES_DOMAIN_ROLE = "A global role cannot imply a domain-specific role."
DEFAULT_DOMAIN_DISABLE = "The default domain cannot be disabled."
DOMAIN_STILL_ENABLED = "Cannot delete a domain that is enabled, please disable it first."
TOO_MANY_TAGS = "A project can have at most 80 tags."
EFFECTIVE_WITH_GROUP = ("Combining effective and group filter will always result in an "
                        "empty list.")
WRONG_PASSWORD = "Error when changing user password: the original password is wrong."


def not_found(kind: str, ident: str | None) -> NotFound:
    """`Could not find user: 1234.`: the lookup failures of every resource."""
    return NotFound(f"Could not find {kind}: {ident}.")


def conflict(kind: str, detail: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store {kind} - {detail}.")


def duplicate_name(kind: str, name: str, domain_id: str | None = None) -> Conflict:
    where = f" at domain ID {domain_id}" if domain_id is not None else ""
    return conflict(kind, f"Duplicate entry found with name {name}{where}")


def duplicate_project(name: str) -> Conflict:
    return conflict("project", f"it is not permitted to have two projects with the same "
                               f"name in the same domain : {name}")


def immutable(attr: str) -> BadRequest:
    return BadRequest(f"Update of `{attr}` is not allowed.")


def not_a_member(group_id: str, user_id: str) -> NotFound:
    return NotFound(f"User {user_id} is not a member of group {group_id}.")


def no_such_tag(project_id: str, tag: str) -> NotFound:
    return NotFound(f"Tag {tag} was not found on project {project_id}.")


def no_such_inference(prior_id: str, implied_id: str) -> NotFound:
    return NotFound(f"{prior_id} does not imply {implied_id}.")


def no_such_assignment(role_id: str, actor_id: str, target_id: str) -> NotFound:
    return NotFound(f"Could not find role assignment with role: {role_id}, "
                    f"actor: {actor_id}, target: {target_id}.")


def not_authorized() -> Forbidden:
    return Forbidden(NOT_AUTHORIZED)
