DROP TABLE roads;
