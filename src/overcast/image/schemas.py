"""Glance's JSON-schema documents (/v2/schemas/image, images, member, members):
what clients such as python-glanceclient read to know an image's attributes."""

from __future__ import annotations

from typing import Any

from overcast.image.inspect import CONTAINER_FORMATS, DISK_FORMATS


def image_schema() -> dict[str, Any]:
    def s(t: Any, desc: str, **kw: Any) -> dict[str, Any]:
        return {"type": t, "description": desc, **kw}

    ro = {"readOnly": True}
    return {
        "name": "image", "additionalProperties": {"type": "string"},
        "properties": {
            "id": s("string", "An identifier for the image",
                    pattern="^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                            "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"),
            "name": s(["null", "string"], "Descriptive name for the image", maxLength=255),
            "status": s("string", "Status of the image", **ro,
                        enum=["queued", "saving", "active", "killed", "deleted", "uploading",
                              "importing", "pending_delete", "deactivated"]),
            "visibility": s("string", "Scope of image accessibility",
                            enum=["community", "public", "private", "shared"]),
            "protected": s("boolean", "If true, image will not be deletable."),
            "os_hidden": s("boolean", "If true, image will not appear in default image list "
                                      "response."),
            "checksum": s(["null", "string"], "md5 hash of image contents.", **ro,
                          maxLength=32),
            "os_hash_algo": s(["null", "string"], "Algorithm to calculate the os_hash_value",
                              **ro, maxLength=64),
            "os_hash_value": s(["null", "string"], "Hexdigest of the image contents using "
                               "the algorithm specified by the os_hash_algo", **ro,
                               maxLength=128),
            "owner": s(["null", "string"], "Owner of the image", maxLength=255),
            "size": s(["null", "integer"], "Size of image file in bytes", **ro),
            "virtual_size": s(["null", "integer"], "Virtual size of image in bytes", **ro),
            "container_format": s(["null", "string"], "Format of the container",
                                  enum=[None, *CONTAINER_FORMATS]),
            "disk_format": s(["null", "string"], "Format of the disk",
                             enum=[None, *DISK_FORMATS]),
            "created_at": s("string", "Date and time of image registration", **ro),
            "updated_at": s("string", "Date and time of the last image modification", **ro),
            "tags": s("array", "List of strings related to the image",
                      items={"type": "string", "maxLength": 255}),
            "direct_url": s("string", "URL to access the image file kept in external store",
                            **ro),
            "min_ram": s("integer", "Amount of ram (in MB) required to boot image."),
            "min_disk": s("integer", "Amount of disk space (in GB) required to boot image."),
            "self": s("string", "An image self url", **ro),
            "file": s("string", "An image file url", **ro),
            "stores": s("string", "Store in which image data resides.", **ro),
            "schema": s("string", "An image schema url", **ro),
            "locations": s("array", "A set of URLs to access the image file kept in "
                                    "external store", items={"type": "object"}),
            "kernel_id": s(["null", "string"], "ID of image stored in Glance that should be "
                           "used as the kernel when booting an AMI-style image.",
                           is_base=False),
            "ramdisk_id": s(["null", "string"], "ID of image stored in Glance that should "
                            "be used as the ramdisk when booting an AMI-style image.",
                            is_base=False),
            "os_distro": s("string", "Common name of operating system distribution",
                           is_base=False),
            "os_version": s("string", "Operating system version as specified by the "
                                      "distributor", is_base=False),
            "architecture": s("string", "Operating system architecture", is_base=False),
            "hypervisor_type": s("string", "Hypervisor type required by the image",
                                 is_base=False),
        },
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def member_schema() -> dict[str, Any]:
    return {"name": "member", "properties": {
        "created_at": {"type": "string", "description": "Date and time of image member "
                                                         "creation"},
        "image_id": {"type": "string", "description": "An identifier for the image"},
        "member_id": {"type": "string", "description": "An identifier for the image member "
                                                       "(tenantId)"},
        "schema": {"type": "string", "readOnly": True},
        "status": {"type": "string", "description": "The status of this image member",
                   "enum": ["pending", "accepted", "rejected"]},
        "updated_at": {"type": "string", "description": "Date and time of last modification "
                                                         "of image member"}}}



def images_schema() -> dict[str, Any]:
    return {
        "name": "images", "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"}, "first": {"type": "string"},
            "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}]}


def members_schema() -> dict[str, Any]:
    return {"name": "members", "properties": {
        "members": {"type": "array", "items": member_schema()},
        "schema": {"type": "string"}},
        "links": [{"rel": "schema", "href": "{schema}"}]}
