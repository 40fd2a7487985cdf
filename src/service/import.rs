//! `POST /org/import`. An import is one transaction: the whole tree (and,
//! in `replace` mode, the removal of every existing workspace) commits, or
//! nothing does and the error names the node. A dry run runs the very same
//! code in a transaction that is always rolled back.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::channels::{adapter as find_adapter, create_in as create_channel, NewChannel};
use super::templates::{bad_template, plan_files, stored};
use super::workspaces::{create_in, remove_subtree};
use super::{App, Principal};
use crate::crypto::Keyring;
use crate::domain::audit::Action;
use crate::domain::channels::check_users;
use crate::domain::ids::WorkspaceId;
use crate::domain::org_plan::{self, missing_env, resolve_vars, Plan, PlannedNode};
use crate::domain::org_yaml::{Files, ENTRY};
use crate::domain::role::Role;
use crate::domain::{Code, Error, Result};
use crate::store::workspaces::{self as ws, Layout, NewWorkspace, Settings, WorkspaceRow};
use crate::store::{audit, catalog, WriteCtx};

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq, Debug, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Merge,
    Replace,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Merge => "merge",
            Mode::Replace => "replace",
        }
    }
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct Options {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub force: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportJson {
    dir: Option<String>,
    #[schema(value_type = Option<Object>)]
    template: Option<Json>,
    yaml: Option<String>,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    force: bool,
}

/// What to import, as a request carried it.
pub enum Source {
    /// A YAML body, with its options from the query string.
    Yaml(String, Options),
    Json(ImportJson),
}

/// The plan (for a dry run) or the result (workspaces and their tokens).
pub enum Outcome {
    Planned(Json),
    Imported(Json),
}

pub async fn run(app: &App, who: Principal, source: Source) -> Result<Outcome> {
    who.org_wide(Role::Admin)?;
    let (plan, opts) = match source {
        Source::Yaml(text, opts) => (plan_files(app, Files::from([(ENTRY.to_string(), text)])).await?.1, opts),
        Source::Json(b) => {
            let opts = Options {
                mode: b.mode,
                dry_run: b.dry_run,
                force: b.force,
            };
            let plan = match (b.dir, b.template, b.yaml) {
                (Some(dir), None, None) => {
                    let row = stored(app, dir.clone())
                        .await?
                        .ok_or_else(|| Error::not_found(&format!("org template {dir:?}")))?;
                    plan_files(app, row.files).await?.1
                }
                (None, Some(doc), None) => {
                    app.compute(move || org_plan::plan(doc, None).map_err(bad_template))
                        .await?
                }
                (None, None, Some(yaml)) => plan_files(app, Files::from([(ENTRY.to_string(), yaml)])).await?.1,
                _ => {
                    return Err(Error::invalid(
                        "give exactly one of dir, template or yaml (or send a YAML body)",
                    ))
                }
            };
            (plan, opts)
        }
    };
    let ring = app.keyring.clone();
    let run = move |ctx: &mut WriteCtx, who: &Principal| import(ctx, who, &ring, &plan, opts);
    Ok(if opts.dry_run {
        Outcome::Planned(app.rehearse(who, run).await?.plan)
    } else {
        Outcome::Imported(app.write(who, run).await?.result)
    })
}

struct Done {
    plan: Json,
    result: Json,
}

fn import(ctx: &mut WriteCtx, who: &Principal, ring: &Keyring, plan: &Plan, opts: Options) -> Result<Done> {
    let present: BTreeSet<String> = super::secrets::global_names(ctx)?.into_iter().collect();
    let vars = super::secrets::open_globals(ctx, ring)?;
    let missing = missing_env(&plan.required_env, &present);
    if !missing.is_empty() && !opts.force && !opts.dry_run {
        return Err(Error::new(
            Code::MissingEnv,
            "missing required environment variables; set them as global secrets (PUT /settings/secrets) or pass force: true",
        )
        .with("missing_env", json!(missing))
        .with("required_env", json!(plan.required_env)));
    }
    // Everything that would refuse a node, found before anything is written.
    let known_plugins = catalog::plugin_names(ctx)?;
    let allowed: BTreeSet<String> = catalog::allowlist(ctx)?.into_iter().map(|(n, _, _)| n).collect();
    // What may be installed: registered and, when the org keeps an
    // allowlist, on it. With `force`, other plugins are left out (and
    // reported); without it, they refuse the import.
    let installable: BTreeSet<String> = known_plugins
        .iter()
        .filter(|p| allowed.is_empty() || allowed.contains(*p))
        .cloned()
        .collect();
    let mut problems = Vec::new();
    let mut blocking = 0;
    for node in &plan.nodes {
        for p in &node.plugins {
            if !known_plugins.contains(p) {
                problems.push(json!({"workspace": node.label(), "plugin": p, "problem": "not in the plugin registry"}));
            } else if !allowed.is_empty() && !allowed.contains(p) {
                problems.push(json!({"workspace": node.label(), "plugin": p, "problem": "not in the org allowlist"}));
            }
        }
        if let Some(t) = &node.template {
            if catalog::get_workspace_template(ctx, t)?.is_none() {
                problems
                    .push(json!({"workspace": node.label(), "template": t, "problem": "no such workspace template"}));
                blocking += 1;
            }
        }
    }
    let refused = blocking > 0 || (!problems.is_empty() && !opts.force);
    if refused && !opts.dry_run {
        return Err(
            bad_template(format!("{} problem(s) in the template; see problems", problems.len()))
                .with("problems", json!(problems)),
        );
    }

    let actor = who.actor();
    let mut removed = Vec::new();
    if opts.mode == Mode::Replace {
        let roots: Vec<WorkspaceRow> = ws::list(ctx, None)?
            .into_iter()
            .filter(|w| w.parent_id.is_none())
            .collect();
        for root in roots {
            let n = remove_subtree(ctx, &actor, &root)?;
            removed.push(json!({"id": root.id, "name": root.name, "workspaces": n}));
        }
    }

    let source = format!("org:{}", plan.name);
    let mut ids: Vec<WorkspaceId> = Vec::with_capacity(plan.nodes.len());
    let mut created = Vec::new();
    let mut planned = Vec::new();
    let (mut channel_count, mut skipped_count) = (0, 0);
    let env = ImportEnv {
        who,
        ring,
        installable: &installable,
        vars: &vars,
        source: &source,
    };
    for node in &plan.nodes {
        let parent_id = node.parent.map(|i| ids[i]);
        let made = create_node(ctx, &env, node, parent_id).map_err(|e| name_node(e, node))?;
        channel_count += made.channels.len();
        skipped_count += made.skipped.len();
        planned.push(json!({
            "path": node.path, "name": made.row.name, "tier": made.row.tier, "runtime": made.row.runtime,
            "parent": node.parent.map(|i| plan.nodes[i].path.clone()), "plugins": node.plugins,
            "channels": made.channels, "channels_skipped": made.skipped, "plugins_skipped": made.plugins_skipped,
        }));
        created.push(json!({
            "id": made.row.id, "name": made.row.name, "tier": made.row.tier, "parent_id": made.row.parent_id,
            "auth_token": made.token, "channels": made.channels, "channels_skipped": made.skipped,
            "plugins_skipped": made.plugins_skipped,
        }));
        ids.push(made.row.id);
    }
    let detail = json!({
        "org": plan.name, "mode": opts.mode.as_str(), "created": ids.len(),
        "removed_roots": removed.len(), "channels": channel_count, "channels_skipped": skipped_count,
        "forced": opts.force && !missing.is_empty(),
    });
    audit::append(ctx, &actor, Action::OrgImport, None, detail)?;
    let plan_json = json!({
        "dry_run": true, "org": plan.name, "mode": opts.mode.as_str(),
        "create": planned, "remove": removed, "count": ids.len(),
        "problems": problems, "missing_env": missing,
        "required_env": plan.required_env, "recommended_env": plan.recommended_env,
    });
    let result = json!({ "org": plan.name, "workspaces": created, "count": ids.len(), "removed": removed });
    Ok(Done {
        plan: plan_json,
        result,
    })
}

/// Refusals keep their code with the node named; a busy database stays a
/// 503; anything else (a database fault) is a 500 that names the node but
/// shows no internals.
fn name_node(mut e: Error, node: &PlannedNode) -> Error {
    match e.code {
        Code::Unavailable => e,
        Code::Internal => {
            tracing::error!(node = %node.label(), error = %e, "org import failed");
            Error::new(
                Code::Internal,
                format!("internal error while creating {}; nothing was imported", node.label()),
            )
        }
        _ => {
            e.message = format!("{}: {}", node.label(), e.message);
            e
        }
    }
}

/// What every node of one import shares.
struct ImportEnv<'a> {
    who: &'a Principal,
    ring: &'a Keyring,
    installable: &'a BTreeSet<String>,
    vars: &'a BTreeMap<String, String>,
    source: &'a str,
}

