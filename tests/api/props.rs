//! Property tests: hostile input never panics, hangs or gets a 5xx. The
//! same targets are fuzzed for longer by `fuzz/run.sh` (cargo-fuzz).

use molecule_tenant::domain::org_yaml::{self, Files};
use molecule_tenant::domain::{org_plan, token};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::helpers::spawn_app;

proptest! {
    #![proptest_config(Config::with_cases(2000))]

    #[test]
    fn token_parsing_never_panics(s in "\\PC{0,80}") {
        let _ = token::parse(&s);
    }

    #[test]
    fn a_token_changed_anywhere_is_refused(at in 0usize..57, with in "[0-9A-Za-z_]") {
        let t = token::generate(token::TokenKind::Org).unwrap().plaintext;
        let mut bytes = t.clone().into_bytes();
        bytes[at] = with.as_bytes()[0];
        let changed = String::from_utf8(bytes).unwrap();
        prop_assume!(changed != t);
        prop_assert_eq!(token::parse(&changed), None);
    }
}

/// YAML-shaped text: fragments that exercise anchors, aliases, includes,
/// nesting and quoting, joined at random.
fn yamlish() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("name: team\n".to_string()),
        Just("workspaces:\n".to_string()),
        Just("  - name: a\n".to_string()),
        Just("    children:\n".to_string()),
        Just("&a [*a, *a, *a]".to_string()),
        Just("!include part.yaml".to_string()),
        Just("!include ../../etc/passwd".to_string()),
        Just("<<: *a\n".to_string()),
        Just("{".to_string()),
        Just("[".to_string()),
        Just("- ".to_string()),
        Just(": ".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("'q".to_string()),
        Just("\"".to_string()),
        Just("# c\n".to_string()),
        Just("tier: 9\n".to_string()),
        "\\PC{0,12}",
    ];
    prop::collection::vec(fragment, 0..40).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(Config::with_cases(1000))]

    #[test]
    fn org_yaml_with_includes_never_panics(main in yamlish(), part in yamlish()) {
        let files = Files::from([
            (org_yaml::ENTRY.to_string(), main),
            ("part.yaml".to_string(), part),
        ]);
        if let Ok(files) = org_yaml::check_files(&files) {
            if let Ok(doc) = org_yaml::expand(&files, org_yaml::ENTRY) {
                let _ = org_plan::plan(doc, Some(&files));
            }
        }
    }

    #[test]
    fn include_paths_never_leave_the_template(from in "[a-z./]{0,12}", rel in "[a-z./]{0,16}") {
        if let Ok(p) = org_yaml::resolve(&from, &rel) {
            prop_assert!(!p.starts_with('/') && !p.split('/').any(|s| s == ".." || s.is_empty()), "{p}");
        }
    }
}

/// Field names the routes know, and some they do not.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "name",
            "role",
            "tier",
            "runtime",
            "parent_id",
            "workspaces",
            "expires_in",
            "expires_at",
            "key",
            "value",
            "action",
            "reason",
            "task_id",
            "context",
            "decision",
            "note",
            "mode",
            "dir",
            "yaml",
            "files",
            "secrets",
            "template",
            "model",
            "type",
            "config",
            "plugins",
            "version",
            "active_tasks",
            "current_task",
            "grace_seconds",
            "code",
            "paused",
            "workspace_id",
            "id",
            "url",
            "agent_card",
            "canvas",
            "x",
            "y",
            "collapsed",
            "budget_limit",
            "error_rate",
            "uptime_seconds",
        ])
        .prop_map(String::from),
        "\\PC{0,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::from),
        Just(Value::from("00000000-0000-4000-8000-000000000000")),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field(), inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn arbitrary_json_bodies_never_get_a_5xx() {
    let app = spawn_app();
    let (ws, ws_token) = app.workspace("target", None);
    let admin = app.admin.clone();
    // (method, path, credential) for every route that reads a JSON body.
    let routes: Vec<(&str, String, String)> = vec![
        ("POST", "/workspaces".into(), admin.clone()),
        ("POST", "/org/tokens".into(), admin.clone()),
        ("PUT", "/settings/secrets".into(), admin.clone()),
        ("PUT", format!("/workspaces/{ws}/secrets"), admin.clone()),
        ("PATCH", format!("/workspaces/{ws}"), admin.clone()),
        ("POST", format!("/workspaces/{ws}/tokens"), admin.clone()),
        ("POST", format!("/workspaces/{ws}/heartbeat"), ws_token.clone()),
        ("POST", "/registry/heartbeat".into(), ws_token.clone()),
        ("POST", "/registry/register".into(), ws_token.clone()),
        ("POST", "/registry/update-card".into(), ws_token.clone()),
        ("POST", format!("/workspaces/{ws}/approvals"), ws_token.clone()),
        ("POST", format!("/workspaces/{ws}/channels"), admin.clone()),
        ("POST", format!("/workspaces/{ws}/plugins"), admin.clone()),
        ("POST", "/org/import".into(), admin.clone()),
        ("POST", "/org/templates".into(), admin.clone()),
        ("POST", "/templates/import".into(), admin.clone()),
        ("POST", "/plugins".into(), admin.clone()),
        ("PUT", "/org/plugins/allowlist".into(), admin.clone()),
        ("POST", "/bundles/import".into(), admin.clone()),
        ("POST", "/login".into(), String::new()),
    ];
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut runner = TestRunner::new(Config::with_cases(600));
    let strategy = (0..routes.len(), json_value());
    runner
        .run(&strategy, |(i, body)| {
            let (method, path, token) = &routes[i];
            let mut req = ureq::http::Request::builder()
                .method(*method)
                .uri(app.url(path))
                .header("Content-Type", "application/json")
                .header("X-Molecule-UI", "1");
            if !token.is_empty() {
                req = req.header("Authorization", format!("Bearer {token}"));
            }
            let res = agent.run(req.body(body.to_string()).unwrap()).unwrap();
            let r = crate::helpers::read_response(res);
            prop_assert!(r.status < 500, "{method} {path} with {body}: {} {}", r.status, r.text);
            if r.status >= 400 {
                prop_assert!(r.body["error"].is_string() && r.body["code"].is_string(), "{}", r.text);
            }
            Ok(())
        })
        .unwrap();
    // And the server is still whole.
    assert_eq!(app.get("/org/whoami", &app.admin).status, 200);
}

