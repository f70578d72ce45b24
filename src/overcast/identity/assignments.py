"""Role assignments (grants): a role given to a user or a group on a project, a
domain or the system, optionally inherited by the projects below; and the
`GET /v3/role_assignments` listing, direct or effective.

Every grant and revocation changes what tokens mean: granting bumps the identity
generation, revoking a grant revokes the tokens it stood behind.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.identity import auth, errors
from overcast.identity import models as m
from overcast.identity.domains import get_domain
from overcast.identity.groups import get_group
from overcast.identity.projects import get_project
from overcast.identity.roles import get_role
from overcast.identity.users import get_user

#: Assignment types by (target, actor), as the URLs name them.
GRANT_TYPES = {("projects", "users"): "UserProject", ("projects", "groups"): "GroupProject",
               ("domains", "users"): "UserDomain", ("domains", "groups"): "GroupDomain"}
SYSTEM_GRANT_TYPES = {"users": "UserSystem", "groups": "GroupSystem"}


def _check_parts(s: Session, typ: str, actor_id: str, target_id: str) -> None:
    """404 unless the assignment's actor and target exist."""
    if typ.startswith("User"):
        get_user(s, actor_id)
    else:
        get_group(s, actor_id)
    if typ.endswith("Project"):
        get_project(s, target_id)
    elif typ.endswith("Domain"):
        get_domain(s, target_id)


class Assignments:
    def __init__(self, db: Database) -> None:
        self.db = db

    def grant(self, typ: str, actor_id: str, target_id: str, role_id: str,
              inherited: bool = False) -> None:
        with self.db.transaction() as s:
            _check_parts(s, typ, actor_id, target_id)
            get_role(s, role_id)
            key = (typ, actor_id, target_id, role_id, inherited)
            if s.get(m.Assignment, key) is None:
                s.add(m.Assignment(type=typ, actor_id=actor_id, target_id=target_id,
                                   role_id=role_id, inherited=inherited))
            auth.bump_generation(s)

    def check(self, typ: str, actor_id: str, target_id: str, role_id: str,
              inherited: bool = False) -> None:
        with self.db.session() as s:
            _check_parts(s, typ, actor_id, target_id)
            get_role(s, role_id)
            if s.get(m.Assignment, (typ, actor_id, target_id, role_id, inherited)) is None:
                raise errors.no_such_assignment(role_id, actor_id, target_id)

    def revoke(self, typ: str, actor_id: str, target_id: str, role_id: str,
               inherited: bool = False) -> None:
        """Remove a grant and revoke the tokens that relied on it: the user's (on
        that project, for a project grant), or every member's for a group."""
        with self.db.transaction() as s:
            _check_parts(s, typ, actor_id, target_id)
            get_role(s, role_id)
            row = s.get(m.Assignment, (typ, actor_id, target_id, role_id, inherited))
            if row is None:
                raise errors.no_such_assignment(role_id, actor_id, target_id)
            s.delete(row)
            if typ.startswith("User"):
                target = target_id if typ.endswith("Project") else None
                auth.revoke_user(s, actor_id, project_id=target)
            else:
                for uid in list(s.scalars(select(m.Membership.user_id).where(
                        m.Membership.group_id == actor_id))):
                    auth.revoke_user(s, uid)
            auth.bump_generation(s)

    def roles(self, typ: str, actor_id: str, target_id: str,
              inherited: bool = False) -> list[m.Role]:
        """The roles granted directly to the actor on the target."""
        with self.db.session() as s:
            _check_parts(s, typ, actor_id, target_id)
            ids = s.scalars(select(m.Assignment.role_id).where(
                m.Assignment.type == typ, m.Assignment.actor_id == actor_id,
                m.Assignment.target_id == target_id, m.Assignment.inherited.is_(inherited)))
            return list(s.scalars(select(m.Role).where(m.Role.id.in_(list(ids)))
                                  .order_by(m.Role.name)))

    def listing(self, f: dict[str, Any]) -> list[dict[str, Any]]:
        """`GET /v3/role_assignments`: direct rows, or with `effective` expanded
        through group membership, inheritance and implied roles; filtered,
        de-duplicated, and with names when `include_names` asks."""
        with self.db.session() as s:
            rows = list(s.scalars(select(m.Assignment)))
            if f.get("effective", False):
                out = _effective_entries(s, rows)
            else:
                out = [_entry(a.type, a.actor_id, a.target_id, a.role_id, a.inherited)
                       for a in rows]
            out = [e for e in out if _matches(e, f)]
            # de-duplicate (effective view can reach one grant by several paths)
            seen_keys: set[tuple[Any, ...]] = set()
            uniq = []
            for e in out:
                key = (e["role"]["id"], tuple(sorted((k, v["id"]) for k, v in e.items()
                                                    if k in ("user", "group"))),
                       str(e["scope"]))
                if key not in seen_keys:
                    seen_keys.add(key)
                    uniq.append(e)
            if f.get("include_names"):
                _add_names(s, uniq)
            return uniq


