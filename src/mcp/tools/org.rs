//! Who am I; org keys; the audit trail; org templates and import;
//! workspace templates; bundles.

use serde_json::{json, Value};

use super::{by_workspace, out, run};
use crate::domain::authz::{Gate, Need};
use crate::domain::role::Role;
use crate::domain::Error;
use crate::mcp::spec::{params, params_and, Effect, ToolSpec};
use crate::service::import::{self, ImportJson, Outcome};
use crate::service::keys::{self, MintKeyRequest, RotateRequest};
use crate::service::{audit, bundles, catalog, templates};

const KEY_ID: (&str, &str) = ("key_id", "The org key's id (see list_org_keys)");
const WORKSPACE_ID: (&str, &str) = ("workspace_id", "The workspace's id");
const DIR: (&str, &str) = ("dir", "The org template's registry name (see list_org_templates)");

fn audit_schema() -> Value {
    json!({"type": "object", "properties": {
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "How many entries (default 100)"},
        "before": {"type": "integer", "description": "Only entries older than this id (for the next page)"}
    }})
}

fn bundle_schema() -> Value {
    json!({"type": "object", "required": ["bundle"], "properties": {
        "bundle": {"type": "object", "description": "A bundle as export_bundle returns it"}
    }})
}

pub const TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "whoami",
        description: "The calling key: its id, display prefix, role, workspace bindings and expiry",
        gate: Gate::Org(Role::ReadOnly),
        effect: Effect::Read,
        schema: || params(&[]),
        run: run!(|c| {
            c.args.done()?;
            out(keys::whoami(&c.who))
        }),
    },
    ToolSpec {
        name: "list_org_keys",
        description: "List the org's live API keys (by display prefix; tokens are never shown)",
        gate: Gate::Org(Role::Admin),
        effect: Effect::Read,
        schema: || params(&[]),
        run: run!(|c| {
            c.args.done()?;
            out(keys::list(&c.app, c.who).await?)
        }),
    },
    ToolSpec {
        name: "mint_org_key",
        description: "Mint an org API key, no broader than the calling key; its token is in the answer, once",
        gate: Gate::Org(Role::Admin),
        effect: Effect::Write,
        schema: || params_and::<MintKeyRequest>(&[]),
        run: run!(|c| out(keys::mint(&c.app, c.who, c.args.body()?).await?)),
    },
    ToolSpec {
        name: "revoke_org_key",
        description: "Revoke an org API key: its very next request fails",
        gate: Gate::Org(Role::Admin),
        effect: Effect::Destructive,
        schema: || params(&[KEY_ID]),
        run: run!(|c| {
            let mut a = c.args;
            let id = a.text("key_id")?;
            a.done()?;
            out(json!({ "revoked": keys::revoke(&c.app, c.who, &id).await? }))
        }),
    },
    ToolSpec {
        name: "rotate_org_key",
        description: "Replace an org key with a new token (same role, bindings and expiry); the old one stops \
                      working at once or after grace_seconds",
        gate: Gate::Org(Role::Admin),
        effect: Effect::Destructive,
        schema: || params_and::<RotateRequest>(&[KEY_ID]),
        run: run!(|c| {
            let mut a = c.args;
            let id = a.text("key_id")?;
            out(keys::rotate(&c.app, c.who, &id, a.optional_body::<RotateRequest>()?).await?)
        }),
    },
    ToolSpec {
        name: "list_audit",
        description: "Read the audit trail, newest first (who did what, when, from where)",
        gate: Gate::Audit,
        effect: Effect::Read,
        schema: audit_schema,
        run: run!(|c| out(audit::list(&c.app, c.who, c.args.body()?).await?)),
    },
    ToolSpec {
        name: "verify_audit",
        description: "Check that the audit trail is intact: sealed with the audit key, chained, and holding \
                      the head its anchor witnessed",
        gate: Gate::OrgWide(Role::Admin),
        effect: Effect::Read,
        schema: || params(&[]),
        run: run!(|c| {
            c.args.done()?;
            out(audit::verify(&c.app, c.who).await?)
        }),
    },
    ToolSpec {
        name: "list_org_templates",
        description: "List the registered org templates (a whole org of workspaces each)",
        gate: Gate::OrgWide(Role::ReadOnly),
        effect: Effect::Read,
        schema: || params(&[]),
        run: run!(|c| {
            c.args.done()?;
            out(templates::list(&c.app, c.who).await?)
        }),
    },
    ToolSpec {
        name: "get_org_template",
        description: "An org template: its files and the tree of workspaces it would create",
        gate: Gate::OrgWide(Role::ReadOnly),
        effect: Effect::Read,
        schema: || params(&[DIR]),
        run: run!(|c| {
            let mut a = c.args;
            let dir = a.text("dir")?;
            a.done()?;
            out(templates::get(&c.app, c.who, dir).await?)
        }),
    },
    ToolSpec {
        name: "import_org",
        description: "Import an org template. A dry run unless dry_run is false: look at the plan (and its \
                      problems) first, then call again with dry_run: false. mode \"replace\" deletes the \
                      workspaces the template's roots would replace",
        gate: Gate::OrgWide(Role::Admin),
        effect: Effect::Destructive,
        schema: || params_and::<ImportJson>(&[]),
        run: run!(|c| {
            let mut a = c.args;
            a.default("dry_run", Value::Bool(true));
            let outcome = import::run(&c.app, c.who, import::Source::Json(a.body()?)).await?;
            Ok(match outcome {
                Outcome::Planned(plan) => plan,
                Outcome::Imported(done) => done,
            })
        }),
    },
    ToolSpec {
        name: "list_templates",
        description: "List the workspace templates",
        gate: Gate::Org(Role::ReadOnly),
        effect: Effect::Read,
        schema: || params(&[]),
        run: run!(|c| {
            c.args.done()?;
            out(catalog::list_templates(&c.app, c.who).await?)
        }),
    },
    ToolSpec {
        name: "import_template",
        description: "Register a workspace template from its files (config.yaml and prompts)",
        gate: Gate::OrgWide(Role::Admin),
        effect: Effect::Write,
        schema: || params_and::<catalog::ImportTemplate>(&[]),
        run: run!(|c| out(catalog::import_template(&c.app, c.who, c.args.body()?).await?)),
    },
    ToolSpec {
        name: "export_bundle",
        description: "Export a workspace and everything below it as a bundle (no secrets, no tokens)",
        gate: Gate::Workspace(Need::Read),
        effect: Effect::Read,
        schema: || params(&[WORKSPACE_ID]),
        run: by_workspace!(|app, who, id| bundles::export(app, who, id)),
    },
    ToolSpec {
        name: "import_bundle",
        description: "Create a workspace tree from a bundle",
        gate: Gate::OrgWide(Role::Admin),
        effect: Effect::Write,
        schema: bundle_schema,
        run: run!(|c| {
            let mut a = c.args;
            let bundle = a.take("bundle").ok_or_else(|| Error::invalid("bundle is required"))?;
            a.done()?;
            let bundle = serde_json::from_value(bundle).map_err(|e| Error::invalid(format!("bundle: {e}")))?;
            out(bundles::import(&c.app, c.who, bundle).await?)
        }),
    },
];
