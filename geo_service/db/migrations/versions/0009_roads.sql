-- 0009: the road layer; the routable graph is built from it in memory (geo_service.network).
CREATE TABLE roads (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id text NOT NULL UNIQUE,
    name text,
    kind text NOT NULL CHECK (kind IN (
        '高速公路', '国道', '省道', '县道', '乡道', '村道', '城市快速路', '城市主干路',
        '城市次干路', '城市支路', '步行道', '其他道路')),
    oneway boolean,
    speed_kmh double precision CHECK (speed_kmh > 0 AND speed_kmh <= 150),
    geom geometry(MultiLineString, 4490) NOT NULL,
    source text NOT NULL,
    geometry_accuracy text NOT NULL DEFAULT 'unknown'
        CHECK (geometry_accuracy IN ('surveyed', 'published', 'geocoded', 'illustrative', 'unknown')),
    is_public boolean NOT NULL DEFAULT true,
    extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX roads_geom_idx ON roads USING gist (geom);
CREATE TRIGGER roads_touch BEFORE UPDATE ON roads FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
