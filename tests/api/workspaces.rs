use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[test]
fn a_workspace_round_trip_with_its_token_in_the_create_response() {
    let app = spawn_app();
    let r = app.post(
        "/workspaces",
        &app.admin,
        json!({"name": "research", "role": "analyst", "tier": 3, "runtime": "claude-code"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let w = &r.body;
    let id = w["id"].as_str().unwrap();
    assert!(w["auth_token"].as_str().unwrap().starts_with("mol_ws_"));
    assert_eq!(w["status"], "awaiting_agent");
    assert_eq!(
        (w["tier"].clone(), w["runtime"].clone(), w["role"].clone()),
        (json!(3), json!("claude-code"), json!("analyst"))
    );

    let list = app.get("/workspaces", &app.admin);
    let listed = &list.body.as_array().unwrap()[0];
    for field in [
        "id",
        "name",
        "role",
        "tier",
        "runtime",
        "status",
        "parent_id",
        "created_at",
        "last_heartbeat_at",
        "active_tasks",
        "current_task",
        "idle",
    ] {
        assert!(listed.get(field).is_some(), "{field}");
    }
    assert!(listed.get("auth_token").is_none());

    let got = app.get(&format!("/workspaces/{id}"), &app.admin);
    assert_eq!(got.body["name"], "research");
    let p = app.patch(
        &format!("/workspaces/{id}"),
        &app.admin,
        json!({"name": "research-2", "role": null, "tier": 1}),
    );
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(
        (p.body["name"].clone(), p.body["role"].clone(), p.body["tier"].clone()),
        (json!("research-2"), Value::Null, json!(1))
    );
    assert_eq!(p.body["runtime"], "claude-code", "untouched fields stay");
    let d = app.delete(&format!("/workspaces/{id}"), &app.admin);
    assert_eq!(d.body, json!({"status": "removed", "cascade_deleted": 0}));
    assert_eq!(app.get(&format!("/workspaces/{id}"), &app.admin).status, 404);
    assert_eq!(app.delete(&format!("/workspaces/{id}"), &app.admin).status, 404);
}

#[test]
fn defaults_fill_what_the_body_leaves_out() {
    let app = spawn_app();
    let r = app.post("/workspaces", &app.admin, json!({"name": "bare"}));
    assert_eq!(
        (
            r.body["tier"].clone(),
            r.body["runtime"].clone(),
            r.body["parent_id"].clone()
        ),
        (json!(2), json!("langgraph"), Value::Null)
    );
}

#[test]
fn bad_workspace_input_gets_a_clear_400() {
    let app = spawn_app();
    let (id, _) = app.workspace("w", None);
    let cases = [
        (json!({}), "name"),
        (json!({"name": ""}), "name must not be empty"),
        (json!({"name": "x".repeat(256)}), "at most 255"),
        (json!({"name": "a\nb"}), "control"),
        (json!({"name": "w", "tier": 0}), "tier"),
        (json!({"name": "w", "tier": 5}), "tier"),
        (json!({"name": "w", "tier": "high"}), "invalid type"),
        (json!({"name": "w", "runtime": "r".repeat(101)}), "at most 100"),
        (json!({"name": "w", "parent_id": "nope"}), "parent_id"),
        (
            json!({"name": "w", "parent_id": "00000000-0000-4000-8000-000000000000"}),
            "no such workspace",
        ),
        (json!({"name": "w", "colour": "red"}), "unknown field"),
        (json!(["name"]), "expected a JSON object"),
    ];
    for (body, words) in cases {
        let r = app.post("/workspaces", &app.admin, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.body["error"].as_str().unwrap().contains(words), "{body}: {}", r.text);
    }
    for (body, words) in [
        (json!({"name": null}), "cannot be null"),
        (json!({"tier": 9}), "tier"),
        (json!({"owner": "me"}), "unknown field"),
        (json!({"parent_id": 7}), "parent_id"),
        (json!("x"), "JSON object"),
    ] {
        let r = app.patch(&format!("/workspaces/{id}"), &app.admin, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.body["error"].as_str().unwrap().contains(words), "{body}: {}", r.text);
    }
    let bad_id = app.get("/workspaces/..%2F..%2Fetc", &app.admin);
    assert_eq!(bad_id.status, 400);
    assert_eq!(bad_id.code(), "invalid_id");
    assert_eq!(
        app.get("/workspaces/00000000-0000-4000-8000-000000000000", &app.admin)
            .status,
        404
    );
    assert_eq!(
        app.get("/workspaces", &app.admin).body.as_array().unwrap().len(),
        1,
        "nothing half-made"
    );
}

#[test]
fn a_parent_cycle_is_refused() {
    let app = spawn_app();
    let (a, _) = app.workspace("a", None);
    let (b, _) = app.workspace("b", Some(&a));
    let (c, _) = app.workspace("c", Some(&b));
    for (id, parent) in [(&a, &c), (&a, &a), (&b, &c)] {
        let r = app.patch(&format!("/workspaces/{id}"), &app.admin, json!({"parent_id": parent}));
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(r.code(), "parent_cycle");
    }
    assert_eq!(
        app.patch(&format!("/workspaces/{c}"), &app.admin, json!({"parent_id": a}))
            .status,
        200
    );
}

#[test]
fn deleting_a_parent_needs_confirmation_and_revokes_every_token_below_it() {
    let app = spawn_app();
    let (root, root_tok) = app.workspace("root", None);
    let (kid, kid_tok) = app.workspace("kid", Some(&root));
    let (_, grandkid_tok) = app.workspace("grandkid", Some(&kid));
    let (other, other_tok) = app.workspace("other", None);

    let r = app.delete(&format!("/workspaces/{root}"), &app.admin);
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "confirmation_required");
    assert_eq!(r.body["children"], json!([{"id": kid, "name": "kid"}]));
    assert_eq!(r.body["children_count"], 1);
    assert_eq!(
        app.get(&format!("/workspaces/{root}"), &app.admin).status,
        200,
        "nothing removed"
    );

    let r = app.delete(&format!("/workspaces/{root}?confirm=true"), &app.admin);
    assert_eq!(r.body, json!({"status": "removed", "cascade_deleted": 2}));
    for tok in [&root_tok, &kid_tok, &grandkid_tok] {
        assert_eq!(
            app.post_empty(&format!("/workspaces/{root}/heartbeat"), tok).status,
            401
        );
    }
    assert_eq!(
        app.post_empty(&format!("/workspaces/{other}/heartbeat"), &other_tok)
            .status,
        200
    );
    let left: Vec<_> = app
        .get("/workspaces", &app.admin)
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].clone())
        .collect();
    assert_eq!(left, vec![json!(other)]);
}

