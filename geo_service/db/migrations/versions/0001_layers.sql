-- 0001: the five layers, neighbouring counties and the load log.
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE admin_areas (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id text NOT NULL UNIQUE,
    code varchar(12) NOT NULL UNIQUE CHECK (code ~ '^[0-9]{12}$'),
    name text NOT NULL CHECK (btrim(name) <> ''),
    level text NOT NULL CHECK (level IN ('district', 'township', 'village')),
    parent_code varchar(12) REFERENCES admin_areas (code) DEFERRABLE INITIALLY DEFERRED,
    population integer CHECK (population >= 0),
    population_60plus integer CHECK (population_60plus >= 0),
    population_0_17 integer CHECK (population_0_17 >= 0),
    households integer CHECK (households >= 0),
    figures_source text,
    rep_point geometry(Point, 4490),
    geom geometry(MultiPolygon, 4490) NOT NULL,
    source text NOT NULL,
    geometry_accuracy text NOT NULL DEFAULT 'unknown'
        CHECK (geometry_accuracy IN ('surveyed', 'published', 'geocoded', 'illustrative', 'unknown')),
    is_public boolean NOT NULL DEFAULT true,
    extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (population_60plus IS NULL OR population IS NULL OR population_60plus <= population)
);
CREATE INDEX admin_areas_geom_idx ON admin_areas USING gist (geom);
CREATE INDEX admin_areas_level_idx ON admin_areas (level, parent_code);
CREATE INDEX admin_areas_name_trgm_idx ON admin_areas USING gin (name gin_trgm_ops);

CREATE TABLE eldercare_sites (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id text NOT NULL UNIQUE,
    name text NOT NULL CHECK (btrim(name) <> ''),
    kind text NOT NULL CHECK (kind IN (
        '养老机构', '特困人员供养服务机构(敬老院)', '失能特困人员集中照护中心', '镇街养老服务中心',
        '社区养老服务站', '村级互助养老点', '老年食堂')),
    operator_type text CHECK (operator_type IN ('公办', '民办', '公建民营')),
    beds integer CHECK (beds >= 0),
    nursing_beds integer CHECK (nursing_beds >= 0),
    occupied_beds integer CHECK (occupied_beds >= 0),
    star_rating smallint CHECK (star_rating BETWEEN 0 AND 5),
    services text[] NOT NULL DEFAULT '{}',
    address text,
    phone text,
    opening_hours text,
    status text NOT NULL DEFAULT '运营' CHECK (status IN ('运营', '在建', '停业')),
    township_code varchar(12) CHECK (township_code ~ '^[0-9]{12}$'),
    contact_person text,
    contact_phone text,
    geom geometry(Point, 4490) NOT NULL,
    source text NOT NULL,
    geometry_accuracy text NOT NULL DEFAULT 'unknown'
        CHECK (geometry_accuracy IN ('surveyed', 'published', 'geocoded', 'illustrative', 'unknown')),
    is_public boolean NOT NULL DEFAULT true,
    extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (nursing_beds IS NULL OR beds IS NULL OR nursing_beds <= beds),
    CHECK (occupied_beds IS NULL OR beds IS NULL OR occupied_beds <= beds)
);
CREATE INDEX eldercare_sites_geom_idx ON eldercare_sites USING gist (geom);
CREATE INDEX eldercare_sites_kind_idx ON eldercare_sites (kind);
CREATE INDEX eldercare_sites_township_idx ON eldercare_sites (township_code);
CREATE INDEX eldercare_sites_name_trgm_idx ON eldercare_sites USING gin (name gin_trgm_ops);

CREATE TABLE funeral_sites (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id text NOT NULL UNIQUE,
    name text NOT NULL CHECK (btrim(name) <> ''),
    kind text NOT NULL CHECK (kind IN (
        '殡仪馆', '城市公益性公墓', '经营性公墓', '农村公益性公墓(集中安葬点)', '公益性骨灰安放设施',
        '治丧服务点', '烈士陵园')),
    capacity integer CHECK (capacity >= 0),
    used integer CHECK (used >= 0),
    eco_burial boolean,
    operator_type text CHECK (operator_type IN ('公办', '民办', '公建民营')),
    address text,
    phone text,
    opening_hours text,
    status text NOT NULL DEFAULT '运营' CHECK (status IN ('运营', '在建', '停业')),
    township_code varchar(12) CHECK (township_code ~ '^[0-9]{12}$'),
    contact_person text,
    site_area geometry(MultiPolygon, 4490),
    geom geometry(Point, 4490) NOT NULL,
    source text NOT NULL,
    geometry_accuracy text NOT NULL DEFAULT 'unknown'
        CHECK (geometry_accuracy IN ('surveyed', 'published', 'geocoded', 'illustrative', 'unknown')),
    is_public boolean NOT NULL DEFAULT true,
    extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (used IS NULL OR capacity IS NULL OR used <= capacity)
);
CREATE INDEX funeral_sites_geom_idx ON funeral_sites USING gist (geom);
CREATE INDEX funeral_sites_kind_idx ON funeral_sites (kind);
CREATE INDEX funeral_sites_township_idx ON funeral_sites (township_code);
CREATE INDEX funeral_sites_name_trgm_idx ON funeral_sites USING gin (name gin_trgm_ops);

