"""Person pictures (upload v1, read v2) and product images (v2): multipart uploads kept in the store.

Each handler takes ``(ctx, res, **path)`` like the generic ones in :mod:`..records`;
``res`` is the persons or products resource.
"""

from __future__ import annotations

import base64

from ..records import bad_request, check_value, find, not_found

IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


def _upload(ctx, part: str):
    upload = ctx.request.files.get(part)
    if upload is None:
        raise bad_request(f"The multipart part '{part}' is required")
    content = upload.read()
    if not content:
        raise bad_request("The image is empty")
    return upload, content


def add_person_picture(ctx, res, id: str):
    person = find(ctx, res, id)
    upload, content = _upload(ctx, "file")
    crop = {k: check_value(k, v, "int", strict=False) for k, v in ctx.request.form.items() if k.startswith("crop_")}
    base = f"{ctx.request.host_url}pictures/{person['id']}"
    with ctx.store.lock:
        stamp = res.stamp()
        picture = ctx.store.insert(
            "pictures",
            {
                "item_type": "person",
                "item_id": person["id"],
                "active_flag": True,
                "add_time": stamp.replace("T", " ").rstrip("Z"),
                "update_time": stamp.replace("T", " ").rstrip("Z"),
                "added_by_user_id": ctx.user_id,
                "file_size": len(content),
                "crop": crop,
                "pictures": {"128": f"{base}-128.jpg", "512": f"{base}-512.jpg"},
            },
        )
        ctx.store.update("persons", person["id"], {"picture_id": picture["id"]})
    return {k: v for k, v in picture.items() if k != "crop"}


def get_person_picture(ctx, res, id: str):
    person = find(ctx, res, id)
    picture = ctx.store.get("pictures", person.get("picture_id"))
    if picture is None:
        raise not_found("Picture")
    keys = ("id", "item_type", "item_id", "added_by_user_id", "active_flag", "file_size", "pictures")
    return {k: picture[k] for k in keys}


def _image(ctx, product: dict) -> dict | None:
    return next((i for i in ctx.store.rows("productImages") if i["product_id"] == product["id"]), None)


def _store_image(ctx, res, product: dict) -> dict:
    upload, content = _upload(ctx, "data")
    mime = (upload.mimetype or "").lower()
    if mime not in IMAGE_TYPES:
        raise bad_request(f"The image must be one of: {', '.join(sorted(IMAGE_TYPES))}")
    return {
        "product_id": product["id"],
        "company_id": "1",
        "add_time": res.stamp(),
        "mime_type": mime,
        "name": upload.filename or "image",
        "content": base64.b64encode(content).decode(),
    }


def _brief(image: dict) -> dict:
    return {k: image[k] for k in ("id", "product_id", "company_id", "add_time")}


def upload_product_image(ctx, res, id: str):
    product = find(ctx, res, id)
    with ctx.store.lock:
        if _image(ctx, product) is not None:
            raise bad_request("The product has an image already; replace it with PUT")
        image = ctx.store.insert("productImages", _store_image(ctx, res, product))
    return ctx.respond(201, _brief(image))


def update_product_image(ctx, res, id: str):
    product = find(ctx, res, id)
    with ctx.store.lock:
        current = _image(ctx, product)
        if current is None:
            raise not_found("Product image")
        ctx.store.delete("productImages", current["id"])
        image = ctx.store.insert("productImages", _store_image(ctx, res, product))
    return _brief(image)


def get_product_image(ctx, res, id: str):
    image = _image(ctx, find(ctx, res, id))
    if image is None:
        raise not_found("Product image")
    return {
        **_brief(image),
        "public_url": f"{ctx.request.host_url}images/{image['id']}/{image['name']}",
        "mime_type": image["mime_type"],
        "name": image["name"],
    }


def delete_product_image(ctx, res, id: str):
    image = _image(ctx, find(ctx, res, id))
    if image is None:
        raise not_found("Product image")
    ctx.store.delete("productImages", image["id"])
    return {"id": image["id"]}
