"""Credentials (`/v3/credentials`) and their EC2 face (`/v3/users/{id}/credentials/
OS-EC2`): secrets a user keeps in Keystone, such as an EC2/S3 access key pair, a
TOTP seed or a certificate. The blob is a JSON string the caller owns; for `ec2`
it holds `access` and `secret`, and the credential's id is the SHA-256 of the
access key, so a signed request finds its secret by primary key.

The blob is encrypted at rest as Keystone does it: Fernet with the credential key
repository (`DATA_DIR/credential-keys`, laid out and rotated like the token keys
but separate from them), the SHA-1 of the primary key stored beside each row.
Neither blob nor secret is ever logged; the records this module returns carry
the clear blob only for the views to show to the owner.

Also the public entry points the S3 API uses (`ec2_secret`): a credential's
secret and owner by access key, nothing else. Issuing the token for it is
auth.py's (`TokenAuthority.issue_ec2`). No HTTP here.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.identity import auth, effective
from overcast.identity import errors as e
from overcast.identity import models as m
from overcast.identity.projects import get_project
from overcast.identity.tokens import KeyRepository
from overcast.identity.users import get_user
from overcast.kit.errors import BadRequest, Forbidden, OvercastError

EC2 = "ec2"
#: Blob keys that bind an EC2 credential to how it was created; never changed after
#: (Keystone's list: the access key itself may change, the id staying the old key's
#: hash, as Tempest's credential test does).
BOUND_KEYS = ("trust_id", "app_cred_id", "access_token_id", "access_id")


def _storable(ident: str) -> bool:
    """Whether an id from a URL can be looked up at all: PostgreSQL refuses NUL in a
    query, and no id is longer than the column."""
    return "\x00" not in ident and len(ident) <= 64


def hash_access_key(access: str) -> str:
    """An EC2 credential's id: the SHA-256 of its access key (Keystone's)."""
    return hashlib.sha256(access.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CredentialRecord:
    """One credential, its blob decrypted (a JSON string for every type)."""

    id: str
    user_id: str
    project_id: str | None
    type: str
    blob: str
    extra: dict[str, Any] = field(default_factory=dict)

    def blob_dict(self) -> dict[str, Any]:
        """The blob as an object (EC2 blobs always are; {} for any other)."""
        try:
            loaded = json.loads(self.blob)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}


@dataclass(frozen=True)
class Ec2Secret:
    """What a signature check needs from an EC2 credential, and whom it makes."""

    access: str
    secret: str = field(repr=False)
    user_id: str
    project_id: str | None
    trust_id: str | None = None
    app_cred_id: str | None = None


class CredentialCrypto:
    """Fernet encryption of blobs with the credential key repository."""

    def __init__(self, keys: KeyRepository) -> None:
        self.keys = keys

    def encrypt(self, blob: str) -> tuple[str, str]:
        """(ciphertext, SHA-1 of the primary key it was made with)."""
        token = self.keys.fernet().encrypt(blob.encode("utf-8")).decode("ascii")
        return token, self.primary_hash()

    def primary_hash(self) -> str:
        return hashlib.sha1(self.keys.primary_key()).hexdigest()  # noqa: S324

    def decrypt(self, token: str) -> str:
        try:
            return self.keys.fernet().decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError, TypeError):
            # Keystone's words; which key or row failed is for the operator's log.
            raise OvercastError("Credential could not be decrypted. Please contact the "
                                "administrator") from None


def ec2_blob(raw: str) -> dict[str, Any]:
    """An EC2 blob checked as Keystone checks it: a JSON object with `access`."""
    try:
        blob = json.loads(raw)
    except ValueError:
        raise BadRequest("Invalid blob in credential") from None
    if not blob or not isinstance(blob, dict):
        raise BadRequest("Invalid input for field 'blob': it must be a JSON object "
                         "(credential).")
    if not isinstance(blob.get("access"), str) or not blob["access"]:
        raise BadRequest("Invalid input for field 'access' (credential).")
    return blob


class Credentials:
    def __init__(self, db: Database, crypto: CredentialCrypto) -> None:
        self.db = db
        self.crypto = crypto

    # -------------------------------------------------------------- helpers
    def _record(self, row: m.Credential) -> CredentialRecord:
        return CredentialRecord(id=row.id, user_id=row.user_id, project_id=row.project_id,
                                type=row.type, blob=self.crypto.decrypt(row.encrypted_blob),
                                extra=dict(row.extra or {}))

    def _get(self, s: Session, cred_id: str) -> m.Credential:
        row = s.get(m.Credential, cred_id) if _storable(cred_id) else None
        if row is None:
            raise e.not_found("credential", cred_id)
        return row

    @staticmethod
    def _check_project(s: Session, user_id: str, project_id: str | None,
                       need_role: bool) -> None:
        """An EC2 credential's project must exist; unless an admin makes it, its user
        must hold a role there (a key pair for a project it cannot use is one it
        could hand to nobody but an attacker)."""
        if project_id is None:
            return
        project = get_project(s, project_id)
        if need_role and not effective.project_roles(s, user_id, project):
            raise Forbidden(f"User {user_id} has no role on project {project_id}.")

    # ----------------------------------------------------------------- CRUD
    def create(self, data: dict[str, Any], *, need_role: bool,
               app_cred_id: str | None = None) -> CredentialRecord:
        """Store a credential (`data`: type, blob, user_id, project_id, extra)."""
        blob = data["blob"]
        if data["type"] == EC2:
            parsed = ec2_blob(blob)
            cred_id = hash_access_key(parsed["access"])
            if app_cred_id is not None:
                # Tokens from this key pair then carry the app credential's limits.
                parsed["app_cred_id"] = app_cred_id
                blob = json.dumps(parsed)
        else:
            cred_id = data.get("id") or uuid.uuid4().hex
        encrypted, key_hash = self.crypto.encrypt(blob)
        try:
            with self.db.transaction() as s:
                get_user(s, data["user_id"])
                if data["type"] == EC2:
                    self._check_project(s, data["user_id"], data.get("project_id"),
                                        need_role)
                if s.get(m.Credential, cred_id) is not None:
                    raise e.conflict("credential", f"Duplicate ID, {cred_id}")
                s.add(m.Credential(id=cred_id, user_id=data["user_id"],
                                   project_id=data.get("project_id"), type=data["type"],
                                   encrypted_blob=encrypted, key_hash=key_hash,
                                   extra=data.get("extra") or {}))
        except IntegrityError:
            raise e.conflict("credential", f"Duplicate ID, {cred_id}") from None
        return self.show(cred_id)

    def find(self, filters: dict[str, Any]) -> list[CredentialRecord]:
        q = select(m.Credential).order_by(m.Credential.created_at, m.Credential.id)
        if filters.get("user_id"):
            q = q.where(m.Credential.user_id == filters["user_id"])
        if filters.get("type"):
            q = q.where(m.Credential.type == filters["type"])
        with self.db.session() as s:
            rows = list(s.scalars(q))
        return [self._record(r) for r in rows]

    def show(self, cred_id: str) -> CredentialRecord:
        with self.db.session() as s:
            return self._record(self._get(s, cred_id))

    def lookup(self, cred_id: str) -> CredentialRecord | None:
        """The credential, or None (for the routes' ownership check before a 404)."""
        if not _storable(cred_id):
            return None
        with self.db.session() as s:
            row = s.get(m.Credential, cred_id)
            return self._record(row) if row is not None else None

    def update(self, cred_id: str, data: dict[str, Any], *, need_role: bool
               ) -> CredentialRecord:
        """Change type, blob, project, user or extra attributes. An EC2 credential
        keeps the trust or application credential it was made under and always
        has a project. Its id stays the hash of the access key it was created
        with, so a changed access key no longer signs anything (`ec2_secret`
        wants the key the id was made from; Keystone would instead accept the
        old key with the new secret)."""
        current = self.show(cred_id)
        new_type = data.get("type", current.type)
        blob = data.get("blob", current.blob)
        if new_type == EC2:
            new_blob = ec2_blob(blob)
            old_blob = current.blob_dict() if current.type == EC2 else new_blob
            for key in BOUND_KEYS:
                if old_blob.get(key) != new_blob.get(key):
                    raise BadRequest(f"{key} can not be updated for credential")
            if not data.get("project_id", current.project_id):
                raise BadRequest("Invalid input for field 'project_id' (credential).")
        with self.db.transaction() as s:
            row = self._get(s, cred_id)
            if "user_id" in data:
                get_user(s, data["user_id"])
                row.user_id = data["user_id"]
            if "project_id" in data:
                row.project_id = data["project_id"]
            if new_type == EC2:
                self._check_project(s, row.user_id, row.project_id, need_role)
            row.type = new_type
            if "blob" in data:
                row.encrypted_blob, row.key_hash = self.crypto.encrypt(blob)
            if "extra" in data:
                row.extra = {**(row.extra or {}), **data["extra"]}
            auth.bump_generation(s)
        return self.show(cred_id)

    def delete(self, cred_id: str) -> None:
        with self.db.transaction() as s:
            s.delete(self._get(s, cred_id))
            # Services cache what a key pair resolved to per identity generation
            # (the S3 API does): a deleted one must stop working everywhere at once.
            auth.bump_generation(s)

    # ------------------------------------------------------------- key rotation
    def stale(self) -> int:
        """How many blobs are not encrypted with the primary key."""
        primary = self.crypto.primary_hash()
        with self.db.session() as s:
            return sum(1 for h in s.scalars(select(m.Credential.key_hash)) if h != primary)

    def reencrypt(self) -> int:
        """Encrypt again with the primary key every blob made with an older one
        (Keystone's `credential_migrate`); return how many were."""
        primary = self.crypto.primary_hash()
        done = 0
        with self.db.transaction() as s:
            for row in s.scalars(select(m.Credential).where(m.Credential.key_hash != primary)):
                blob = self.crypto.decrypt(row.encrypted_blob)
                row.encrypted_blob, row.key_hash = self.crypto.encrypt(blob)
                done += 1
        return done

    def rotate_keys(self) -> int:
        """Keystone's `credential_rotate` then `credential_migrate`: a rotation that
        would drop the key some blob still needs is refused, so first every blob
        is moved to the primary key; then a new primary is promoted and every blob
        moved to it. Returns the new primary key's number."""
        self.reencrypt()
        primary = self.crypto.keys.rotate()
        self.reencrypt()
        return primary

    # ------------------------------------------------------------------ EC2
    def ec2_create(self, user_id: str, project_id: str, *, need_role: bool,
                   trust_id: str | None = None, app_cred_id: str | None = None
                   ) -> CredentialRecord:
        """A new key pair for the user on the project (both random, 32 hex digits)."""
        blob: dict[str, Any] = {"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex,
                                "trust_id": trust_id}
        record = self.create({"type": EC2, "user_id": user_id, "project_id": project_id,
                              "blob": json.dumps(blob)},
                             need_role=need_role, app_cred_id=app_cred_id)
        return record

    def ec2_list(self, user_id: str) -> list[CredentialRecord]:
        with self.db.session() as s:
            get_user(s, user_id)
        return self.find({"user_id": user_id, "type": EC2})

    def ec2_secret(self, access: str) -> Ec2Secret | None:
        """The EC2 credential with this access key, or None: not one, not EC2, or
        one whose blob now names another access key than its id was made from."""
        record = self.lookup(hash_access_key(access))
        if record is None or record.type != EC2:
            return None
        blob = record.blob_dict()
        secret = blob.get("secret")
        if blob.get("access") != access or not isinstance(secret, str):
            return None
        return Ec2Secret(access=access, secret=secret, user_id=record.user_id,
                         project_id=record.project_id, trust_id=blob.get("trust_id"),
                         app_cred_id=blob.get("app_cred_id"))
