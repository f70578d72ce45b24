"""Identity resources Keystone only stores and hands back: policies (`/v3/policies`,
opaque blobs other services may fetch; Keystone enforces none of them), endpoint
groups (OS-EP-FILTER: a filter naming the endpoints it stands for) and OAuth1
consumers (OS-OAUTH1: a client id and a secret shown once). Each is a plain
create/find/show/update/delete store; api.py's generated routes serve the first
two, documents_api.py the consumers. Also OS-EP-FILTER's associations of
endpoints and endpoint groups with projects, the one part that acts: a project
with associations sees only those endpoints in its catalog.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.identity import auth, effective
from overcast.identity import errors as e
from overcast.identity import models as m
from overcast.identity.domains import new_id


class Policies:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> m.Policy:
        with self.db.transaction() as s:
            p = m.Policy(id=new_id(), type=data["type"], blob=data["blob"],
                         extra=data.get("extra", {}))
            s.add(p)
            return p

    def find(self, filters: dict[str, Any]) -> list[m.Policy]:
        with self.db.session() as s:
            q = select(m.Policy).order_by(m.Policy.type, m.Policy.id)
            if "type" in filters:
                q = q.where(m.Policy.type == filters["type"])
            return list(s.scalars(q))

    def show(self, policy_id: str) -> m.Policy:
        with self.db.session() as s:
            return self._get(s, policy_id)

    @staticmethod
    def _get(s: Any, policy_id: str) -> m.Policy:
        p = s.get(m.Policy, policy_id)
        if p is None:
            raise e.not_found("policy", policy_id)
        return p  # type: ignore[no-any-return]

    def update(self, policy_id: str, data: dict[str, Any]) -> m.Policy:
        with self.db.transaction() as s:
            p = self._get(s, policy_id)
            for key in ("type", "blob"):
                if key in data:
                    setattr(p, key, data[key])
            if "extra" in data:
                p.extra = {**(p.extra or {}), **data["extra"]}
            return p

    def delete(self, policy_id: str) -> None:
        with self.db.transaction() as s:
            s.delete(self._get(s, policy_id))


class EndpointGroups:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> m.EndpointGroup:
        with self.db.transaction() as s:
            g = m.EndpointGroup(id=new_id(), name=data["name"],
                                description=data.get("description") or "",
                                filters=data["filters"])
            s.add(g)
            return g

    def find(self, filters: dict[str, Any]) -> list[m.EndpointGroup]:
        with self.db.session() as s:
            q = select(m.EndpointGroup).order_by(m.EndpointGroup.name, m.EndpointGroup.id)
            if "name" in filters:
                q = q.where(m.EndpointGroup.name == filters["name"])
            return list(s.scalars(q))

    def show(self, group_id: str) -> m.EndpointGroup:
        with self.db.session() as s:
            return self._get(s, group_id)

    @staticmethod
    def _get(s: Any, group_id: str) -> m.EndpointGroup:
        g = s.get(m.EndpointGroup, group_id)
        if g is None:
            raise e.not_found("endpoint group", group_id)
        return g  # type: ignore[no-any-return]

    def update(self, group_id: str, data: dict[str, Any]) -> m.EndpointGroup:
        with self.db.transaction() as s:
            g = self._get(s, group_id)
            if "name" in data:
                g.name = data["name"]
            if "description" in data:
                g.description = data["description"] or ""
            if "filters" in data:
                g.filters = data["filters"]
                auth.bump_generation(s)  # the catalogs it filters change
            return g

    def delete(self, group_id: str) -> None:
        with self.db.transaction() as s:
            s.delete(self._get(s, group_id))
            s.execute(delete(m.ProjectEndpointGroup).where(
                m.ProjectEndpointGroup.endpoint_group_id == group_id))
            auth.bump_generation(s)


def _project(s: Session, project_id: str) -> m.Project:
    p = s.get(m.Project, project_id)
    if p is None:
        raise e.not_found("project", project_id)
    return p


def _endpoint(s: Session, endpoint_id: str) -> m.Endpoint:
    ep = s.get(m.Endpoint, endpoint_id)
    if ep is None:
        raise e.not_found("endpoint", endpoint_id)
    return ep


class EndpointFilter:
    """OS-EP-FILTER associations: endpoints, or endpoint groups, with projects. A
    project with any sees only those endpoints in its catalog (auth.py filters,
    through effective.filtered_endpoint_ids); every change bumps the generation so
    cached catalogs follow."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- endpoint <-> project
    def associate_endpoint(self, project_id: str, endpoint_id: str) -> None:
        with self.db.transaction() as s:
            _project(s, project_id)
            _endpoint(s, endpoint_id)
            if s.get(m.ProjectEndpoint, (project_id, endpoint_id)) is None:
                s.add(m.ProjectEndpoint(project_id=project_id, endpoint_id=endpoint_id))
            auth.bump_generation(s)

    def check_endpoint(self, project_id: str, endpoint_id: str) -> None:
        with self.db.session() as s:
            _project(s, project_id)
            _endpoint(s, endpoint_id)
            if s.get(m.ProjectEndpoint, (project_id, endpoint_id)) is None:
                raise e.not_found("endpoint project association",
                                  f"{endpoint_id} in {project_id}")

    def dissociate_endpoint(self, project_id: str, endpoint_id: str) -> None:
        with self.db.transaction() as s:
            row = s.get(m.ProjectEndpoint, (project_id, endpoint_id))
            if row is None:
                raise e.not_found("endpoint project association",
                                  f"{endpoint_id} in {project_id}")
            s.delete(row)
            auth.bump_generation(s)

    def project_endpoints(self, project_id: str) -> list[m.Endpoint]:
        """The endpoints the project's catalog is limited to (direct and through
        its groups); none when it has no association."""
        with self.db.session() as s:
            _project(s, project_id)
            ids = effective.filtered_endpoint_ids(s, project_id) or set()
            return list(s.scalars(select(m.Endpoint).where(m.Endpoint.id.in_(ids))
                                  .order_by(m.Endpoint.id)))

    def endpoint_projects(self, endpoint_id: str) -> list[m.Project]:
        with self.db.session() as s:
            _endpoint(s, endpoint_id)
            pids = select(m.ProjectEndpoint.project_id).where(
                m.ProjectEndpoint.endpoint_id == endpoint_id)
            return list(s.scalars(select(m.Project).where(m.Project.id.in_(pids))
                                  .order_by(m.Project.name)))

    # ---- endpoint group <-> project
    def associate_group(self, group_id: str, project_id: str) -> None:
        with self.db.transaction() as s:
            EndpointGroups._get(s, group_id)
            _project(s, project_id)
            if s.get(m.ProjectEndpointGroup, (group_id, project_id)) is None:
                s.add(m.ProjectEndpointGroup(endpoint_group_id=group_id,
                                             project_id=project_id))
            auth.bump_generation(s)

    def check_group(self, group_id: str, project_id: str) -> None:
        with self.db.session() as s:
            EndpointGroups._get(s, group_id)
            _project(s, project_id)
            if s.get(m.ProjectEndpointGroup, (group_id, project_id)) is None:
                raise e.not_found("endpoint group project association",
                                  f"{group_id} in {project_id}")

    def dissociate_group(self, group_id: str, project_id: str) -> None:
        with self.db.transaction() as s:
            row = s.get(m.ProjectEndpointGroup, (group_id, project_id))
            if row is None:
                raise e.not_found("endpoint group project association",
                                  f"{group_id} in {project_id}")
            s.delete(row)
            auth.bump_generation(s)

    def group_projects(self, group_id: str) -> list[m.Project]:
        with self.db.session() as s:
            EndpointGroups._get(s, group_id)
            pids = select(m.ProjectEndpointGroup.project_id).where(
                m.ProjectEndpointGroup.endpoint_group_id == group_id)
            return list(s.scalars(select(m.Project).where(m.Project.id.in_(pids))
                                  .order_by(m.Project.name)))

    def group_endpoints(self, group_id: str) -> list[m.Endpoint]:
        with self.db.session() as s:
            ids = effective.group_endpoint_ids(s, EndpointGroups._get(s, group_id))
            return list(s.scalars(select(m.Endpoint).where(m.Endpoint.id.in_(ids))
                                  .order_by(m.Endpoint.id)))

    def project_groups(self, project_id: str) -> list[m.EndpointGroup]:
        with self.db.session() as s:
            _project(s, project_id)
            gids = select(m.ProjectEndpointGroup.endpoint_group_id).where(
                m.ProjectEndpointGroup.project_id == project_id)
            return list(s.scalars(select(m.EndpointGroup).where(
                m.EndpointGroup.id.in_(gids)).order_by(m.EndpointGroup.name)))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Consumers:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> tuple[m.OAuthConsumer, str]:
        """A new consumer and its secret, which is not kept in clear."""
        secret = secrets.token_hex(16)
        with self.db.transaction() as s:
            c = m.OAuthConsumer(id=new_id(), description=data.get("description"),
                                secret_hash=_digest(secret), extra=data.get("extra", {}))
            s.add(c)
            return c, secret

    def find(self) -> list[m.OAuthConsumer]:
        with self.db.session() as s:
            return list(s.scalars(select(m.OAuthConsumer).order_by(m.OAuthConsumer.id)))

    def show(self, consumer_id: str) -> m.OAuthConsumer:
        with self.db.session() as s:
            return self._get(s, consumer_id)

    @staticmethod
    def _get(s: Any, consumer_id: str) -> m.OAuthConsumer:
        c = s.get(m.OAuthConsumer, consumer_id)
        if c is None:
            raise e.not_found("consumer", consumer_id)
        return c  # type: ignore[no-any-return]

    def update(self, consumer_id: str, data: dict[str, Any]) -> m.OAuthConsumer:
        with self.db.transaction() as s:
            c = self._get(s, consumer_id)
            if "description" in data:
                c.description = data["description"]
            if "extra" in data:
                c.extra = {**(c.extra or {}), **data["extra"]}
            return c

    def delete(self, consumer_id: str) -> None:
        with self.db.transaction() as s:
            s.delete(self._get(s, consumer_id))
