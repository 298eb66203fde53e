"""Items and single features: parameters → one SQL query whose rows are GeoJSON text.

GeoJSON is built by PostGIS (json_build_object + ST_AsGeoJSON) and joined there, so a
JSON page is one round trip (the layer's version, the matched count and the features'
text) with no per-row Python work; the visible rows' count and newest change are kept per
layer version and read again only after a row change.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Integer,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    column,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    table,
    text,
    true,
)
from sqlalchemy.sql.elements import ColumnElement

from geo_service.access import Principal
from geo_service.crs import STORAGE_SRID
from geo_service.errors import GeoServiceError, NotFoundError
from geo_service.ingest.rows import parse_yes_no
from geo_service.ogc import cql2
from geo_service.ogc.collections import Collection, Property
from geo_service.ogc.crs_negotiation import (
    CRS84,
    OgcCRS,
    antimeridian_parts,
    output_geometry,
    parse_bbox,
    parse_ogc_crs,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
# numberMatched is an exact count unless the table holds more rows than this (by the
# planner's estimate, pg_class.reltuples); then it is omitted, as Part 1 allows.
EXACT_COUNT_MAX_ROWS = 1_000_000
ITEM_PARAMETERS = frozenset({
    "f", "limit", "offset", "bbox", "bbox-crs", "datetime", "properties", "sortby",
    "skipGeometry", "filter", "filter-lang", "filter-crs", "crs",
})


class ParameterError(GeoServiceError):
    """A query parameter with a bad value; the message names it."""

    status_code = 400


@dataclass
class ItemsQuery:
    """A parsed items request for one collection and caller."""

    collection: Collection
    principal: Principal
    properties: dict[str, Property]
    selected: list[Property]
    clauses: list[ColumnElement[bool]] = field(default_factory=list)
    order: list[Any] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    crs: OgcCRS = CRS84
    skip_geometry: bool = False
    canonical: str = ""
    # values of the named bind parameters (the bbox's) and, when every clause is one of
    # those, the query's shape: pages of one shape share one compiled statement
    binds: dict[str, float] = field(default_factory=dict)
    shape: tuple[Any, ...] | None = None

    @property
    def filtered(self) -> bool:
        """True when the request narrows the collection (bbox, filter, datetime, prop=…)."""
        return bool(self.clauses)

    def where(self) -> ColumnElement[bool]:
        """Visibility, subset and the request's own clauses."""
        return and_(*self.collection.where(self.principal), *self.clauses)


