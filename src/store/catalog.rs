//! Registries stored in the database: org templates, workspace templates,
//! plugins and the plugin allowlist; and what each workspace was given
//! (installed plugins, its config).

use std::collections::BTreeSet;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::sql::to_json;
use super::{StoreResult, WriteCtx};
use crate::domain::ids::WorkspaceId;
use crate::domain::org_yaml::Files;

/// Whether `sql` (a `SELECT 1 … WHERE key = ?1`) finds a row: existence
/// without reading the stored files.
fn exists(conn: &Connection, sql: &str, key: &str) -> StoreResult<bool> {
    Ok(conn.prepare_cached(sql)?.exists([key])?)
}

fn files_of(text: String) -> Files {
    serde_json::from_str(&text).unwrap_or_default()
}

// ---- org templates -------------------------------------------------------

pub struct OrgTemplateRow {
    pub dir: String,
    pub name: String,
    pub files: Files,
    pub summary: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn org_template_exists(conn: &Connection, dir: &str) -> StoreResult<bool> {
    exists(conn, "SELECT 1 FROM org_templates WHERE dir = ?1", dir)
}

/// Stores a template under `dir`, replacing any there.
pub fn put_org_template(ctx: &WriteCtx, dir: &str, name: &str, files: &Files, summary: &Value) -> StoreResult<()> {
    ctx.execute(
        "INSERT INTO org_templates (dir, name, files, summary, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (dir) DO UPDATE SET name = ?2, files = ?3, summary = ?4, updated_at = ?5",
        params![dir, name, to_json(files)?, summary.to_string(), ctx.now],
    )?;
    Ok(())
}

pub fn get_org_template(conn: &Connection, dir: &str) -> StoreResult<Option<OrgTemplateRow>> {
    Ok(conn
        .query_row(
            "SELECT dir, name, files, summary, created_at, updated_at FROM org_templates WHERE dir = ?1",
            [dir],
            |r| {
                Ok(OrgTemplateRow {
                    dir: r.get(0)?,
                    name: r.get(1)?,
                    files: files_of(r.get(2)?),
                    summary: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or(Value::Null),
                    created_at: r.get(4)?,
                    updated_at: r.get(5)?,
                })
            },
        )
        .optional()?)
}

/// The stored summaries of every template, by dir (no files are read).
pub fn list_org_templates(conn: &Connection) -> StoreResult<Vec<Value>> {
    let mut stmt = conn.prepare("SELECT summary FROM org_templates ORDER BY dir")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(serde_json::from_str(&r.get::<_, String>(0)?).unwrap_or(Value::Null))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
pub fn delete_org_template(ctx: &WriteCtx, dir: &str) -> StoreResult<bool> {
    Ok(ctx.execute("DELETE FROM org_templates WHERE dir = ?1", [dir])? == 1)
}

// ---- workspace templates -------------------------------------------------

pub struct WorkspaceTemplate {
    pub name: String,
    pub description: Option<String>,
    pub runtime: Option<String>,
    pub model: Option<String>,
    pub tier: Option<i64>,
    pub files: Files,
    pub created_at: i64,
}

pub fn workspace_template_exists(conn: &Connection, name: &str) -> StoreResult<bool> {
    exists(conn, "SELECT 1 FROM workspace_templates WHERE name = ?1", name)
}

pub fn insert_workspace_template(ctx: &WriteCtx, t: &WorkspaceTemplate) -> StoreResult<()> {
    ctx.execute(
        "INSERT INTO workspace_templates (name, description, runtime, model, tier, files, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            t.name,
            t.description,
            t.runtime,
            t.model,
            t.tier,
            to_json(&t.files)?,
            t.created_at
        ],
    )?;
    Ok(())
}

fn template_row(r: &rusqlite::Row) -> rusqlite::Result<WorkspaceTemplate> {
    Ok(WorkspaceTemplate {
        name: r.get(0)?,
        description: r.get(1)?,
        runtime: r.get(2)?,
        model: r.get(3)?,
        tier: r.get(4)?,
        files: files_of(r.get(5)?),
        created_at: r.get(6)?,
    })
}

pub fn get_workspace_template(conn: &Connection, name: &str) -> StoreResult<Option<WorkspaceTemplate>> {
    Ok(conn
        .query_row(
            "SELECT name, description, runtime, model, tier, files, created_at FROM workspace_templates WHERE name = ?1",
            [name],
            template_row,
        )
        .optional()?)
}

pub fn list_workspace_templates(conn: &Connection) -> StoreResult<Vec<WorkspaceTemplate>> {
    let mut stmt = conn.prepare(
        "SELECT name, description, runtime, model, tier, files, created_at FROM workspace_templates ORDER BY name",
    )?;
    let rows = stmt.query_map([], template_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

// ---- plugins ---------------------------------------------------------------

pub struct Plugin {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    pub runtimes: Vec<String>,
    pub files: Files,
    pub sha256: String,
    pub created_at: i64,
}

pub fn plugin_exists(conn: &Connection, name: &str) -> StoreResult<bool> {
    exists(conn, "SELECT 1 FROM plugins WHERE name = ?1", name)
}

pub fn insert_plugin(ctx: &WriteCtx, p: &Plugin) -> StoreResult<()> {
    ctx.execute(
        "INSERT INTO plugins (name, version, description, runtimes, files, sha256, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            p.name,
            p.version,
            p.description,
            to_json(&p.runtimes)?,
            to_json(&p.files)?,
            p.sha256,
            p.created_at
        ],
    )?;
    Ok(())
}

fn plugin_row(r: &rusqlite::Row) -> rusqlite::Result<Plugin> {
    let runtimes: String = r.get(3)?;
    Ok(Plugin {
        name: r.get(0)?,
        version: r.get(1)?,
        description: r.get(2)?,
        runtimes: serde_json::from_str(&runtimes).unwrap_or_default(),
        files: files_of(r.get(4)?),
        sha256: r.get(5)?,
        created_at: r.get(6)?,
    })
}

pub fn get_plugin(conn: &Connection, name: &str) -> StoreResult<Option<Plugin>> {
    Ok(conn
        .query_row(
            "SELECT name, version, description, runtimes, files, sha256, created_at FROM plugins WHERE name = ?1",
            [name],
            plugin_row,
        )
        .optional()?)
}

pub fn list_plugins(conn: &Connection) -> StoreResult<Vec<Plugin>> {
    let mut stmt = conn
        .prepare("SELECT name, version, description, runtimes, files, sha256, created_at FROM plugins ORDER BY name")?;
    let rows = stmt.query_map([], plugin_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn plugin_names(conn: &Connection) -> StoreResult<BTreeSet<String>> {
    let mut stmt = conn.prepare_cached("SELECT name FROM plugins")?;
    let rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<BTreeSet<String>, _>>()?;
    Ok(rows)
}

/// The allowlist; empty means every registered plugin is allowed.
pub fn allowlist(conn: &Connection) -> StoreResult<Vec<(String, String, i64)>> {
    let mut stmt =
        conn.prepare_cached("SELECT plugin_name, enabled_by, enabled_at FROM plugin_allowlist ORDER BY plugin_name")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn set_allowlist(ctx: &WriteCtx, names: &[String], by: &str) -> StoreResult<()> {
    ctx.execute("DELETE FROM plugin_allowlist", [])?;
    for n in names {
        ctx.execute(
            "INSERT OR IGNORE INTO plugin_allowlist (plugin_name, enabled_by, enabled_at) VALUES (?1, ?2, ?3)",
            params![n, by, ctx.now],
        )?;
    }
    Ok(())
}

pub fn install_plugin(
    ctx: &WriteCtx,
    workspace_id: WorkspaceId,
    name: &str,
    source: &str,
    by: &str,
) -> StoreResult<()> {
    ctx.execute(
        "INSERT INTO workspace_plugins (workspace_id, plugin_name, source, installed_by, installed_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (workspace_id, plugin_name) DO UPDATE SET source = ?3, installed_by = ?4, installed_at = ?5",
        params![workspace_id, name, source, by, ctx.now],
    )?;
    Ok(())
}

pub fn uninstall_plugin(ctx: &WriteCtx, workspace_id: WorkspaceId, name: &str) -> StoreResult<bool> {
    Ok(ctx.execute(
        "DELETE FROM workspace_plugins WHERE workspace_id = ?1 AND plugin_name = ?2",
        params![workspace_id, name],
    )? == 1)
}

/// (name, source, installed_by, installed_at) of a workspace's plugins.
pub fn installed_plugins(
    conn: &Connection,
    workspace_id: WorkspaceId,
) -> StoreResult<Vec<(String, String, String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT plugin_name, source, installed_by, installed_at FROM workspace_plugins WHERE workspace_id = ?1 ORDER BY plugin_name",
    )?;
    let rows = stmt
        .query_map([workspace_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

// ---- workspace config ------------------------------------------------------

pub fn put_config(ctx: &WriteCtx, workspace_id: WorkspaceId, source: &str, config: &Value) -> StoreResult<()> {
    ctx.execute(
        "INSERT INTO workspace_config (workspace_id, source, config) VALUES (?1, ?2, ?3)
         ON CONFLICT (workspace_id) DO UPDATE SET source = ?2, config = ?3",
        params![workspace_id, source, config.to_string()],
    )?;
    Ok(())
}

pub fn get_config(conn: &Connection, workspace_id: WorkspaceId) -> StoreResult<Option<(String, Value)>> {
    Ok(conn
        .query_row(
            "SELECT source, config FROM workspace_config WHERE workspace_id = ?1",
            [workspace_id],
            |r| {
                let text: String = r.get(1)?;
                Ok((r.get(0)?, serde_json::from_str(&text).unwrap_or(Value::Null)))
            },
        )
        .optional()?)
}
