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
