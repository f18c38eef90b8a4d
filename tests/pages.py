"""Reading every page of a Pinpoint list operation, as clients must (botocore has no paginators)."""

from __future__ import annotations


def all_pages(operation, result_key: str, page_size: int, **params) -> tuple[list, int]:
    """Every item of a list operation, and how many pages it took."""
    items, token, pages = [], None, 0
    while True:
        extra = {"Token": token} if token else {}
        page = operation(PageSize=str(page_size), **params, **extra)[result_key]
        assert len(page["Item"]) <= page_size
        items.extend(page["Item"])
        pages += 1
        token = page.get("NextToken")
        if not token:
            return items, pages