def _effective_entries(s: Session, rows: list[m.Assignment]) -> list[dict[str, Any]]:
    """Every (user, project/domain/system, role) an assignment row reaches: group
    rows expand to their members, inherited rows to the projects below their
    target, roles to the roles they imply. Reached-indirectly entries are marked
    with a `membership` link."""
    out: list[dict[str, Any]] = []
    members: dict[str, list[str]] = {}
    for mem in s.scalars(select(m.Membership)):
        members.setdefault(mem.group_id, []).append(mem.user_id)
    projects = list(s.scalars(select(m.Project)))
    children: dict[str, list[m.Project]] = {}
    for p in projects:
        children.setdefault(p.parent_id or "", []).append(p)
    # Domain-specific roles only carry the roles they imply: Keystone leaves them
    # out of the effective view (and out of tokens).
    domain_specific = set(s.scalars(select(m.Role.id).where(m.Role.domain_id.is_not(None))))
    implied: dict[str, list[str]] = {}
    for ir in s.scalars(select(m.ImpliedRole)):
        implied.setdefault(ir.prior_role_id, []).append(ir.implied_role_id)

    def expand_roles(rid: str) -> list[str]:
        seen, todo = [], [rid]
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.append(x)
                todo.extend(implied.get(x, []))
        return seen

    def subtree(root: str, domain: bool) -> list[str]:
        res, todo = [], [root]
        while todo:
            x = todo.pop()
            for c in children.get(x, []):
                if domain and c.domain_id != root and x == root:
                    continue
                res.append(c.id)
                todo.append(c.id)
        return res

    for a in rows:
        users = [a.actor_id] if a.type.startswith("User") else \
            members.get(a.actor_id, [])
        kind = "Project" if a.type.endswith("Project") else \
            "Domain" if a.type.endswith("Domain") else "System"
        if a.inherited:
            targets = [("Project", pid) for pid in
                       subtree(a.target_id, kind == "Domain")]
        else:
            targets = [(kind, a.target_id)]
        for uid in users:
            for tkind, tid in targets:
                for rid in expand_roles(a.role_id):
                    if rid in domain_specific:
                        continue
                    entry = _entry(f"User{tkind}", uid, tid, rid, False)
                    if a.type.startswith("Group") or a.inherited:
                        entry["links"]["membership"] = True
                    out.append(entry)
    return out


def _entry(typ: str, actor: str, target: str, role: str,
           inherited: bool) -> dict[str, Any]:
    e: dict[str, Any] = {"role": {"id": role}, "links": {}}
    e["user" if typ.startswith("User") else "group"] = {"id": actor}
    if typ.endswith("Project"):
        e["scope"] = {"project": {"id": target}}
    elif typ.endswith("Domain"):
        e["scope"] = {"domain": {"id": target}}
    else:
        e["scope"] = {"system": {"all": True}}
    if inherited:
        e["scope"]["OS-INHERIT:inherited_to"] = "projects"
    return e


def _matches(e: dict[str, Any], f: dict[str, Any]) -> bool:
    if "user.id" in f and e.get("user", {}).get("id") != f["user.id"]:
        return False
    if "group.id" in f and e.get("group", {}).get("id") != f["group.id"]:
        return False
    if "role.id" in f and e["role"]["id"] != f["role.id"]:
        return False
    scope = e["scope"]
    if "scope.project.id" in f and scope.get("project", {}).get("id") not in \
            f["scope.project.id"]:
        return False
    if "scope.domain.id" in f and scope.get("domain", {}).get("id") != \
            f["scope.domain.id"]:
        return False
    if "scope.system" in f and "system" not in scope:
        return False
    return not (f.get("inherited_to") and "OS-INHERIT:inherited_to" not in scope)


def _add_names(s: Session, entries: list[dict[str, Any]]) -> None:
    def dom(did: str | None) -> dict[str, Any]:
        d = s.get(m.Domain, did) if did else None
        return {"id": did, "name": d.name if d else None}

    for e in entries:
        r = s.get(m.Role, e["role"]["id"])
        if r:
            e["role"]["name"] = r.name
            if r.domain_id:
                e["role"]["domain"] = dom(r.domain_id)
        if "user" in e:
            u = s.get(m.User, e["user"]["id"])
            if u:
                e["user"].update(name=u.name, domain=dom(u.domain_id))
        if "group" in e:
            g = s.get(m.Group, e["group"]["id"])
            if g:
                e["group"].update(name=g.name, domain=dom(g.domain_id))
        scope = e["scope"]
        if "project" in scope:
            p = s.get(m.Project, scope["project"]["id"])
            if p:
                scope["project"].update(name=p.name, domain=dom(p.domain_id))
        if "domain" in scope:
            d = s.get(m.Domain, scope["domain"]["id"])
            if d:
                scope["domain"]["name"] = d.name
