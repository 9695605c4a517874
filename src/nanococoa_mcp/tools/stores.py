"""Store tools: a shop's record (the seed's CustomerData) and its product photos, which generate_homepage
builds the shop's site from."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field

from nanococoa_mcp.ad.images import DecodedImage
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.service import get_service
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.stores import MAX_PHOTOS, StoredStore, StoreList, check_photo_count
from nanococoa_mcp.tenancy import current_caller
from nanococoa_mcp.tools.common import read_image_input

StoreId = Annotated[str, Field(description="A store id from create_store or list_stores.", min_length=1, max_length=64)]
PhotoPaths = Annotated[
    list[str] | None,
    Field(description=f"Paths of the shop's product photos on this machine (up to {MAX_PHOTOS} in all)."),
]
PhotosB64 = Annotated[
    list[str] | None, Field(description="The shop's product photos as base64 (data: URLs ok), after photo_paths.")
]


def read_photos(paths: list[str] | None, photos: list[str] | None, settings: Settings) -> list[DecodedImage]:
    """Decode every photo (paths first, then base64). Raises InvalidInput naming the photo, e.g. photos[1];
    a remote caller's paths are refused (they would be files on the server's disk)."""
    paths, photos = paths or [], photos or []
    if paths and current_caller().remote:
        raise InvalidInput(
            "a remote caller cannot name files on the server's disk; send the photos' content instead",
            field="photo_paths",
            accepted="the photos themselves in `photos` (base64, data: URLs ok), or a multipart upload over REST",
        )
    check_photo_count(len(paths) + len(photos), "photos" if photos else "photo_paths")
    out = []
    for name, items, as_path in (("photo_paths", paths, True), ("photos", photos, False)):
        for i, item in enumerate(items):
            try:
                out.append(read_image_input(item if as_path else None, None if as_path else item, settings, field=name))
            except InvalidInput as exc:
                exc.field = f"{name}[{i}]"
                raise
    return out


def _fields(**given: Any) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


async def create_store(
    store_name: Annotated[str, Field(description="The shop's name, e.g. '김밥천국 강남점'.")],
    store_type: Annotated[str, Field(description="Kind of business, e.g. '음식점 (분식)', '카페', '꽃집'.")],
    budget: Annotated[int, Field(description="Advertising budget in 만원 (10,000 KRW), e.g. 500.")],
    period: Annotated[int, Field(description="Advertising period in days, e.g. 30.")],
    advertising_goal: Annotated[str, Field(description="What the ads should achieve, e.g. '신규 고객 유치'.")],
    target_customer: Annotated[str, Field(description="Who the shop wants to reach, e.g. '20-30대 직장인'.")],
    advertising_media: Annotated[str, Field(description="Where it advertises, e.g. '네이버 블로그, 인스타그램'.")],
    store_strength: Annotated[str, Field(description="What the shop is good at, e.g. '24시간 영업, 빠른 조리'.")],
    location: Annotated[str, Field(description="Address, e.g. '서울 강남구 테헤란로 123'.")],
    phone_number: Annotated[str, Field(description="Korean phone number, e.g. '02-1234-5678'.")],
    opening_hours: Annotated[str | None, Field(description="Opening hours, e.g. '매일 09:00-22:00'.")] = None,
    description: Annotated[str | None, Field(description="A few sentences about the shop.")] = None,
    photo_paths: PhotoPaths = None,
    photos: PhotosB64 = None,
) -> StoredStore:
    """Save a shop's record and its product photos (paths or base64), checked field by field; returns
    the store with its id for generate_homepage. A refused record saves nothing."""
    service = get_service()
    record = _fields(
        store_name=store_name,
        store_type=store_type,
        budget=budget,
        period=period,
        advertising_goal=advertising_goal,
        target_customer=target_customer,
        advertising_media=advertising_media,
        store_strength=store_strength,
        location=location,
        phone_number=phone_number,
        opening_hours=opening_hours,
        description=description,
    )
    images = await asyncio.to_thread(read_photos, photo_paths, photos, service.settings)
    return await service.stores.create(record, images)


async def get_store(store_id: StoreId) -> StoredStore:
    """A saved shop: its record, photo paths and timestamps."""
    return await get_service().stores.get(store_id)


async def list_stores(
    limit: Annotated[int, Field(ge=1, le=200, description="At most this many, newest first.")] = 20,
    offset: Annotated[int, Field(ge=0, description="Skip this many (for paging).")] = 0,
) -> StoreList:
    """List saved shops, newest first."""
    return StoreList(stores=await get_service().stores.recent(limit, offset))


async def update_store(
    store_id: StoreId,
    store_name: Annotated[str | None, Field(description="New shop name.")] = None,
    store_type: Annotated[str | None, Field(description="New kind of business.")] = None,
    budget: Annotated[int | None, Field(description="New advertising budget in 만원.")] = None,
    period: Annotated[int | None, Field(description="New advertising period in days.")] = None,
    advertising_goal: Annotated[str | None, Field(description="New advertising goal.")] = None,
    target_customer: Annotated[str | None, Field(description="New target customers.")] = None,
    advertising_media: Annotated[str | None, Field(description="New advertising media.")] = None,
    store_strength: Annotated[str | None, Field(description="New strengths.")] = None,
    location: Annotated[str | None, Field(description="New address.")] = None,
    phone_number: Annotated[str | None, Field(description="New phone number.")] = None,
    opening_hours: Annotated[str | None, Field(description="New opening hours.")] = None,
    description: Annotated[str | None, Field(description="New description.")] = None,
    photo_paths: PhotoPaths = None,
    photos: PhotosB64 = None,
) -> StoredStore:
    """Change a shop's record: only the fields given change. Photos given (paths and/or base64) replace
    all of the shop's photos. A refused update changes nothing."""
    service = get_service()
    changes = _fields(
        store_name=store_name,
        store_type=store_type,
        budget=budget,
        period=period,
        advertising_goal=advertising_goal,
        target_customer=target_customer,
        advertising_media=advertising_media,
        store_strength=store_strength,
        location=location,
        phone_number=phone_number,
        opening_hours=opening_hours,
        description=description,
    )
    await service.stores.get(store_id)  # an unknown id is the error to report, before decoding photos
    images = None
    if photo_paths or photos:
        images = await asyncio.to_thread(read_photos, photo_paths, photos, service.settings)
    return await service.stores.update(store_id, changes, images)
