"""Items pages past the first (ids chosen first, GeoJSON built for the page's rows only) are
exactly the slice of the whole ordered result."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from geo_service.access import ANONYMOUS, Principal, Role
from geo_service.ogc import features
from geo_service.ogc.collections import get_collection

CASES = [
    ("eldercare_sites", {"limit": "100"}),
    ("eldercare_sites", {"limit": "100", "offset": "100"}),
    ("eldercare_sites", {"limit": "7", "offset": "3", "sortby": "-beds,name"}),
    ("eldercare_sites", {"limit": "20", "offset": "5", "bbox": "105.65,29.62,105.80,29.76"}),
    ("eldercare_sites", {"offset": "2", "filter": "beds > 20", "sortby": "-star_rating"}),
    ("eldercare_sites", {"offset": "11", "properties": "name,beds", "skipGeometry": "true"}),
    ("eldercare_sites", {"offset": "40", "sortby": "source",
                         "crs": "http://www.opengis.net/def/crs/EPSG/0/4544"}),
    ("eldercare_sites", {"offset": "100000"}),  # past the end: an empty page
    ("villages", {"limit": "30", "offset": "60"}),
    ("place_names", {"limit": "100", "offset": "50", "sortby": "name"}),
]


@pytest.mark.parametrize("principal", [ANONYMOUS, Principal("p", Role.planner)])
@pytest.mark.parametrize(("collection_id", "params"), CASES)
def test_a_page_is_the_slice_of_the_ordered_rows(sample_engine, collection_id, params,
                                                 principal):
    query = features.parse_items(get_collection(collection_id, principal), principal, params)
    every = (select(features.feature_json(query)).select_from(query.collection.table)
             .where(query.where()).order_by(*query.order))
    with sample_engine.connect() as conn:
        whole = list(conn.execute(every).scalars())
        page = features.page_features(conn, query)
    assert page == whole[query.offset:query.offset + query.limit]
    assert len(whole) > query.offset or page == []