CREATE TABLE child_sites (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id text NOT NULL UNIQUE,
    name text NOT NULL CHECK (btrim(name) <> ''),
    kind text NOT NULL CHECK (kind IN (
        '儿童福利机构', '未成年人救助保护中心', '镇街未成年人保护工作站', '儿童之家',
        '儿童社会工作服务中心')),
    capacity integer CHECK (capacity >= 0),
    address text,
    phone text,
    opening_hours text,
    status text NOT NULL DEFAULT '运营' CHECK (status IN ('运营', '在建', '停业')),
    township_code varchar(12) CHECK (township_code ~ '^[0-9]{12}$'),
    contact_person text,
    contact_phone text,
    geom geometry(Point, 4490) NOT NULL,
    source text NOT NULL,
    geometry_accuracy text NOT NULL DEFAULT 'unknown'
        CHECK (geometry_accuracy IN ('surveyed', 'published', 'geocoded', 'illustrative', 'unknown')),
    is_public boolean NOT NULL DEFAULT true,
    extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX child_sites_geom_idx ON child_sites USING gist (geom);
CREATE INDEX child_sites_kind_idx ON child_sites (kind);
CREATE INDEX child_sites_township_idx ON child_sites (township_code);
CREATE INDEX child_sites_name_trgm_idx ON child_sites USING gin (name gin_trgm_ops);

CREATE TABLE place_names (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id text NOT NULL UNIQUE,
    name text NOT NULL CHECK (btrim(name) <> ''),
    code text,
    pinyin text,
    category_code text,
    category text,
    admin_code varchar(12) CHECK (admin_code ~ '^[0-9]{12}$'),
    meaning text,
    origin text,
    history text,
    aliases jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(aliases) = 'array'),
    historic_list text,
    historic_batch integer CHECK (historic_batch > 0),
    historic_year integer CHECK (historic_year BETWEEN 1900 AND 2200),
    historic_category text,
    historic_criteria text,
    protection_measures text,
    still_in_use boolean,
    geom geometry(Geometry, 4490) NOT NULL CHECK (
        GeometryType(geom) IN ('POINT', 'MULTIPOINT', 'LINESTRING', 'MULTILINESTRING',
                               'POLYGON', 'MULTIPOLYGON')),
    source text NOT NULL,
    geometry_accuracy text NOT NULL DEFAULT 'unknown'
        CHECK (geometry_accuracy IN ('surveyed', 'published', 'geocoded', 'illustrative', 'unknown')),
    is_public boolean NOT NULL DEFAULT true,
    extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX place_names_geom_idx ON place_names USING gist (geom);
CREATE INDEX place_names_admin_idx ON place_names (admin_code);
CREATE INDEX place_names_name_trgm_idx ON place_names USING gin (name gin_trgm_ops);

CREATE TABLE neighbour_areas (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code varchar(12) NOT NULL UNIQUE CHECK (code ~ '^[0-9]{12}$'),
    name text NOT NULL,
    province text NOT NULL,
    geom geometry(MultiPolygon, 4490) NOT NULL,
    source text NOT NULL,
    geometry_accuracy text NOT NULL DEFAULT 'published',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX neighbour_areas_geom_idx ON neighbour_areas USING gist (geom);

CREATE TABLE ingest_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    layer text NOT NULL,
    file_name text NOT NULL,
    file_sha256 char(64) NOT NULL,
    input_crs text NOT NULL,
    rows_read integer NOT NULL,
    rows_inserted integer NOT NULL,
    rows_updated integer NOT NULL,
    rows_unchanged integer NOT NULL,
    rows_skipped integer NOT NULL,
    problems jsonb NOT NULL DEFAULT '[]'::jsonb,
    loaded_by text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['admin_areas', 'eldercare_sites', 'funeral_sites', 'child_sites',
                             'place_names', 'neighbour_areas'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION touch_updated_at()',
                       t || '_touch', t);
    END LOOP;
END $$;
