"""Who may do what to an image, in Glance's words.

Reading is decided by visibility (see `ImageBase._visible`); writing by
ownership: the owner's project or an admin may change an image, its data and
its members; only an admin may make an image public or give it to another owner.
"""

from __future__ import annotations

from overcast.image import models as m
from overcast.kit.context import RequestContext
from overcast.kit.errors import Forbidden


def owns(ctx: RequestContext, img: m.Image) -> bool:
    return ctx.is_admin or (img.owner is not None and img.owner == ctx.project_id)


def must_own(ctx: RequestContext, img: m.Image, what: str) -> None:
    if not owns(ctx, img):
        raise Forbidden(f"You are not permitted to {what} this image.")


def check_publicize(ctx: RequestContext, visibility: str | None) -> None:
    if visibility == "public" and not ctx.is_admin:
        raise Forbidden("You are not authorized to complete publicize_image action.")


def check_owner(ctx: RequestContext, owner: str | None) -> None:
    """Only an admin creates an image owned by another project."""
    if owner is not None and not ctx.is_admin and owner != ctx.project_id:
        raise Forbidden("You are not permitted to create images owned by "
                        f"'{owner}'.")


def check_set_active(ctx: RequestContext, img: m.Image, active: bool) -> None:
    if not ctx.is_admin and img.owner != ctx.project_id:
        raise Forbidden("You are not authorized to complete "
                        f"{'reactivate' if active else 'deactivate'} action.")


def check_download(ctx: RequestContext, img: m.Image) -> None:
    if img.status == "deactivated" and not ctx.is_admin:
        raise Forbidden("The requested image has been deactivated. Image data "
                        "download is forbidden.")