/// Every JSON body is an object: an array (whose elements serde would
/// otherwise take as the fields, in order), a string, a number, `true` or
/// `null` gets `400 invalid_json` on every route that reads one, and
/// changes nothing. The routes are checked against the OpenAPI document,
/// so a new route cannot be left out.
#[test]
fn no_route_takes_a_body_that_is_not_an_object() {
    let app = spawn_app();
    let (ws, ws_token) = app.workspace("target", None);
    let admin = app.admin.clone();
    let key = app.mint(serde_json::json!({"name": "victim"}));
    let key_id = key["id"].as_str().unwrap().to_string();
    let asked = app.post(
        &format!("/workspaces/{ws}/approvals"),
        &ws_token,
        serde_json::json!({"action": "deploy"}),
    );
    let approval = asked.body["approval_id"].as_str().unwrap().to_string();
    let ch = app.post(
        &format!("/workspaces/{ws}/channels"),
        &admin,
        serde_json::json!({"channel_type": "webhook", "config": {"url": "https://hooks.example.com/x"}}),
    );
    let channel = ch.body["id"].as_str().unwrap().to_string();
    let routes: Vec<(&str, String, String)> = vec![
        ("POST", "/org/tokens".into(), admin.clone()),
        ("PATCH", format!("/org/tokens/{key_id}"), admin.clone()),
        ("POST", format!("/org/tokens/{key_id}/rotate"), admin.clone()),
        ("POST", "/org/tokens/leaked".into(), String::new()),
        ("PUT", "/org/policy".into(), admin.clone()),
        ("POST", "/login".into(), String::new()),
        ("POST", "/workspaces".into(), admin.clone()),
        ("PATCH", format!("/workspaces/{ws}"), admin.clone()),
        ("POST", format!("/workspaces/{ws}/heartbeat"), ws_token.clone()),
        ("POST", "/registry/register".into(), ws_token.clone()),
        ("POST", "/registry/heartbeat".into(), ws_token.clone()),
        ("POST", "/registry/update-card".into(), ws_token.clone()),
        ("POST", format!("/workspaces/{ws}/tokens"), admin.clone()),
        ("PUT", format!("/workspaces/{ws}/secrets"), admin.clone()),
        ("POST", format!("/workspaces/{ws}/secrets"), admin.clone()),
        ("PUT", "/settings/secrets".into(), admin.clone()),
        ("POST", "/settings/secrets".into(), admin.clone()),
        ("POST", format!("/workspaces/{ws}/approvals"), ws_token.clone()),
        (
            "POST",
            format!("/workspaces/{ws}/approvals/{approval}/decide"),
            admin.clone(),
        ),
        ("POST", format!("/workspaces/{ws}/channels"), admin.clone()),
        ("PATCH", format!("/workspaces/{ws}/channels/{channel}"), admin.clone()),
        ("POST", "/org/templates".into(), admin.clone()),
        ("POST", "/org/import".into(), admin.clone()),
        ("POST", "/templates/import".into(), admin.clone()),
        ("POST", "/plugins".into(), admin.clone()),
        ("PUT", "/org/plugins/allowlist".into(), admin.clone()),
        ("POST", format!("/workspaces/{ws}/plugins"), admin.clone()),
        ("POST", "/bundles/import".into(), admin.clone()),
    ];
    // Every operation the document says takes a JSON body is here (MCP's
    // JSON-RPC aside: its envelope is the protocol's).
    let doc = app.get("/openapi.json", "").body;
    let shape = |path: &str| -> String {
        path.split('/')
            .map(|s| if s.starts_with('{') || s.len() == 36 { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let listed: std::collections::BTreeSet<String> =
        routes.iter().map(|(m, p, _)| format!("{m} {}", shape(p))).collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let json = op["requestBody"]["content"]["application/json"].is_object();
            if json && path != "/mcp" {
                let want = format!("{} {}", method.to_uppercase(), shape(path));
                assert!(listed.contains(&want), "{want} is not covered");
            }
        }
    }
    let before = app.get("/org/audit?limit=1", &admin).body["entries"][0]["seq"].clone();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    for (method, path, token) in &routes {
        for body in [
            r#"["k","read-only",[],3600,null]"#,
            "[]",
            r#""text""#,
            "7",
            "true",
            "null",
        ] {
            let mut req = ureq::http::Request::builder()
                .method(*method)
                .uri(app.url(path))
                .header("Content-Type", "application/json")
                .header("X-Molecule-UI", "1");
            if !token.is_empty() {
                req = req.header("Authorization", format!("Bearer {token}"));
            }
            let r = crate::helpers::read_response(agent.run(req.body(body.to_string()).unwrap()).unwrap());
            assert_eq!(
                (r.status, r.body["code"].as_str()),
                (400, Some("invalid_json")),
                "{method} {path} with {body}: {}",
                r.text
            );
        }
    }
    // Nothing changed (a refused body writes nothing, not even an entry).
    assert_eq!(app.get("/org/audit?limit=1", &admin).body["entries"][0]["seq"], before);
}