def _int(params: Mapping[str, str], name: str, default: int, low: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParameterError(f"{name}: {raw!r} is not an integer") from None
    if value < low:
        raise ParameterError(f"{name}: must be at least {low}, got {value}")
    return value


def parse_bool(name: str, raw: str) -> bool:
    """true/false (also 1/0, yes/no, 是/否) → bool; 400 naming the parameter."""
    try:
        return parse_yes_no(raw)
    except ValueError:
        raise ParameterError(f"{name}: {raw!r} is not true or false") from None


def _property_value(prop: Property, raw: str) -> ColumnElement[bool]:
    """prop=value → an equality test (membership for array properties)."""
    if prop.type == "text[]":
        return literal(raw, Text) == any_(prop.column)
    if prop.type == "json":
        raise ParameterError(f"{prop.name}: cannot filter on this property with prop=value")
    value: Any = parse_bool(prop.name, raw) if prop.type == "bool" else raw
    try:
        return prop.column == cql2.bind_literal(value, prop.type)
    except cql2.CQL2Error:
        raise ParameterError(f"{prop.name}: {raw!r} is not a {prop.type} value") from None


def _order(spec: str, props: dict[str, Property], collection: Collection) -> list[Any]:
    order: list[Any] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        desc = part.startswith("-")
        name = part.lstrip("+-").strip()
        column: ColumnElement[Any]
        if name == "id":
            column = collection.table.c.id
        elif name in props:
            column = props[name].column
        else:
            raise ParameterError(f"sortby: unknown property {name!r}; sortable: "
                                 f"id, {', '.join(props)}")
        order.append(column.desc() if desc else column.asc())
    return order


def parse_items(collection: Collection, principal: Principal,
                params: Mapping[str, str], extra: frozenset[str] = frozenset()) -> ItemsQuery:
    """Check and compile the items parameters; 400 naming any bad parameter."""
    props = collection.properties(principal)
    unknown = [k for k in params if k not in ITEM_PARAMETERS | extra and k not in props]
    if unknown:
        raise ParameterError(
            f"unknown parameter {unknown[0]!r}; items take {', '.join(sorted(ITEM_PARAMETERS))} "
            f"and property=value for: {', '.join(props)}")
    limit = min(_int(params, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
    query = ItemsQuery(collection, principal, props, list(props.values()), limit=limit,
                       offset=_int(params, "offset", 0, 0),
                       crs=parse_ogc_crs(params.get("crs"), "crs"))
    geometry = collection.geometry
    # A bad bbox-crs or filter-crs is a 400 even without bbox or filter (Part 1
    # /req/core/query-param-invalid).
    bbox_crs = parse_ogc_crs(params.get("bbox-crs"), "bbox-crs")
    filter_crs = parse_ogc_crs(params.get("filter-crs"), "filter-crs")
    cql2.filter_lang(params.get("filter-lang"))
    boxes: list[tuple[float, ...]] = []
    if params.get("bbox"):
        boxes = antimeridian_parts(parse_bbox(params["bbox"], bbox_crs))
        corners = [[f"bbox{i}_{j}" for j in range(4)] for i in range(len(boxes))]
        query.binds = {n: float(v) for box, row in zip(boxes, corners, strict=True)
                       for n, v in zip(row, box, strict=True)}
        query.clauses.append(or_(*(func.ST_Intersects(geometry, func.ST_MakeEnvelope(
            *(bindparam(n, query.binds[n], type_=Float) for n in row), STORAGE_SRID))
            for row in corners)))
    if params.get("datetime"):
        query.clauses.append(cql2.datetime_clause(params["datetime"],
                                                  collection.table.c.updated_at))
    if params.get("filter"):
        query.clauses.append(cql2.compile_filter(
            params["filter"], params.get("filter-lang"), props, geometry, filter_crs))
    for name, raw in params.items():
        if name in props and name not in ITEM_PARAMETERS | extra:
            query.clauses.append(_property_value(props[name], raw))
    if params.get("properties") is not None:
        names = [n.strip() for n in params["properties"].split(",") if n.strip()]
        missing = [n for n in names if n not in props]
        if missing:
            raise ParameterError(f"properties: unknown property {missing[0]!r}; "
                                 f"properties are: {', '.join(props)}")
        query.selected = [props[n] for n in names]
    if params.get("skipGeometry"):
        query.skip_geometry = parse_bool("skipGeometry", params["skipGeometry"])
    query.order = [*_order(params.get("sortby", ""), props, collection),
                   collection.table.c.id.asc()]
    query.canonical = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "f")
    if len(query.clauses) == (1 if boxes else 0):  # no filter, datetime or prop=value
        query.shape = (collection.id, principal.sees_private, tuple(p.name for p in query.selected),
                       query.crs, query.skip_geometry, len(boxes), params.get("sortby"),
                       query.offset > 0)
    return query


def feature_json(query: ItemsQuery) -> ColumnElement:
    """SQL for one row as GeoJSON Feature text.

    The pieces are joined as text: casting ST_AsGeoJSON's text to json (to nest it in
    json_build_object) would make PostgreSQL parse every geometry again."""
    table = query.collection.table
    geometry: ColumnElement = literal("null", Text) if query.skip_geometry else func.coalesce(
        func.ST_AsGeoJSON(output_geometry(query.collection.geometry, query.crs),
                          query.crs.decimals, 0), literal("null", Text))
    pairs: list[Any] = []
    for prop in query.selected:
        pairs += [literal(prop.name, Text), prop.column]
    return (literal('{"type":"Feature","id":', Text).op("||")(cast(table.c.id, Text))
            .op("||")(literal(',"geometry":', Text)).op("||")(geometry)
            .op("||")(literal(',"properties":', Text))
            .op("||")(cast(func.json_build_object(*pairs), Text))
            .op("||")(literal("}", Text)))


_estimates: dict[str, tuple[float, float]] = {}


def _estimated_rows(conn: Connection, table_name: str) -> float:
    """pg_class.reltuples of a table, cached for a minute."""
    cached = _estimates.get(table_name)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    rows = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"),
                        {"t": table_name}).scalar() or 0.0
    _estimates[table_name] = (float(rows), time.monotonic() + 60)
    return float(rows)


@dataclass
class PageState:
    """What a page depends on: visible rows, their newest change, and the matched count."""

    total: int | None
    last_modified: datetime | None
    matched: int | None
    etag: str


def page_state(conn: Connection, query: ItemsQuery) -> PageState:
    """Counts and newest change for the page's ETag (one round trip)."""
    table = query.collection.table
    visible = and_(true(), *query.collection.where(query.principal))
    newest = select(func.max(table.c.updated_at)).where(visible).scalar_subquery()
    exact = _estimated_rows(conn, table.name) <= EXACT_COUNT_MAX_ROWS
    if exact:
        total = select(func.count()).select_from(table).where(visible).scalar_subquery()
        matched = (select(func.count()).select_from(table).where(query.where())
                   .scalar_subquery() if query.filtered else total)
        row = conn.execute(select(newest, total, matched)).one()
        last, n_total, n_matched = row[0], row[1], row[2]
    else:
        last, n_total, n_matched = conn.execute(select(newest)).scalar(), None, None
    return PageState(n_total, last, n_matched, _page_etag(query, last, n_total))


def _page_etag(query: ItemsQuery, last: datetime | None, total: int | None) -> str:
    """Weak ETag of a page: the caller, the visible rows' newest change and count, the query."""
    key = "|".join(str(p) for p in (query.collection.id, query.principal.role,
                                    query.principal.username, last, total, query.canonical))
    return f'W/"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'


# (database, collection, sees_private) → (version stamp, newest change, visible rows)
_totals: dict[tuple[str, str, bool], tuple[str, datetime | None, int]] = {}
# the layer's version and the version table's oid (a restored table starts a new series)
_VERSIONS = table("layer_versions", column("layer", Text), column("version"))


def _stamp(layer: str) -> Any:
    """SQL for the layer's version stamp, 'oid:version' (NULL for a table without one)."""
    return (select(func.concat(literal_column("'layer_versions'::regclass::oid"), ":",
                               _VERSIONS.c.version))
            .where(_VERSIONS.c.layer == literal(layer, Text)).scalar_subquery())


def _page_rows(query: ItemsQuery) -> Any:
    """SELECT of the page's features as GeoJSON text, in order.

    Past the first page the page's ids are chosen first and only those rows are turned into
    GeoJSON: PostgreSQL would otherwise build the text of every row the offset skips."""
    table = query.collection.table
    stmt = select(feature_json(query)).select_from(table)
    limit = bindparam("page_limit", query.limit, type_=Integer)
    if query.offset:
        ids = (select(table.c.id).where(query.where()).order_by(*query.order)
               .limit(limit).offset(bindparam("page_offset", query.offset, type_=Integer)))
        return stmt.where(table.c.id.in_(ids.scalar_subquery())).order_by(*query.order)
    return stmt.where(query.where()).order_by(*query.order).limit(limit)


def _page_select(query: ItemsQuery) -> Any:
    """SELECT of the layer's version stamp, the matched count (NULL when unfiltered), the
    page's features joined as text and how many."""
    table = query.collection.table
    matched: Any = (select(func.count()).select_from(table).where(query.where())
                    .scalar_subquery() if query.filtered else null())
    # MATERIALIZED: a plain subquery would be flattened, building the page once per use
    page = (select(func.array(_page_rows(query).scalar_subquery()).label("a"))
            .cte("page").prefix_with("MATERIALIZED"))
    return select(_stamp(table.name), matched, func.array_to_string(page.c.a, ","),
                  func.cardinality(page.c.a)).select_from(page)


# a query shape → the page SELECT compiled for the driver, and its bind parameters' values
_compiled_pages: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
COMPILED_PAGES_MAX = 1000


def _page_row(conn: Connection, query: ItemsQuery) -> Any:
    """Run the page SELECT; a query of a known shape reuses its compiled text, binding only
    its limit, offset and bbox (building and compiling the statement costs more than the
    database's work on a page)."""
    if query.shape is None:
        return conn.execute(_page_select(query)).one()
    key = (conn.dialect.driver, *query.shape)
    compiled = _compiled_pages.get(key)
    if compiled is None:
        done = _page_select(query).compile(dialect=conn.dialect)
        compiled = (done.string, dict(done.construct_params()))
        if len(_compiled_pages) >= COMPILED_PAGES_MAX:
            _compiled_pages.clear()
        _compiled_pages[key] = compiled
    sql, values = compiled
    binds = {**values, "page_limit": query.limit, **query.binds}
    if query.offset:
        binds["page_offset"] = query.offset
    return conn.exec_driver_sql(sql, binds).one()


def page_json(conn: Connection, query: ItemsQuery) -> tuple[PageState, str, int]:
    """The page's state, its features joined as GeoJSON text, and how many.

    One round trip while the layer is unchanged; the visible rows' count and newest change
    (the ETag's parts) are read again after any row change (its layer_versions bump).
    """
    table = query.collection.table
    if _estimated_rows(conn, table.name) > EXACT_COUNT_MAX_ROWS:
        state = page_state(conn, query)
        features = page_features(conn, query)
        return state, ",".join(features), len(features)
    stamp, n_matched, joined, returned = _page_row(conn, query)
    url = conn.engine.url
    key = (f"{url.host}:{url.port}/{url.database}", query.collection.id,
           query.principal.sees_private)
    cached = _totals.get(key)
    if stamp is not None and cached is not None and cached[0] == stamp:
        last, n_total = cached[1], cached[2]
    else:
        visible = and_(true(), *query.collection.where(query.principal))
        now, last, n_total = conn.execute(select(
            _stamp(table.name),
            select(func.max(table.c.updated_at)).where(visible).scalar_subquery(),
            select(func.count()).select_from(table).where(visible).scalar_subquery())).one()
        if now is not None:
            _totals[key] = (now, last, n_total)
    state = PageState(n_total, last, n_total if n_matched is None else n_matched,
                      _page_etag(query, last, n_total))
    return state, joined or "", returned


def page_features(conn: Connection, query: ItemsQuery) -> list[str]:
    """The page's features as GeoJSON text, in order."""
    return list(conn.execute(_page_rows(query)).scalars().all())


def feature_collection_text(features: str, returned: int, state: PageState, links: list[dict],
                            stamp: str) -> str:
    """The FeatureCollection body around the features' joined text (`returned` of them)."""
    meta: dict[str, Any] = {"numberReturned": returned, "timeStamp": stamp, "links": links}
    if state.matched is not None:
        meta["numberMatched"] = state.matched
    tail = json.dumps(meta, ensure_ascii=False)[1:]
    return '{"type":"FeatureCollection","features":[' + features + "]," + tail


def fetch_feature(conn: Connection, collection: Collection, principal: Principal,
                  feature_id: str, crs: OgcCRS) -> tuple[str, datetime]:
    """One feature's GeoJSON text and its updated_at; 404 when absent or not visible."""
    if not feature_id.isdigit() or len(feature_id) > 18:
        raise NotFoundError(f"feature {feature_id!r} not found in {collection.id}")
    query = replace(parse_items(collection, principal, {}), crs=crs)
    table = collection.table
    row = conn.execute(
        select(feature_json(query), table.c.updated_at).select_from(table)
        .where(query.where(), table.c.id == int(feature_id))).first()
    if row is None:
        raise NotFoundError(f"feature {feature_id!r} not found in {collection.id}")
    return row[0], row[1]
