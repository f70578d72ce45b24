"""Projects and their tags. A project belongs to a domain and may have a parent
project in it (grants marked inherited flow down that tree, see effective.py);
disabling or deleting one revokes the tokens scoped to it.

A project's wire shape carries its tags, so reads return a `ProjectRecord`:
the row with its tags.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.identity import auth
from overcast.identity import errors as e
from overcast.identity import models as m
from overcast.identity.domains import DEFAULT_DOMAIN_ID, Domains, new_id
from overcast.kit.errors import BadRequest, Forbidden


class ProjectRow(Protocol):
    """A project as a list reads it: a table row, not an ORM object."""

    id: str
    name: str
    domain_id: str
    parent_id: str | None
    description: str
    enabled: bool
    extra: dict[str, Any]



#: A project (or a domain, read as Keystone's project acting as a domain) and its
#: tags, sorted.
ProjectRecord = tuple[m.Project | m.Domain | ProjectRow, list[str]]
_PROJECTS = m.Project.__table__
_TAGS = m.ProjectTag.__table__
MAX_TAGS = 80


def get_project(s: Session, project_id: str) -> m.Project:
    # A NUL (from a URL's %00) is no id; PostgreSQL would refuse the query.
    p = s.get(m.Project, project_id) if "\x00" not in project_id else None
    if p is None:
        raise e.not_found("project", project_id)
    return p


def project_tags(s: Session, project_id: str) -> list[str]:
    return list(s.scalars(select(m.ProjectTag.name).where(
        m.ProjectTag.project_id == project_id).order_by(m.ProjectTag.name)))


def _set_tags(s: Session, project_id: str, tags: list[str]) -> None:
    s.execute(delete(m.ProjectTag).where(m.ProjectTag.project_id == project_id))
    for tag in sorted(set(tags)):
        s.add(m.ProjectTag(project_id=project_id, name=tag))


def _tags_match(filters: dict[str, Any], tags: set[str]) -> bool:
    if "tags" in filters and not set(filters["tags"]) <= tags:
        return False
    if "tags-any" in filters and not set(filters["tags-any"]) & tags:
        return False
    if "not-tags" in filters and set(filters["not-tags"]) <= tags:
        return False
    return not ("not-tags-any" in filters and set(filters["not-tags-any"]) & tags)


class Projects:
    def __init__(self, db: Database) -> None:
        self.db = db

    def show(self, project_id: str) -> ProjectRecord:
        with self.db.session() as s:
            d = self._domain(s, project_id)
            if d is not None:
                return d, []
            p = get_project(s, project_id)
            return p, project_tags(s, p.id)

    @staticmethod
    def _domain(s: Session, project_id: str) -> m.Domain | None:
        """The domain `project_id` names, if it names no project: in Keystone a
        domain is a project acting as a domain, reachable through /v3/projects."""
        if "\x00" in project_id or s.get(m.Project, project_id) is not None:
            return None
        return s.get(m.Domain, project_id)

    def create(self, data: dict[str, Any]) -> ProjectRecord:
        """Create a project in `domain_id` (default: the default domain), or under
        `parent_id`, whose domain it then shares."""
        if data.get("is_domain"):
            d = Domains(self.db).create({k: data[k] for k in
                                         ("name", "description", "enabled", "extra")
                                         if k in data})
            return d, []
        with self.db.transaction() as s:
            domain_id = data.get("domain_id") or DEFAULT_DOMAIN_ID
            parent_id = data.get("parent_id")
            if parent_id:
                parent = s.get(m.Project, parent_id)
                if parent is None:
                    raise e.not_found("project", parent_id)
                if data.get("domain_id") and parent.domain_id != data["domain_id"]:
                    raise BadRequest("Cannot create project with parent in a different "
                                     "domain.")
                domain_id = parent.domain_id
            domain = s.get(m.Domain, domain_id)
            if domain is None:
                raise e.not_found("domain", domain_id)
            if s.scalar(select(m.Project).where(m.Project.name == data["name"],
                                                m.Project.domain_id == domain_id)):
                raise e.duplicate_project(data["name"])
            p = m.Project(id=new_id(), name=data["name"], domain_id=domain_id,
                          parent_id=parent_id or domain_id,
                          description=data.get("description") or "",
                          enabled=data.get("enabled", True), extra=data.get("extra", {}))
            s.add(p)
            s.flush()
            for tag in sorted(set(data.get("tags") or [])):
                s.add(m.ProjectTag(project_id=p.id, name=tag))
        return self.show(p.id)

    def find(self, filters: dict[str, Any]) -> list[ProjectRecord]:
        if filters.get("is_domain"):
            domains = Domains(self.db).find(
                {k: filters[k] for k in ("name", "enabled", "ids") if k in filters})
            if any(k in filters for k in ("domain_id", "parent_id", "tags", "tags-any")):
                return []  # a domain has no parent, no domain and no tags
            return [(d, []) for d in domains]
        # One query on the tables, not the ORM (a list is a hot read: this is four
        # times cheaper than loading Project objects): each project with its tags,
        # a row per tag (or one with no tag), in name then tag order.
        p, t = _PROJECTS, _TAGS
        q = select(p.c.id, p.c.name, p.c.domain_id, p.c.parent_id, p.c.description,
                   p.c.enabled, p.c.extra, t.c.name.label("tag")).outerjoin(
            t, t.c.project_id == p.c.id).order_by(p.c.name, p.c.id, t.c.name)
        for key in ("name", "domain_id", "parent_id"):
            if key in filters:
                q = q.where(p.c[key] == filters[key])
        if "enabled" in filters:
            q = q.where(p.c.enabled.is_(filters["enabled"]))
        if "ids" in filters:
            q = q.where(p.c.id.in_(filters["ids"]))
        found: dict[str, tuple[Any, list[str]]] = {}
        with self.db.engine.connect() as c:
            for row in c.execute(q):
                record = found.get(row.id)
                if record is None:
                    record = found[row.id] = (row, [])
                if row.tag is not None:
                    record[1].append(row.tag)
        return [r for r in found.values() if _tags_match(filters, set(r[1]))]

    def update(self, project_id: str, data: dict[str, Any]) -> ProjectRecord:
        with self.db.session() as s:
            as_domain = self._domain(s, project_id) is not None
        if as_domain:
            for attr in ("domain_id", "parent_id"):
                if data.get(attr):
                    raise e.immutable(attr)
            d = Domains(self.db).update(project_id, {
                k: data[k] for k in ("name", "description", "enabled", "extra") if k in data})
            return d, []
        with self.db.transaction() as s:
            p = get_project(s, project_id)
            for attr in ("domain_id", "parent_id"):
                if attr in data and data[attr] != getattr(p, attr):
                    raise e.immutable(attr)
            if "name" in data and data["name"] != p.name:
                if s.scalar(select(m.Project).where(m.Project.name == data["name"],
                                                    m.Project.domain_id == p.domain_id)):
                    raise e.duplicate_project(data["name"])
                p.name = data["name"]
            if "description" in data:
                p.description = data["description"] or ""
            if "enabled" in data:
                if p.enabled and not data["enabled"]:
                    auth.revoke_project(s, project_id)
                p.enabled = data["enabled"]
            if "extra" in data:
                p.extra = {**(p.extra or {}), **data["extra"]}
            if "tags" in data:
                _set_tags(s, p.id, data["tags"])
            auth.bump_generation(s)
        return self.show(project_id)

    def delete(self, project_id: str) -> None:
        with self.db.session() as s:
            as_domain = self._domain(s, project_id) is not None
        if as_domain:
            Domains(self.db).delete(project_id)
            return
        with self.db.transaction() as s:
            p = get_project(s, project_id)
            if s.scalar(select(func.count()).select_from(m.Project).where(
                    m.Project.parent_id == project_id)):
                raise Forbidden(f"Cannot delete the project {project_id} since it is not a "
                                f"leaf in the hierarchy. Use the cascade option if you want "
                                f"to delete a whole subtree.")
            s.execute(delete(m.Assignment).where(m.Assignment.target_id == project_id))
            s.execute(delete(m.ProjectTag).where(m.ProjectTag.project_id == project_id))
            s.execute(delete(m.ApplicationCredential).where(
                m.ApplicationCredential.project_id == project_id))
            s.execute(delete(m.Credential).where(m.Credential.project_id == project_id))
            s.execute(delete(m.ProjectEndpoint).where(m.ProjectEndpoint.project_id == project_id))
            s.execute(delete(m.ProjectEndpointGroup).where(
                m.ProjectEndpointGroup.project_id == project_id))
            s.delete(p)
            auth.revoke_project(s, project_id)

    # ------------------------------------------------------------------- tags
    def set_tags(self, project_id: str, tags: list[str]) -> list[str]:
        with self.db.transaction() as s:
            get_project(s, project_id)
            _set_tags(s, project_id, tags)
            return sorted(set(tags))

    def add_tag(self, project_id: str, tag: str) -> None:
        with self.db.transaction() as s:
            get_project(s, project_id)
            if s.get(m.ProjectTag, (project_id, tag)) is None:
                if len(project_tags(s, project_id)) >= MAX_TAGS:
                    raise BadRequest(e.TOO_MANY_TAGS)
                s.add(m.ProjectTag(project_id=project_id, name=tag))

    def remove_tag(self, project_id: str, tag: str) -> None:
        with self.db.transaction() as s:
            get_project(s, project_id)
            row = s.get(m.ProjectTag, (project_id, tag))
            if row is None:
                raise e.no_such_tag(project_id, tag)
            s.delete(row)