#[test]
fn heartbeats_drive_status_and_idleness() {
    let app = spawn_app();
    let (id, tok) = app.workspace("agent", None);
    let hb = |body: Value| app.post(&format!("/workspaces/{id}/heartbeat"), &tok, body);
    let status = || app.get(&format!("/workspaces/{id}"), &app.admin).body;

    assert_eq!(status()["status"], "awaiting_agent");
    let r = hb(json!({"active_tasks": 2, "current_task": "triage"}));
    assert_eq!(r.status, 200);
    let s = status();
    assert_eq!(
        (
            s["status"].clone(),
            s["active_tasks"].clone(),
            s["current_task"].clone(),
            s["idle"].clone()
        ),
        (json!("online"), json!(2), json!("triage"), json!(false))
    );

    hb(json!({"active_tasks": 0}));
    // A live agent heartbeats every minute; ten quiet minutes make it idle.
    for _ in 0..9 {
        app.clock.advance(Duration::from_secs(60));
        hb(json!({"active_tasks": 0}));
    }
    app.clock.advance(Duration::from_secs(59));
    hb(json!({"active_tasks": 0}));
    assert_eq!(status()["idle"], false, "not idle before ten minutes");
    app.clock.advance(Duration::from_secs(2));
    hb(json!({"active_tasks": 0}));
    assert_eq!(status()["idle"], true);
    hb(json!({"active_tasks": 1}));
    assert_eq!(status()["idle"], false);

    app.clock.advance(Duration::from_secs(91));
    assert_eq!(status()["status"], "offline");
    assert_eq!(status()["idle"], false);

    assert_eq!(
        app.post_empty(&format!("/workspaces/{id}/pause"), &app.admin).status,
        200
    );
    hb(json!({}));
    assert_eq!(status()["status"], "paused");
    let resumed = app.post_empty(&format!("/workspaces/{id}/resume"), &app.admin);
    assert_eq!(resumed.body["status"], "online");
}

