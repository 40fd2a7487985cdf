//! The route table: every route the server answers, and its handler. The
//! OpenAPI operations (openapi/ops.rs) list the same routes; a test keeps
//! the two, and docs/api-reference.md, in step.

use actix_web::web;

use super::error::json_config;
use super::handlers::{
    agents, approvals, audit, bundles, catalog, channels, health, keys, mcp, metrics, org, secrets, sessions, ui,
    workspaces, ws_tokens,
};
use crate::domain::org_yaml::MAX_TOTAL_BYTES;

pub use health::no_route;

/// Templates, plugins and bundles may be larger than other bodies (see
/// org_yaml's limits): their files, escaped as JSON, and room to spare.
/// Only a caller that passed its route's gate is read this far.
pub const BIG_BODY: usize = 2 * MAX_TOTAL_BYTES + 256 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let big = || web::PayloadConfig::new(BIG_BODY);
    let big_json = || json_config(BIG_BODY);
    cfg.service(web::resource("/health").get(health::health))
        .service(web::resource("/openapi.json").get(health::openapi))
        .service(web::scope("/cp").default_service(web::to(health::control_plane)))
        .service(web::resource("/metrics").get(metrics::metrics))
        // Org keys and the audit trail.
        .service(web::resource("/org/whoami").get(keys::whoami))
        .service(web::resource("/org/tokens").get(keys::list).post(keys::mint))
        // Before `{id}`: anyone may report a leaked token.
        .service(web::resource("/org/tokens/leaked").post(keys::leaked))
        .service(
            web::resource("/org/tokens/{id}")
                .delete(keys::revoke)
                .patch(keys::patch),
        )
        .service(web::resource("/org/policy").get(keys::get_policy).put(keys::put_policy))
        .service(web::resource("/org/tokens/{id}/rotate").post(keys::rotate))
        .service(web::resource("/org/tokens/{id}/activity").get(keys::activity))
        .service(web::resource("/org/audit").get(audit::list))
        .service(web::resource("/org/audit/verify").get(audit::verify))
        // Browser sign-in and sessions.
        .service(
            web::resource("/login")
                .get(sessions::link_page)
                .post(sessions::sign_in_with_link),
        )
        .service(
            web::resource("/org/sessions")
                .get(sessions::list)
                .post(sessions::sign_in_with_key),
        )
        .service(web::resource("/org/sessions/current").delete(sessions::log_out))
        .service(web::resource("/org/sessions/{id}").delete(sessions::revoke))
        // Workspaces, their tokens and the agent's routes.
        .service(
            web::resource("/workspaces")
                .get(workspaces::list)
                .post(workspaces::create),
        )
        .service(
            web::resource("/workspaces/{id}")
                .get(workspaces::get)
                .patch(workspaces::patch)
                .delete(workspaces::delete),
        )
        .service(web::resource("/workspaces/{id}/heartbeat").post(workspaces::heartbeat))
        .service(web::resource("/workspaces/{id}/state").get(agents::state))
        .service(web::resource("/registry/register").post(agents::register))
        .service(web::resource("/registry/heartbeat").post(agents::heartbeat))
        .service(web::resource("/registry/update-card").post(agents::update_card))
        .service(web::resource("/workspaces/{id}/config").get(workspaces::config))
        .service(web::resource("/workspaces/{id}/pause").post(workspaces::pause))
        .service(web::resource("/workspaces/{id}/resume").post(workspaces::resume))
        .service(
            web::resource("/workspaces/{id}/tokens")
                .get(ws_tokens::list)
                .post(ws_tokens::mint),
        )
        .service(web::resource("/workspaces/{id}/tokens/{token_id}").delete(ws_tokens::revoke))
        .service(web::resource("/workspaces/{id}/tokens/{token_id}/activity").get(ws_tokens::activity))
        // Secrets.
        .service(
            web::resource("/workspaces/{id}/secrets")
                .get(secrets::list_for_workspace)
                .put(secrets::put_for_workspace)
                .post(secrets::put_for_workspace),
        )
        .service(web::resource("/workspaces/{id}/secrets/values").get(secrets::values))
        .service(web::resource("/workspaces/{id}/secrets/{key}").delete(secrets::delete_for_workspace))
        .service(
            web::resource("/settings/secrets")
                .get(secrets::list_global)
                .put(secrets::put_global)
                .post(secrets::put_global),
        )
        .service(web::resource("/settings/secrets/{key}").delete(secrets::delete_global))
        // Approvals.
        .service(web::resource("/approvals/pending").get(approvals::pending))
        .service(
            web::resource("/workspaces/{id}/approvals")
                .get(approvals::list)
                .post(approvals::request),
        )
        .service(web::resource("/workspaces/{id}/approvals/{approval_id}").get(approvals::get))
        .service(web::resource("/workspaces/{id}/approvals/{approval_id}/decide").post(approvals::decide))
        // Channels.
        .service(web::resource("/channels/adapters").get(channels::adapters))
        .service(
            web::resource("/workspaces/{id}/channels")
                .get(channels::list)
                .post(channels::create),
        )
        .service(
            web::resource("/workspaces/{id}/channels/{channel_id}")
                .patch(channels::patch)
                .delete(channels::delete),
        )
        // Org templates and import.
        .service(
            web::resource("/org/templates")
                .app_data(big())
                .get(org::list)
                .post(org::register),
        )
        .service(web::resource("/org/templates/{dir}").get(org::get).delete(org::delete))
        .service(web::resource("/org/import").app_data(big()).post(org::import))
        // Workspace templates and plugins.
        .service(web::resource("/templates").get(catalog::list_templates))
        .service(
            web::resource("/templates/import")
                .app_data(big())
                .app_data(big_json())
                .post(catalog::import_template),
        )
        .service(
            web::resource("/plugins")
                .app_data(big())
                .app_data(big_json())
                .get(catalog::list_plugins)
                .post(catalog::register_plugin),
        )
        .service(web::resource("/plugins/sources").get(catalog::plugin_sources))
        .service(
            web::resource("/org/plugins/allowlist")
                .get(catalog::get_allowlist)
                .put(catalog::put_allowlist),
        )
        .service(
            web::resource("/workspaces/{id}/plugins")
                .get(catalog::list_installed)
                .post(catalog::install),
        )
        .service(web::resource("/workspaces/{id}/plugins/{name}").delete(catalog::uninstall))
        .service(web::resource("/workspaces/{id}/plugins/{name}/download").get(catalog::download))
        // Bundles.
        .service(
            web::resource("/bundles/import")
                .app_data(big_json())
                .post(bundles::import),
        )
        .service(web::resource("/bundles/export/{id}").get(bundles::export))
        // MCP (tool arguments may carry templates and bundles: the handler
        // reads up to BIG_BODY, once the caller has passed its checks).
        .service(web::resource("/mcp").post(mcp::post))
        // The pages.
        .service(web::resource("/").get(ui::to_pages))
        .service(web::resource("/ui").get(ui::to_pages))
        .service(web::resource("/ui/").get(ui::index))
        .service(web::resource("/ui/app.js").get(ui::app_js))
        .service(web::resource("/ui/keys.js").get(ui::keys_js))
        .service(web::resource("/ui/app.css").get(ui::app_css));
}
