import crawler


def test_the_public_api_is_sorted_and_importable():
    assert crawler.__all__ == sorted(crawler.__all__)
    for name in crawler.__all__:
        assert getattr(crawler, name) is not None


def test_every_stage_type_is_exported():
    # The dataclasses passed between stages and the errors callers catch are public.
    for name in ("Source", "Settings", "FetchResult", "FetchError", "Listing", "Document", "Attachment",
                 "Archive", "RunReport", "crawl", "discover", "extract", "load_config"):
        assert name in crawler.__all__
