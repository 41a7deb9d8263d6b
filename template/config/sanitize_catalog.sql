-- What the sanitize task reads from the database before it plans anything (written by
-- copier-heroku; `copier update` keeps it current). Both engines load this one file:
-- lib/heroku_sanitize.rb in Rails apps, heroku_sanitize/engine.py in Django and Flask apps.
--
-- One row per column of every relation that can hold rows: tables (r), partitioned tables
-- (p), materialized views (m) and foreign tables (f), in every schema but the system ones,
-- leaving out what extensions own. Partitions are read through their partitioned table.
-- The columns, in order:
--   schema, relation, kind (r, p, m or f), column, not_null, base_type (domains resolved),
--   sql_type (as a cast or ALTER TABLE writes it), max_length (varchar/char limit),
--   is_unique (in a unique index), pk_position (1.. in the primary key, else 0),
--   generated (a stored generated column), collation (quoted, when not the type's own),
--   rewrite_blocker (what stops ALTER TABLE from rewriting this column, or NULL),
--   populated (false for a materialized view WITH NO DATA), refresh_level (a materialized
--   view after those it reads), has_children (inheritance: UPDATE needs ONLY).
WITH RECURSIVE
relations AS (
  SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispopulated
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'm', 'f') AND NOT c.relispartition
    AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
),
-- A view or materialized view (reader) reads a relation (source).
reads (reader, source) AS (
  SELECT DISTINCT rw.ev_class, d.refobjid
  FROM pg_rewrite rw
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
                  AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> rw.ev_class
),
-- Paths from each materialized view down through views and materialized views, counting
-- the materialized views passed: the longest count is how late it must be refreshed.
paths (start, node, level) AS (
  SELECT oid, oid, 0 FROM relations WHERE relkind = 'm'
  UNION ALL
  SELECT p.start, r.source, p.level + (CASE WHEN s.relkind = 'm' THEN 1 ELSE 0 END)
  FROM paths p
  JOIN reads r ON r.reader = p.node
  JOIN pg_class s ON s.oid = r.source AND s.relkind IN ('v', 'm')
),
levels AS (SELECT start, max(level) AS level FROM paths GROUP BY start),
-- Each relation with its partitions, for what blocks a rewrite anywhere in the tree.
trees AS (
  SELECT r.oid AS root, t.relid
  FROM relations r, pg_partition_tree(r.oid) t
  WHERE r.relkind = 'p'
  UNION ALL
  SELECT oid, oid FROM relations WHERE relkind <> 'p'
)
SELECT r.nspname::text AS schema,
       r.relname::text AS relation,
       r.relkind::text AS kind,
       a.attname::text AS column,
       a.attnotnull AS not_null,
       coalesce(bt.typname, t.typname)::text AS base_type,
       format_type(a.atttypid, a.atttypmod) AS sql_type,
       CASE WHEN coalesce(bt.typname, t.typname) IN ('varchar', 'bpchar')
             AND (CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END) > 4
            THEN (CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END) - 4
       END AS max_length,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = r.oid AND i.indisunique AND a.attnum = ANY (i.indkey))
         AS is_unique,
       coalesce((SELECT k.ord::integer
                 FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k (attnum, ord)
                 WHERE i.indrelid = r.oid AND i.indisprimary AND k.attnum = a.attnum), 0)
         AS pk_position,
       a.attgenerated <> '' AS generated,
       CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0
            THEN (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
                  FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                  WHERE co.oid = a.attcollation)
       END AS collation,
       CASE
         WHEN r.relkind = 'r' AND EXISTS (SELECT 1 FROM pg_inherits h
                                          WHERE h.inhrelid = r.oid OR h.inhparent = r.oid)
           THEN 'table inheritance'
         WHEN EXISTS (SELECT 1 FROM trees tr
                      JOIN pg_partitioned_table pt ON pt.partrelid = tr.relid
                      JOIN pg_attribute pa ON pa.attrelid = tr.relid AND pa.attname = a.attname
                      WHERE tr.root = r.oid AND pa.attnum = ANY (pt.partattrs))
           THEN 'the partition key'
         ELSE (SELECT CASE d.classid
                        WHEN 'pg_rewrite'::regclass THEN 'a view or rule'
                        WHEN 'pg_trigger'::regclass THEN 'a trigger'
                        WHEN 'pg_policy'::regclass THEN 'a row security policy'
                        ELSE 'a generated column'
                      END
               FROM trees tr
               JOIN pg_attribute pa ON pa.attrelid = tr.relid AND pa.attname = a.attname
               JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass
                               AND d.refobjid = tr.relid AND d.refobjsubid = pa.attnum
               WHERE tr.root = r.oid
                 AND (d.classid IN ('pg_rewrite'::regclass, 'pg_trigger'::regclass,
                                    'pg_policy'::regclass)
                      OR (d.classid = 'pg_attrdef'::regclass
                          AND EXISTS (SELECT 1 FROM pg_attrdef ad
                                      JOIN pg_attribute g ON g.attrelid = ad.adrelid
                                                         AND g.attnum = ad.adnum
                                      WHERE ad.oid = d.objid AND g.attgenerated <> ''
                                        AND ad.adnum <> pa.attnum)))
               ORDER BY d.classid::integer
               LIMIT 1)
       END AS rewrite_blocker,
       coalesce(r.relispopulated, true) AS populated,
       coalesce((SELECT l.level::integer FROM levels l WHERE l.start = r.oid), 0)
         AS refresh_level,
       r.relkind = 'r' AND EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhparent = r.oid)
         AS has_children
FROM relations r
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
ORDER BY r.nspname, r.relname, a.attnum
