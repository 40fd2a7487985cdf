use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

const SLACK_HOOK: &str = "https://hooks.slack.com/services/T0001/B0001/abcdefghijklmnopSECRET";
const TG_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

fn create(app: &TestApp, ws: &str, body: serde_json::Value) -> crate::helpers::Resp {
    app.post(&format!("/workspaces/{ws}/channels"), &app.admin, body)
}

#[test]
fn the_adapters_and_their_schemas_are_listed() {
    let app = spawn_app();
    let r = app.get("/channels/adapters", &app.admin);
    assert_eq!(r.status, 200);
    let types: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, vec!["discord", "lark", "slack", "telegram", "webhook"]);
    let tg = &r.body[3]["config_schema"];
    assert_eq!(
        tg[0],
        json!({"key": "bot_token", "label": "Bot token", "type": "password", "required": true, "sensitive": true, "placeholder": "123456789:AA…"})
    );
    assert_eq!(app.get("/channels/adapters", "").status, 401);
}

#[test]
fn org_keys_see_credentials_masked_and_the_agent_sees_them_in_full() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("w", None);
    let r = create(
        &app,
        &ws,
        json!({"channel_type": "slack", "config": {"webhook_url": SLACK_HOOK, "username": "bot"}, "allowed_users": ["U1"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["channel_type"], "slack");
    assert_eq!(r.body["config"]["webhook_url"], "https://hooks.slack.com/••••••••");
    assert_eq!(r.body["config"]["username"], "bot");
    assert_eq!(r.body["enabled"], true);
    assert_eq!(r.body["allowed_users"], json!(["U1"]));
    for key in [app.admin.clone(), app.mint_role("read-only", &[])] {
        let list = app.get(&format!("/workspaces/{ws}/channels"), &key);
        assert_eq!(list.status, 200);
        assert!(!list.text.contains("abcdefghijklmnop"), "{}", list.text);
    }
    let agent = app.get(&format!("/workspaces/{ws}/channels"), &tok);
    assert_eq!(agent.body[0]["config"]["webhook_url"], SLACK_HOOK);
    let audit = app.get("/org/audit", &app.admin);
    assert!(!audit.text.contains("abcdefghijklmnop"));
}

#[test]
fn one_channel_per_type_per_workspace() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    let body = json!({"channel_type": "telegram", "config": {"bot_token": TG_TOKEN, "chat_id": "-100123"}});
    assert_eq!(create(&app, &ws, body.clone()).status, 201);
    let dup = create(&app, &ws, body.clone());
    assert_eq!(dup.status, 409);
    assert_eq!(dup.code(), "channel_exists");
    let (other, _) = app.workspace("other", None);
    assert_eq!(create(&app, &other, body).status, 201);
}

#[test]
fn configs_are_validated_on_create_and_on_patch() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    for (body, words) in [
        (json!({"channel_type": "irc", "config": {}}), "unsupported channel_type"),
        (json!({"config": {}}), "channel_type"),
        (json!({"channel_type": "slack", "config": {}}), "bot_token"),
        (
            json!({"channel_type": "slack", "config": {"webhook_url": "https://evil.example/x"}}),
            "https://hooks.slack.com/",
        ),
        (
            json!({"channel_type": "slack", "config": {"bot_token": "xoxb-1"}}),
            "channel_id",
        ),
        (
            json!({"channel_type": "discord", "config": {"webhook_url": "https://discord.com/api/x"}}),
            "https://discord.com/api/webhooks/",
        ),
        (
            json!({"channel_type": "lark", "config": {"webhook_url": "https://open.feishu.cn/x"}}),
            "open-apis/bot/v2/hook",
        ),
        (
            json!({"channel_type": "telegram", "config": {"bot_token": "12:short", "chat_id": "1"}}),
            "bot_token",
        ),
        (
            json!({"channel_type": "telegram", "config": {"bot_token": TG_TOKEN}}),
            "chat_id",
        ),
        (
            json!({"channel_type": "slack", "config": {"webhook_url": SLACK_HOOK, "colour": "red"}}),
            "unknown key",
        ),
        (
            json!({"channel_type": "slack", "config": {"webhook_url": 5}}),
            "invalid type",
        ),
    ] {
        let r = create(&app, &ws, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.body["error"].as_str().unwrap().contains(words), "{body}: {}", r.text);
    }
    let made = create(
        &app,
        &ws,
        json!({"channel_type": "slack", "config": {"webhook_url": SLACK_HOOK, "username": "bot"}}),
    );
    let path = format!("/workspaces/{ws}/channels/{}", made.body["id"].as_str().unwrap());
    let bad = app.patch(
        &path,
        &app.admin,
        json!({"config": {"webhook_url": "https://evil.example/x"}}),
    );
    assert_eq!(bad.status, 400);
    let bad = app.patch(&path, &app.admin, json!({"config": {"webhook_url": null}}));
    assert_eq!(bad.status, 400, "removing the only credential leaves an invalid config");

    let ok = app.patch(
        &path,
        &app.admin,
        json!({"config": {"username": "renamed", "icon_emoji": ":robot_face:"}, "enabled": false}),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["config"]["username"], "renamed");
    assert_eq!(
        ok.body["config"]["webhook_url"], "https://hooks.slack.com/••••••••",
        "a patch keeps what it does not name"
    );
    assert_eq!(ok.body["enabled"], false);
    let removed = app.patch(&path, &app.admin, json!({"config": {"icon_emoji": null}}));
    assert!(removed.body["config"].get("icon_emoji").is_none());
}