struct MadeNode {
    row: WorkspaceRow,
    plugins_skipped: Vec<String>,
    token: String,
    channels: Vec<String>,
    skipped: Vec<Json>,
}

/// Creates one planned workspace: row, token, plugins, config, channels,
/// and its audit entry.
fn create_node(
    ctx: &mut WriteCtx,
    env: &ImportEnv,
    node: &PlannedNode,
    parent_id: Option<WorkspaceId>,
) -> Result<MadeNode> {
    let actor = env.who.actor();
    let new = NewWorkspace {
        name: node.name.clone(),
        role: node.role.clone(),
        tier: node.tier,
        runtime: node.runtime.clone(),
        parent_id,
        layout: Layout {
            x: node.canvas.map(|c| c.x),
            y: node.canvas.map(|c| c.y),
            collapsed: false,
        },
        settings: Settings {
            external: node.external,
            ..Settings::default()
        },
        url: node.url.clone(),
    };
    // A workspace template under the node supplies its files and model;
    // what the org template gives the node wins.
    let (mut files, mut model) = (Files::new(), node.model.clone());
    if let Some(t) = node
        .template
        .as_ref()
        .map(|t| catalog::get_workspace_template(ctx, t))
        .transpose()?
        .flatten()
    {
        files = t.files;
        model = model.or(t.model);
    }
    files.extend(node.files.clone());
    // The config lists only what was installed: an agent reading it would
    // ask for the others and be refused.
    let (plugins, left_out): (Vec<&String>, Vec<&String>) =
        node.plugins.iter().partition(|p| env.installable.contains(*p));
    let config = json!({
        "model": model, "template": node.template, "plugins": plugins, "files": files,
        "schedules": node.schedules, "idle_interval_seconds": node.idle_interval_seconds,
        "external": node.external, "url": node.url, "canvas": node.canvas,
    });
    let extra = json!({ "plugins_installed": plugins, "plugins_skipped": left_out });
    let (row, token) = create_in(ctx, env.who, new, env.source, Some(&config), extra)?;
    for p in &plugins {
        catalog::install_plugin(ctx, row.id, p, &format!("local://{p}"), &actor.name)?;
    }
    let (mut channels, mut skipped) = (Vec::new(), Vec::new());
    let mut seen = BTreeSet::new();
    for spec in &node.channels {
        let verdict = (|| {
            let adapter = find_adapter(&spec.kind).map_err(|_| format!("unknown channel type {:?}", spec.kind))?;
            if !seen.insert(spec.kind.clone()) {
                return Err(format!("a second {} channel on one workspace", spec.kind));
            }
            // Global secrets may fill only credential fields, which are
            // sealed and masked; a plain field would show them to any key.
            if let Some((k, _)) = spec
                .config
                .iter()
                .find(|(k, v)| v.contains("${") && !adapter.is_sensitive(k))
            {
                return Err(format!("config.{k}: ${{VAR}} may only fill credential fields"));
            }
            let config = resolve_vars(&spec.config, env.vars)?;
            adapter.validate(&config)?;
            check_users(&spec.allowed_users)?;
            Ok((adapter, config))
        })();
        match verdict {
            Ok((adapter, config)) => {
                let new = NewChannel {
                    adapter,
                    config: &config,
                    enabled: spec.enabled.unwrap_or(true),
                    allowed_users: spec.allowed_users.clone(),
                };
                create_channel(ctx, env.ring, env.who, row.id, new)?;
                channels.push(spec.kind.clone());
            }
            Err(reason) => skipped.push(json!({"workspace": row.name, "type": spec.kind, "reason": reason})),
        }
    }
    let plugins_skipped = left_out.into_iter().cloned().collect();
    Ok(MadeNode {
        plugins_skipped,
        row,
        token,
        channels,
        skipped,
    })
}