#[test]
fn heartbeats_take_only_the_workspace_token_and_sane_values() {
    let app = spawn_app();
    let (id, tok) = app.workspace("agent", None);
    let path = format!("/workspaces/{id}/heartbeat");
    assert_eq!(
        app.post(&path, &app.admin, json!({})).status,
        403,
        "an org key is not the agent"
    );
    assert_eq!(app.post(&path, &tok, json!({"active_tasks": -1})).status, 400);
    assert_eq!(app.post(&path, &tok, json!({"active_tasks": "many"})).status, 400);
    assert_eq!(
        app.post(&path, &tok, json!({"current_task": "x".repeat(1001)})).status,
        400
    );
    assert_eq!(app.post_empty(&path, &tok).status, 200, "the body is optional");
}

#[test]
fn the_guide_question_which_workspaces_are_idle_has_a_direct_answer() {
    let app = spawn_app();
    let (busy, busy_tok) = app.workspace("busy", None);
    let (lazy, lazy_tok) = app.workspace("lazy", None);
    app.post(
        &format!("/workspaces/{busy}/heartbeat"),
        &busy_tok,
        json!({"active_tasks": 3}),
    );
    app.post(
        &format!("/workspaces/{lazy}/heartbeat"),
        &lazy_tok,
        json!({"active_tasks": 0}),
    );
    for _ in 0..10 {
        app.clock.advance(Duration::from_secs(61));
        app.post(
            &format!("/workspaces/{busy}/heartbeat"),
            &busy_tok,
            json!({"active_tasks": 3}),
        );
        app.post(
            &format!("/workspaces/{lazy}/heartbeat"),
            &lazy_tok,
            json!({"active_tasks": 0}),
        );
    }
    app.post(
        &format!("/workspaces/{busy}/heartbeat"),
        &busy_tok,
        json!({"active_tasks": 3}),
    );
    app.post(
        &format!("/workspaces/{lazy}/heartbeat"),
        &lazy_tok,
        json!({"active_tasks": 0}),
    );
    let list = app.get("/workspaces", &app.admin);
    let idle: Vec<_> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["idle"] == true)
        .map(|w| w["name"].clone())
        .collect();
    assert_eq!(idle, vec![json!("lazy")]);
}

#[test]
fn an_offline_gap_restarts_the_idle_clock() {
    let app = spawn_app();
    let (id, tok) = app.workspace("agent", None);
    let hb = || {
        assert_eq!(
            app.post(&format!("/workspaces/{id}/heartbeat"), &tok, json!({"active_tasks": 0}))
                .status,
            200
        )
    };
    let idle = || app.get(&format!("/workspaces/{id}"), &app.admin).body["idle"].clone();
    hb();
    app.clock.advance(Duration::from_secs(3600));
    hb();
    assert_eq!(idle(), false, "back from an hour offline is not ten idle minutes");
    for _ in 0..10 {
        app.clock.advance(Duration::from_secs(61));
        hb();
    }
    assert_eq!(idle(), true);
}

#[test]
fn workspaces_nest_at_most_sixty_four_deep() {
    let app = spawn_app();
    let (mut parent, _) = app.workspace("level-1", None);
    for level in 2..=64 {
        parent = app.workspace(&format!("level-{level}"), Some(&parent)).0;
    }
    let r = app.post(
        "/workspaces",
        &app.admin,
        json!({"name": "level-65", "parent_id": parent}),
    );
    assert_eq!(r.status, 400);
    assert!(r.body["error"].as_str().unwrap().contains("at most 64"));
    let (other, _) = app.workspace("other", None);
    let (other_kid, _) = app.workspace("other-kid", Some(&other));
    let _ = other_kid;
    let r = app.patch(
        &format!("/workspaces/{other}"),
        &app.admin,
        json!({"parent_id": parent}),
    );
    assert_eq!(r.status, 400, "moving a two-level subtree under level 64 would make 66");
}

