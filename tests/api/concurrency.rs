//! Many writers at once: no 5xx, nothing lost.

use serde_json::json;

use crate::helpers::spawn_app;

#[test]
fn thirty_two_concurrent_writers_get_no_5xx_and_lose_nothing() {
    let app = spawn_app();
    let (ws, _) = app.workspace("shared", None);
    let statuses: Vec<(u16, u16)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let (base, admin, ws) = (app.base.clone(), app.admin.clone(), ws.clone());
                s.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    let auth = format!("Bearer {admin}");
                    let mut out = Vec::new();
                    for j in 0..10 {
                        let a = agent
                            .post(format!("{base}/workspaces"))
                            .header("Authorization", &auth)
                            .send_json(json!({"name": format!("w-{i}-{j}"), "parent_id": ws}))
                            .unwrap()
                            .status()
                            .as_u16();
                        let b = agent
                            .put(format!("{base}/workspaces/{ws}/secrets"))
                            .header("Authorization", &auth)
                            .send_json(json!({"key": format!("K_{i}_{j}"), "value": "v"}))
                            .unwrap()
                            .status()
                            .as_u16();
                        out.push((a, b));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().all(|&(a, b)| a == 201 && b == 200),
        "{:?}",
        statuses
            .iter()
            .filter(|&&(a, b)| a != 201 || b != 200)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        app.get("/workspaces", &app.admin).body.as_array().unwrap().len(),
        1 + 320
    );
    assert_eq!(
        app.get(&format!("/workspaces/{ws}/secrets"), &app.admin)
            .body
            .as_array()
            .unwrap()
            .len(),
        320
    );
    assert_eq!(app.count("audit_log"), 1 + 640, "every acknowledged write is audited");
}

/// Writes that fail inside a shared group commit are undone alone: the
/// others in the same transaction stand, and the audit trail and the
/// credential counter hold exactly what was acknowledged.
#[test]
fn failing_writes_in_a_group_commit_leave_the_others_whole() {
    let app = spawn_app();
    let (ws, _) = app.workspace("shared", None);
    // A fault on the last step of a create (its audit entry), after its
    // workspace and token rows were written, for names starting "bad-".
    app.state
        .db
        .write(app.clock.now_ms(), |ctx| {
            ctx.execute_batch(
                "CREATE TRIGGER fail_bad BEFORE INSERT ON audit_log WHEN NEW.detail LIKE '%\"bad-%'
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            )?;
            Ok(())
        })
        .unwrap();
    let audit_before = app.count("audit_log");
    let results: Vec<(bool, u16, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let (base, admin, ws) = (app.base.clone(), app.admin.clone(), ws.clone());
                s.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    let auth = format!("Bearer {admin}");
                    (0..8)
                        .map(|j| {
                            let good = (i + j) % 2 == 0;
                            let name = if good {
                                format!("w-{i}-{j}")
                            } else {
                                format!("bad-{i}-{j}")
                            };
                            let mut r = agent
                                .post(format!("{base}/workspaces"))
                                .header("Authorization", &auth)
                                .send_json(json!({"name": name, "parent_id": ws}))
                                .unwrap();
                            let status = r.status().as_u16();
                            let body: serde_json::Value = r.body_mut().read_json().unwrap();
                            (good, status, body["auth_token"].as_str().map(String::from))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let good: Vec<_> = results.iter().filter(|r| r.0).collect();
    assert!(good.iter().all(|r| r.1 == 201), "every valid create succeeded");
    assert!(
        results.iter().filter(|r| !r.0).all(|r| r.1 == 500),
        "every faulty one failed"
    );
    // Each acknowledged workspace exists and its token works.
    assert_eq!(
        app.get("/workspaces", &app.admin).body.as_array().unwrap().len(),
        1 + good.len()
    );
    for (_, _, token) in &good {
        assert_eq!(app.get("/org/whoami", token.as_deref().unwrap()).status, 200);
    }
    // Nothing of the failed ones remains: no token rows, no audit entries.
    assert_eq!(app.count("workspace_tokens"), 1 + good.len() as i64);
    assert_eq!(app.count("audit_log") - audit_before, good.len() as i64);
    let data = app.dir.path().join("data");
    let checked = molecule_tenant::service::audit::check(&app.state.db, &data, &data.join("audit.key")).unwrap();
    assert!(matches!(
        checked.verdict,
        molecule_tenant::store::audit::Verdict::Intact { .. }
    ));
}
