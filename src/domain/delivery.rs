//! Sending a message to a channel: the request each kind of channel
//! expects (the sending itself is the caller's).

use super::channels::Config;

fn present<'a>(c: &'a Config, key: &str) -> Option<&'a str> {
    c.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// A message to send to a channel: where, with what bearer (Slack's bot
/// API), and the JSON body its kind expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub url: String,
    pub bearer: Option<String>,
    pub body: serde_json::Value,
}

/// How to send `text` to a channel of `kind` with its (opened) config;
/// `None` when the config cannot send.
pub fn outbound(kind: &str, c: &Config, text: &str) -> Option<Outbound> {
    use serde_json::json;
    let post = |url: &str, body| Outbound {
        url: url.to_string(),
        bearer: None,
        body,
    };
    Some(match kind {
        "webhook" => post(present(c, "url")?, json!({ "text": text })),
        "discord" => post(present(c, "webhook_url")?, json!({ "content": text })),
        "lark" => post(
            present(c, "webhook_url")?,
            json!({ "msg_type": "text", "content": { "text": text } }),
        ),
        "slack" => match present(c, "webhook_url") {
            Some(url) => post(url, json!({ "text": text })),
            None => Outbound {
                url: "https://slack.com/api/chat.postMessage".into(),
                bearer: Some(present(c, "bot_token")?.to_string()),
                body: json!({ "channel": present(c, "channel_id")?, "text": text }),
            },
        },
        "telegram" => {
            let chat = present(c, "chat_id")?.split(',').next()?.trim();
            let token = present(c, "bot_token")?;
            post(
                &format!("https://api.telegram.org/bot{token}/sendMessage"),
                json!({ "chat_id": chat, "text": text }),
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn each_kind_gets_the_body_it_expects() {
        let w = outbound("webhook", &config(&[("url", "https://h.example/x")]), "hi").unwrap();
        assert_eq!(
            (w.url.as_str(), w.body["text"].as_str()),
            ("https://h.example/x", Some("hi"))
        );
        let d = outbound(
            "discord",
            &config(&[("webhook_url", "https://discord.com/api/webhooks/1/t")]),
            "hi",
        )
        .unwrap();
        assert_eq!(d.body["content"], "hi");
        let s = outbound("slack", &config(&[("bot_token", "xoxb-1"), ("channel_id", "C1")]), "hi").unwrap();
        assert_eq!(
            (s.bearer.as_deref(), s.body["channel"].as_str()),
            (Some("xoxb-1"), Some("C1"))
        );
        let t = outbound(
            "telegram",
            &config(&[("bot_token", "1:abc"), ("chat_id", "-100, -200")]),
            "hi",
        )
        .unwrap();
        assert_eq!(
            (t.url.as_str(), t.body["chat_id"].as_str()),
            ("https://api.telegram.org/bot1:abc/sendMessage", Some("-100"))
        );
        assert!(outbound("webhook", &Config::new(), "hi").is_none());
        assert!(outbound("pigeon", &Config::new(), "hi").is_none());
    }
}
