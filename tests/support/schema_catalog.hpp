// A database's schema described from the catalog, one sorted line per fact, so
// two databases on the same server can be compared whatever the server's
// major version: pg_dump refuses servers newer than itself (Debian's is 15)
// and the npm registry's server builds ship none.
//
// It covers what migrations create: schemas, relations and their columns,
// defaults, identity, constraints, indexes, views, sequences, functions,
// triggers, rules, policies, types (enum labels, domains), extensions,
// inheritance and partitioning, privileges, comments, and every other object
// in a schema by its description (pg_describe_object), all named, never by OID.
#pragma once

#include <string>

namespace lockstep::test {

// Lines for every schema outside the system's and `excluded_schema`'s.
inline std::string schema_catalog_query(const std::string& excluded_schema) {
  return R"SQL(
WITH ns AS (
  SELECT oid, nspname FROM pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', ')SQL" +
         excluded_schema + R"SQL(')
    AND nspname NOT LIKE 'pg_temp_%' AND nspname NOT LIKE 'pg_toast_temp_%'),
rel AS (
  SELECT c.*, quote_ident(ns.nspname) || '.' || quote_ident(c.relname) AS q
  FROM pg_class c JOIN ns ON ns.oid = c.relnamespace),
fn AS (
  SELECT p.oid, p.prokind, quote_ident(ns.nspname) || '.' || quote_ident(p.proname) || '(' ||
         pg_get_function_identity_arguments(p.oid) || ')' AS q, p.proacl
  FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace),
ty AS (
  SELECT t.*, quote_ident(ns.nspname) || '.' || quote_ident(t.typname) AS q
  FROM pg_type t JOIN ns ON ns.oid = t.typnamespace)
SELECT line FROM (
  SELECT 'schema ' || quote_ident(nspname) || ' acl=' || coalesce(n.nspacl::text, '') AS line
  FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM ns)
  UNION ALL
  SELECT 'relation ' || q || ' kind=' || relkind::text || ' persistence=' || relpersistence::text || ' options=' ||
         coalesce(reloptions::text, '') || ' acl=' || coalesce(relacl::text, '') || ' rls=' || relrowsecurity ||
         relforcerowsecurity || ' replident=' || relreplident::text || ' partkey=' ||
         coalesce(CASE WHEN relkind = 'p' THEN pg_get_partkeydef(oid) END, '') || ' bound=' ||
         coalesce(pg_get_expr(relpartbound, oid), '')
  FROM rel
  UNION ALL
  SELECT 'column ' || rel.q || ' #' || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) || ' ' ||
         quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull ||
         ' identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text || ' default=' ||
         coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' collation=' ||
         coalesce((SELECT collname FROM pg_collation WHERE oid = a.attcollation), '') || ' storage=' ||
         a.attstorage::text || ' acl=' || coalesce(a.attacl::text, '')
  FROM pg_attribute a JOIN rel ON rel.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped AND rel.relkind <> 'i' AND rel.relkind <> 'I'
  UNION ALL
  SELECT 'constraint ' || coalesce(rel.q, ty.q) || ' ' || quote_ident(con.conname) || ' ' ||
         pg_get_constraintdef(con.oid) || ' deferrable=' || con.condeferrable || con.condeferred ||
         ' validated=' || con.convalidated
  FROM pg_constraint con LEFT JOIN rel ON rel.oid = con.conrelid LEFT JOIN ty ON ty.oid = con.contypid
  WHERE rel.oid IS NOT NULL OR ty.oid IS NOT NULL
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid) || ' valid=' || i.indisvalid || ' clustered=' || i.indisclustered
  FROM pg_index i JOIN rel ON rel.oid = i.indexrelid
  UNION ALL
  SELECT 'view ' || q || ' ' || pg_get_viewdef(oid) FROM rel WHERE relkind IN ('v', 'm')
  UNION ALL
  SELECT 'sequence ' || rel.q || ' ' || format_type(s.seqtypid, NULL) || ' ' || s.seqstart || ' ' ||
         s.seqincrement || ' ' || s.seqmin || ' ' || s.seqmax || ' ' || s.seqcache || ' ' || s.seqcycle
  FROM pg_sequence s JOIN rel ON rel.oid = s.seqrelid
  UNION ALL
  SELECT 'function ' || q || ' acl=' || coalesce(proacl::text, '') || ' ' ||
         CASE WHEN prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(oid)
              ELSE pg_get_function_result(oid) END
  FROM fn
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
  FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'rule ' || pg_get_ruledef(r.oid) FROM pg_rewrite r JOIN rel ON rel.oid = r.ev_class
  WHERE r.rulename <> '_RETURN'
  UNION ALL
  SELECT 'policy ' || rel.q || ' ' || quote_ident(p.polname) || ' ' || p.polcmd::text || ' ' || p.polpermissive || ' ' ||
         (SELECT string_agg(x.name, ',' ORDER BY x.name)
          FROM (SELECT CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END AS name FROM unnest(p.polroles) r) x) || ' using=' ||
         coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' check=' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
  FROM pg_policy p JOIN rel ON rel.oid = p.polrelid
  UNION ALL
  SELECT 'enum ' || ty.q || ' ' || string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder)
  FROM pg_enum e JOIN ty ON ty.oid = e.enumtypid GROUP BY ty.q
  UNION ALL
  SELECT 'type ' || q || ' type=' || typtype::text || ' base=' || CASE WHEN typbasetype = 0 THEN '' ELSE format_type(typbasetype, typtypmod) END ||
         ' notnull=' || typnotnull || ' default=' || coalesce(typdefault, '') || ' acl=' || coalesce(typacl::text, '')
  FROM ty
  UNION ALL
  SELECT 'extension ' || quote_ident(x.extname) || ' ' || x.extversion || ' in ' || quote_ident(n.nspname)
  FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
  UNION ALL
  SELECT 'inherits ' || rel.q || ' ' || i.inhseqno || ' ' || i.inhparent::regclass::text
  FROM pg_inherits i JOIN rel ON rel.oid = i.inhrelid
  UNION ALL
  SELECT 'comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || ' = ' || d.description
  FROM pg_description d
  WHERE (d.classoid = 'pg_class'::regclass AND d.objoid IN (SELECT oid FROM rel))
     OR (d.classoid = 'pg_proc'::regclass AND d.objoid IN (SELECT oid FROM fn))
     OR (d.classoid = 'pg_type'::regclass AND d.objoid IN (SELECT oid FROM ty))
     OR (d.classoid = 'pg_namespace'::regclass AND d.objoid IN (SELECT oid FROM ns))
     OR (d.classoid = 'pg_constraint'::regclass AND d.objoid IN
           (SELECT oid FROM pg_constraint WHERE conrelid IN (SELECT oid FROM rel) OR contypid IN (SELECT oid FROM ty)))
     OR (d.classoid = 'pg_trigger'::regclass AND d.objoid IN (SELECT oid FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM rel)))
     OR (d.classoid = 'pg_policy'::regclass AND d.objoid IN (SELECT oid FROM pg_policy WHERE polrelid IN (SELECT oid FROM rel)))
  UNION ALL
  SELECT 'object ' || pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d
  WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid IN (SELECT oid FROM ns) AND d.deptype = 'n'
) facts
ORDER BY line COLLATE "C"
)SQL";
}

}  // namespace lockstep::test
