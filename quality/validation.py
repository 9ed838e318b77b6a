"""Limits on what a caller may send, checked before any model runs (413 over a limit, 422 otherwise)."""

from __future__ import annotations

from quality.errors import InvalidInput, TooLarge
from quality.schemas import Post
from quality.settings import Limits
from quality.normalize import clean_text


def check_batch_size(n_items: int, limits: Limits) -> None:
    if n_items == 0:
        raise InvalidInput("a batch needs at least one item", field="items", code="empty_batch")
    if n_items > limits.max_batch_items:
        raise TooLarge(
            f"a batch holds at most {limits.max_batch_items} items, got {n_items}",
            field="items",
            code="batch_too_large",
        )


def check_batch_text(posts: list[Post], limits: Limits) -> None:
    """A batch's work budget: its characters of text, summed over the items (413 past it)."""
    total = sum(_text_chars(post) for post in posts)
    if total > limits.max_batch_text_chars:
        raise TooLarge(
            f"the batch carries {total} characters of text; one request takes at most "
            f"{limits.max_batch_text_chars}: send it as smaller batches",
            field="items",
            code="batch_text_too_long",
        )


def _text_fields(post: Post) -> list[tuple[str, str]]:
    """(field name, value) of every text a post carries, "" when absent."""
    return [("text", post.text or ""), ("title", post.title or ""),
            ("parent.text", post.parent.text if post.parent else ""), ("theme", post.theme or "")]


def _text_chars(post: Post) -> int:
    return sum(len(value) for _, value in _text_fields(post))


def check_post(post: Post, limits: Limits, field_prefix: str = "") -> None:
    text = post.text or ""
    # Checked after the models' own clean-up, so a text of zero-width or control characters
    # only is as empty as whitespace (it would give null text dimensions).
    if not post.images and not clean_text(text) and not clean_text(post.title):
        raise InvalidInput("a post needs text, a title or at least one image "
                           "(whitespace, invisible and control characters do not count)",
                           field=f"{field_prefix}text", code="empty_post")
    for name, value in _text_fields(post):
        if len(value) > limits.max_text_chars:
            raise TooLarge(
                f"{name} has {len(value)} characters; the limit is {limits.max_text_chars}",
                field=f"{field_prefix}{name}",
                code="text_too_long",
            )
    if len(post.images) > limits.max_images_per_post:
        raise TooLarge(
            f"a post holds at most {limits.max_images_per_post} images, got {len(post.images)}",
            field=f"{field_prefix}images",
            code="too_many_images",
        )
    if post.parent is not None and post.kind != "reply":
        raise InvalidInput("`parent` is only for replies; set kind to \"reply\"", field=f"{field_prefix}parent",
                           code="parent_on_post")