#[test]
fn a_huge_subtree_is_deleted_whole_and_its_confirmation_stays_small() {
    let app = spawn_app();
    let (root, root_tok) = app.workspace("root", None);
    let now = app.clock.now_ms();
    app.state
        .db
        .write(now, |ctx| {
            let mut stmt = ctx.prepare(
                "INSERT INTO workspaces (id, name, tier, runtime, parent_id, created_at, updated_at)
                 VALUES (?1, 'kid', 1, 'langgraph', ?2, ?3, ?3)",
            )?;
            for _ in 0..40_000 {
                stmt.execute(rusqlite::params![molecule_tenant::domain::ids::new_id(), root, now])?;
            }
            Ok(())
        })
        .unwrap();
    let r = app.delete(&format!("/workspaces/{root}"), &app.admin);
    assert_eq!(r.status, 409);
    assert_eq!(r.body["children_count"], 40_000);
    assert_eq!(r.body["children"].as_array().unwrap().len(), 100);
    let r = app.delete(&format!("/workspaces/{root}?confirm=true"), &app.admin);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["cascade_deleted"], 40_000);
    assert_eq!(app.get("/workspaces", &app.admin).body, json!([]));
    assert_eq!(
        app.post_empty(&format!("/workspaces/{root}/heartbeat"), &root_tok)
            .status,
        401
    );
}

#[test]
fn the_list_pages_with_limit_and_cursor() {
    let app = spawn_app();
    for i in 0..5 {
        app.workspace(&format!("w{i}"), None);
    }
    let mut seen = Vec::new();
    let mut path = "/workspaces?limit=2".to_string();
    loop {
        let page = app.get(&path, &app.admin);
        assert_eq!(page.status, 200, "{}", page.text);
        seen.extend(
            page.body
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["name"].as_str().unwrap().to_string()),
        );
        match page.headers.get("x-next-cursor") {
            Some(c) => {
                assert!(page.headers["link"].contains("rel=\"next\""));
                path = format!("/workspaces?limit=2&cursor={c}");
            }
            None => break,
        }
    }
    assert_eq!(seen, vec!["w0", "w1", "w2", "w3", "w4"]);
    let all = app.get("/workspaces", &app.admin);
    assert_eq!(all.body.as_array().unwrap().len(), 5);
    assert!(!all.headers.contains_key("x-next-cursor"));
    for bad in [
        "?limit=0",
        "?limit=1001",
        "?cursor=abc",
        "?cursor=-4",
        "?limit=x",
        "?page=2",
    ] {
        assert_eq!(app.get(&format!("/workspaces{bad}"), &app.admin).status, 400, "{bad}");
    }
}

/// The list is served from a cache while nothing changes; any write, and
/// the clock reaching a workspace's next status change, make it read anew.
#[test]
fn the_listed_status_follows_writes_and_the_clock_at_once() {
    let app = crate::helpers::spawn_with(|s| {
        s.offline_after = std::time::Duration::from_secs(90);
        s.idle_after = std::time::Duration::from_secs(600);
    });
    let (id, tok) = app.workspace("agent", None);
    let status = || {
        let list = app.get("/workspaces?limit=10", &app.admin).body;
        let w = list
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == id.as_str())
            .cloned()
            .unwrap();
        (w["status"].as_str().unwrap().to_string(), w["idle"].as_bool().unwrap())
    };
    assert_eq!(status(), ("awaiting_agent".into(), false));
    assert_eq!(
        status(),
        ("awaiting_agent".into(), false),
        "twice: the second from the cache"
    );
    let hb = app.post(
        &format!("/workspaces/{id}/heartbeat"),
        &tok,
        serde_json::json!({"active_tasks": 0}),
    );
    assert_eq!(hb.status, 200, "{}", hb.text);
    assert_eq!(status(), ("online".into(), false), "a write is seen at once");
    app.clock.advance(std::time::Duration::from_secs(89));
    assert_eq!(status().0, "online");
    app.clock.advance(std::time::Duration::from_millis(1001));
    assert_eq!(status().0, "offline", "the clock alone, to the millisecond");
    let (other, _) = app.workspace("second", None);
    let list = app.get("/workspaces?limit=10", &app.admin).body;
    assert!(list.as_array().unwrap().iter().any(|w| w["id"] == other.as_str()));
}
