//! Forward-only schema versioning on SQLite's `user_version`.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

const SCHEMA: &str = include_str!("../../schema.sql");

/// Step `i` upgrades a database from version `i + 1` to `i + 2`. Append
/// only; never edit a step that has shipped. Fold each change into
/// schema.sql too.
const MIGRATIONS: &[&str] = &[
    // 1 -> 2: browser sign-in links and sessions.
    include_str!("migrations/0002_sessions.sql"),
    // 2 -> 3: what agents and the canvas keep on a workspace.
    include_str!("migrations/0003_agents.sql"),
    // 3 -> 4: the keyed audit chain, and indexes for retention.
    include_str!("migrations/0004_keyed_audit.sql"),
    // 4 -> 5: key policy, limits and activity.
    include_str!("migrations/0005_key_policy.sql"),
    // 5 -> 6: indexes of live rows, so costs do not grow with history.
    include_str!("migrations/0006_live_indexes.sql"),
];

pub const SCHEMA_VERSION: i64 = 1 + MIGRATIONS.len() as i64;

/// The schema version of the database at `path`, read without changing
/// it; `None` when there is no database yet.
pub fn version_at(path: &std::path::Path) -> Result<Option<i64>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(Some(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?))
}

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    loop {
        // IMMEDIATE and a re-read of the version inside the transaction, so
        // `serve` and `mint-key` starting together cannot both initialise.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        if !(0..=SCHEMA_VERSION).contains(&version) {
            return Err(StoreError::Other(format!(
                "the database is at schema version {version}, not one this binary knows \
                 (molecule-tenant {} knows 1..={SCHEMA_VERSION}); refusing to open it (is it newer \
                 than this binary?). Run the newer binary, or restore the copy the upgrade kept in \
                 backups/ in the data dir",
                env!("CARGO_PKG_VERSION")
            )));
        }
        let (sql, next) = match version {
            0 => (SCHEMA, SCHEMA_VERSION),
            v => (MIGRATIONS[(v - 1) as usize], v + 1),
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", next)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_database_gets_the_current_schema_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        for table in [
            "meta",
            "workspaces",
            "org_keys",
            "org_key_workspaces",
            "workspace_tokens",
            "audit_log",
            "secrets",
            "approvals",
            "channels",
            "org_templates",
            "workspace_templates",
            "plugins",
            "plugin_allowlist",
            "workspace_plugins",
            "workspace_config",
            "login_links",
            "sessions",
        ] {
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0))
                .unwrap();
        }
    }

    /// The version 1 schema: schema.sql before version 2's tables, without
    /// the columns version 3 added to `workspaces` or the lines version 4
    /// added (marked `-- v4`).
    fn version_1() -> String {
        let v3: String = SCHEMA
            .lines()
            .filter(|l| !["-- v4", "-- v5", "-- v6"].iter().any(|v| l.ends_with(v)))
            .map(|l| format!("{l}\n"))
            .collect();
        // A column list whose last columns were left out ends in a comma.
        let v3 = v3.replace(",\n);", "\n);");
        let before_v2 = v3.split("-- Browser sign-in (version 2)").next().unwrap();
        let (head, rest) = before_v2
            .split_once("    deleted_at        INTEGER,\n    -- Version 3:")
            .unwrap();
        let tail = &rest[rest.find("\n);").unwrap()..];
        format!("{head}    deleted_at        INTEGER{tail}")
    }

    /// Every table's columns (name, type, not null, default, key), every
    /// index and trigger: what a migrated database must share with a fresh
    /// one. (The text of an altered table differs in layout only.)
    fn shape(c: &Connection) -> Vec<String> {
        let mut out = Vec::new();
        let mut stmt = c
            .prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
            .unwrap();
        let rows: Vec<(String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (kind, name, sql) in rows {
            if kind != "table" {
                out.push(sql);
                continue;
            }
            let mut cols = c.prepare(&format!("PRAGMA table_xinfo({name})")).unwrap();
            let cols = cols
                .query_map([], |r| {
                    Ok(format!(
                        "{name}.{}: {} notnull={} default={:?} pk={}",
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, i64>(5)?
                    ))
                })
                .unwrap();
            out.extend(cols.map(Result::unwrap));
            // CHECK constraints and foreign keys live in the text: compare
            // it with whitespace and commas folded.
            let folded: String = sql.split_whitespace().collect::<Vec<_>>().join(" ").replace(" ,", ",");
            let mut checks: Vec<&str> = folded.matches("CHECK").collect();
            checks.sort();
            out.push(format!(
                "{name} checks={} references={}",
                checks.len(),
                folded.matches("REFERENCES").count()
            ));
        }
        out
    }

    #[test]
    fn a_version_1_database_is_migrated_to_the_current_schema() {
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(&version_1()).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        migrate(&mut old).unwrap();
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        assert_eq!(shape(&old), shape(&fresh));
        let v: i64 = old.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer than this binary"), "{err}");
        conn.pragma_update(None, "user_version", -3).unwrap();
        assert!(migrate(&mut conn).is_err());
    }
}