#[test]
fn channel_routes_are_scoped_by_workspace() {
    let app = spawn_app();
    let (a, a_tok) = app.workspace("a", None);
    let (b, _) = app.workspace("b", None);
    let made = create(
        &app,
        &a,
        json!({"channel_type": "discord", "config": {"webhook_url": "https://discord.com/api/webhooks/1/tok"}}),
    );
    let cid = made.body["id"].as_str().unwrap();
    assert_eq!(
        app.patch(
            &format!("/workspaces/{b}/channels/{cid}"),
            &app.admin,
            json!({"enabled": false})
        )
        .status,
        404
    );
    assert_eq!(
        app.delete(&format!("/workspaces/{b}/channels/{cid}"), &app.admin)
            .status,
        404
    );
    assert_eq!(app.get(&format!("/workspaces/{b}/channels"), &a_tok).status, 403);
    assert_eq!(
        app.post(
            &format!("/workspaces/{a}/channels"),
            &a_tok,
            json!({"channel_type": "slack", "config": {"webhook_url": SLACK_HOOK}})
        )
        .status,
        403,
        "the agent reads channels; the admin configures them"
    );
    assert_eq!(
        app.delete(&format!("/workspaces/{a}/channels/{cid}"), &app.admin)
            .status,
        200
    );
    assert_eq!(
        app.delete(&format!("/workspaces/{a}/channels/{cid}"), &app.admin)
            .status,
        404
    );
    assert_eq!(
        app.delete(&format!("/workspaces/{a}/channels/not-a-uuid"), &app.admin)
            .status,
        404
    );
    let audit = app.get("/org/audit", &app.admin).text;
    assert!(audit.contains("channel.create") && audit.contains("channel.delete"));
}

#[test]
fn a_masked_value_sent_back_is_refused_and_a_broken_channel_does_not_hide_the_others() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("w", None);
    let slack = create(
        &app,
        &ws,
        json!({"channel_type": "slack", "config": {"bot_token": "xoxb-1", "channel_id": "C1"}}),
    );
    let masked = slack.body["config"]["bot_token"].as_str().unwrap().to_string();
    assert!(!masked.contains("xoxb"), "{masked}");
    let path = format!("/workspaces/{ws}/channels/{}", slack.body["id"].as_str().unwrap());
    let r = app.patch(&path, &app.admin, json!({"config": {"bot_token": masked}}));
    assert_eq!(r.status, 400);
    assert!(r.body["error"].as_str().unwrap().contains("masked value"));
    let agent = app.get(&format!("/workspaces/{ws}/channels"), &tok);
    assert_eq!(
        agent.body[0]["config"]["bot_token"], "xoxb-1",
        "the credential survived"
    );

    create(
        &app,
        &ws,
        json!({"channel_type": "discord", "config": {"webhook_url": "https://discord.com/api/webhooks/1/t"}}),
    );
    let id = slack.body["id"].as_str().unwrap().to_string();
    app.state
        .db
        .write(app.clock.now_ms(), move |ctx| {
            Ok(ctx.execute("UPDATE channels SET nonce = zeroblob(24) WHERE id = ?1", [&id])?)
        })
        .unwrap();
    let list = app.get(&format!("/workspaces/{ws}/channels"), &app.admin);
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    let broken = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel_type"] == "slack")
        .unwrap();
    assert!(broken["config_error"].is_string());
}
