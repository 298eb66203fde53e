"""geo_service: the geospatial service of a district civil-affairs bureau (民政局)."""

__version__ = "0.1.0"
