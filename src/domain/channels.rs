//! Channel adapters: their config schema and validation rules.
//!
//! A config is a flat object of strings. Fields marked sensitive carry
//! credentials (bot tokens, webhook URLs, webhook secrets, verify tokens):
//! they are sealed at rest and masked in every response to an org key.

use std::collections::BTreeMap;

use serde::Serialize;

pub type Config = BTreeMap<String, String>;

#[derive(Debug, Serialize)]
pub struct Field {
    pub key: &'static str,
    pub label: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub required: bool,
    pub sensitive: bool,
    pub placeholder: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Adapter {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub display_name: &'static str,
    pub config_schema: &'static [Field],
    #[serde(skip)]
    rules: fn(&Config) -> Result<(), String>,
}

const fn field(
    key: &'static str,
    label: &'static str,
    sensitive: bool,
    required: bool,
    placeholder: &'static str,
) -> Field {
    Field {
        key,
        label,
        kind: if sensitive { "password" } else { "text" },
        required,
        sensitive,
        placeholder,
    }
}

const MAX_VALUE_CHARS: usize = 2048;

static ADAPTERS: [Adapter; 5] = [
    Adapter {
        kind: "discord",
        display_name: "Discord",
        config_schema: &[
            field(
                "webhook_url",
                "Webhook URL",
                true,
                true,
                "https://discord.com/api/webhooks/…",
            ),
            field("public_key", "Application public key (hex)", false, false, ""),
        ],
        rules: discord_rules,
    },
    Adapter {
        kind: "lark",
        display_name: "Lark / Feishu",
        config_schema: &[
            field(
                "webhook_url",
                "Webhook URL",
                true,
                true,
                "https://open.larksuite.com/open-apis/bot/v2/hook/…",
            ),
            field("verify_token", "Verification token", true, false, ""),
        ],
        rules: lark_rules,
    },
    Adapter {
        kind: "slack",
        display_name: "Slack",
        config_schema: &[
            field("bot_token", "Bot token", true, false, "xoxb-…"),
            field("channel_id", "Channel ID", false, false, "C0123456789"),
            field(
                "webhook_url",
                "Incoming webhook URL",
                true,
                false,
                "https://hooks.slack.com/services/…",
            ),
            field("username", "Display name", false, false, ""),
            field("icon_emoji", "Icon emoji", false, false, ":robot_face:"),
        ],
        rules: slack_rules,
    },
    Adapter {
        kind: "telegram",
        display_name: "Telegram",
        config_schema: &[
            field("bot_token", "Bot token", true, true, "123456789:AA…"),
            field("chat_id", "Chat IDs (comma-separated)", false, true, "-1001234567890"),
            field("webhook_secret", "Webhook secret token", true, false, ""),
        ],
        rules: telegram_rules,
    },
    Adapter {
        kind: "webhook",
        display_name: "Webhook (JSON POST)",
        config_schema: &[field(
            "url",
            "URL (https, or http on this machine)",
            true,
            true,
            "https://hooks.example.com/…",
        )],
        rules: webhook_rules,
    },
];

pub fn adapters() -> &'static [Adapter] {
    &ADAPTERS
}

pub fn find(kind: &str) -> Option<&'static Adapter> {
    ADAPTERS.iter().find(|a| a.kind == kind)
}

pub fn type_names() -> String {
    ADAPTERS.iter().map(|a| a.kind).collect::<Vec<_>>().join(", ")
}

impl Adapter {
    /// Checks a whole config: only known keys, required ones present and
    /// non-empty, sane lengths, then the adapter's own rules.
    pub fn validate(&self, config: &Config) -> Result<(), String> {
        for (key, value) in config {
            if !self.config_schema.iter().any(|f| f.key == key) {
                let known: Vec<_> = self.config_schema.iter().map(|f| f.key).collect();
                return Err(format!(
                    "config: unknown key {key:?} for {}; known: {}",
                    self.kind,
                    known.join(", ")
                ));
            }
            if value.chars().count() > MAX_VALUE_CHARS || value.chars().any(char::is_control) {
                return Err(format!(
                    "config.{key}: at most {MAX_VALUE_CHARS} characters, no control characters"
                ));
            }
        }
        for f in self.config_schema.iter().filter(|f| f.required) {
            if config.get(f.key).is_none_or(|v| v.trim().is_empty()) {
                return Err(format!("config.{} is required for {}", f.key, self.kind));
            }
        }
        (self.rules)(config)
    }

    pub fn is_sensitive(&self, key: &str) -> bool {
        self.config_schema.iter().any(|f| f.key == key && f.sensitive)
    }

    /// Splits a config into its plain and sensitive halves.
    pub fn split(&self, config: &Config) -> (Config, Config) {
        config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .partition(|(k, _)| !self.is_sensitive(k))
    }
}

/// What an org key sees of a credential. A URL shows its scheme and host
/// only (the secret is its path); a token shows its last four characters
/// only when it is long enough (32+) for that to reveal nothing useful.
pub fn mask(key: &str, value: &str) -> String {
    if let Some((scheme, rest)) = value.split_once("://").filter(|_| key.ends_with("url")) {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        return format!("{scheme}://{host}/{MASK}");
    }
    let n = value.chars().count();
    if n < 32 {
        MASK.into()
    } else {
        let tail: String = value.chars().skip(n - 4).collect();
        format!("{MASK}{tail}")
    }
}

/// The marker every mask carries; a value containing it is a mask sent back.
pub const MASK: &str = "••••••••";
fn present<'a>(c: &'a Config, key: &str) -> Option<&'a str> {
    c.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn url_with_prefix(c: &Config, key: &str, prefixes: &[&str]) -> Result<(), String> {
    match present(c, key) {
        Some(url) if prefixes.iter().any(|p| url.starts_with(p) && url.len() > p.len()) => Ok(()),
        Some(_) => Err(format!("config.{key} must start with {}", prefixes.join(" or "))),
        None => Ok(()),
    }
}

fn slack_rules(c: &Config) -> Result<(), String> {
    if present(c, "bot_token").is_none() && present(c, "webhook_url").is_none() {
        return Err("slack needs config.bot_token (with config.channel_id) or config.webhook_url".into());
    }
    if present(c, "bot_token").is_some() && present(c, "channel_id").is_none() {
        return Err("config.channel_id is required with config.bot_token".into());
    }
    url_with_prefix(c, "webhook_url", &["https://hooks.slack.com/"])
}

fn discord_rules(c: &Config) -> Result<(), String> {
    url_with_prefix(c, "webhook_url", &["https://discord.com/api/webhooks/"])?;
    match present(c, "public_key") {
        Some(k) if k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Err("config.public_key must be 64 hex characters (an Ed25519 public key)".into())
        }
        _ => Ok(()),
    }
}

fn lark_rules(c: &Config) -> Result<(), String> {
    url_with_prefix(
        c,
        "webhook_url",
        &[
            "https://open.feishu.cn/open-apis/bot/v2/hook/",
            "https://open.larksuite.com/open-apis/bot/v2/hook/",
        ],
    )
}

fn telegram_rules(c: &Config) -> Result<(), String> {
    let token = present(c, "bot_token").unwrap_or("");
    let shape_ok = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && secret.len() >= 30
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !shape_ok {
        return Err("config.bot_token must look like <digits>:<30+ letters, digits, _ or ->".into());
    }
    let ids_ok = present(c, "chat_id").unwrap_or("").split(',').all(|id| {
        let id = id.trim();
        let digits = id.strip_prefix('-').unwrap_or(id);
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())) || (id.starts_with('@') && id.len() > 1)
    });
    if !ids_ok {
        return Err("config.chat_id must be comma-separated numeric chat ids (or @channel names)".into());
    }
    Ok(())
}

/// Any https URL, or http to this machine (a local relay): a plain-http
/// URL elsewhere would carry messages, and its secret path, in clear. The
/// URL is parsed, not prefix-matched: `http://localhost:@evil.example/`
/// names evil.example.
fn webhook_rules(c: &Config) -> Result<(), String> {
    const WANT: &str = "config.url must be an https:// URL (or http:// to 127.0.0.1, localhost or [::1])";
    let url = present(c, "url").unwrap_or("");
    let uri: http::Uri = url.parse().map_err(|_| WANT.to_string())?;
    let Some(authority) = uri.authority() else {
        return Err(WANT.into());
    };
    if authority.as_str().contains('@') {
        return Err("config.url must not hold a user name or password".into());
    }
    let host = authority.host().to_ascii_lowercase();
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]") => Ok(()),
        _ => Err(WANT.into()),
    }
}

/// The associated data that binds a channel's sealed credentials to the
/// channel and its workspace.
pub fn aad(channel_id: &str, workspace_id: &str) -> Vec<u8> {
    format!("molecule-tenant/channel/v1\0{channel_id}\0{workspace_id}").into_bytes()
}

pub const MAX_ALLOWED_USERS: usize = 1000;

pub fn check_users(users: &[String]) -> Result<(), String> {
    if users.len() > MAX_ALLOWED_USERS || users.iter().any(|u| u.is_empty() || u.chars().count() > 200) {
        return Err(format!(
            "allowed_users: at most {MAX_ALLOWED_USERS} non-empty ids of at most 200 characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn each_adapter_accepts_a_good_config_and_refuses_bad_ones() {
        let slack = find("slack").unwrap();
        assert!(slack
            .validate(&cfg(&[("webhook_url", "https://hooks.slack.com/services/T0/B0/x")]))
            .is_ok());
        assert!(slack
            .validate(&cfg(&[("bot_token", "xoxb-1"), ("channel_id", "C1")]))
            .is_ok());
        assert!(slack.validate(&cfg(&[("bot_token", "xoxb-1")])).is_err());
        assert!(slack
            .validate(&cfg(&[("webhook_url", "https://evil.example/hook")]))
            .is_err());
        assert!(slack.validate(&cfg(&[])).is_err());
        assert!(slack
            .validate(&cfg(&[("webhook_url", "https://hooks.slack.com/x"), ("colour", "red")]))
            .is_err());

        let discord = find("discord").unwrap();
        assert!(discord
            .validate(&cfg(&[("webhook_url", "https://discord.com/api/webhooks/1/abc")]))
            .is_ok());
        assert!(discord
            .validate(&cfg(&[
                ("webhook_url", "https://discord.com/api/webhooks/1/a"),
                ("public_key", "zz")
            ]))
            .is_err());
        assert!(discord
            .validate(&cfg(&[("webhook_url", "http://discord.com/api/webhooks/1")]))
            .is_err());

        let lark = find("lark").unwrap();
        assert!(lark
            .validate(&cfg(&[(
                "webhook_url",
                "https://open.feishu.cn/open-apis/bot/v2/hook/abc"
            )]))
            .is_ok());
        assert!(lark
            .validate(&cfg(&[("webhook_url", "https://open.feishu.cn/other")]))
            .is_err());

        let tg = find("telegram").unwrap();
        let token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        assert!(tg
            .validate(&cfg(&[("bot_token", token), ("chat_id", "-100123,42")]))
            .is_ok());
        assert!(tg.validate(&cfg(&[("bot_token", "nope"), ("chat_id", "1")])).is_err());
        assert!(tg.validate(&cfg(&[("bot_token", token)])).is_err());
        assert!(tg.validate(&cfg(&[("bot_token", token), ("chat_id", "abc")])).is_err());
    }

    #[test]
    fn a_webhook_is_https_or_plain_http_to_this_machine_only() {
        let hook = find("webhook").unwrap();
        let ok = |url: &str| hook.validate(&cfg(&[("url", url)])).is_ok();
        for good in [
            "https://hooks.example.com/x?y=1",
            "http://127.0.0.1:9000/relay",
            "http://localhost/relay",
            "http://[::1]:8080/",
            "http://[::1]/",
            "http://LocalHost:8080/",
        ] {
            assert!(ok(good), "{good}");
        }
        for bad in [
            "http://localhost:@evil.example/",
            "http://127.0.0.1:80@evil.example/",
            "https://user:pw@hooks.example.com/",
            "http://127.0.0.1.evil.example/",
            "http://evil.example/",
            "ftp://127.0.0.1/",
            "https://",
            "not a url",
            "",
        ] {
            assert!(!ok(bad), "{bad}");
        }
    }

    #[test]
    fn masks_hide_url_paths_and_short_tokens() {
        assert_eq!(mask("bot_token", "short"), MASK);
        assert_eq!(mask("bot_token", "xoxb-1234567890-abcdefghijkl"), MASK);
        assert_eq!(
            mask("verify_token", "x://the-whole-secret"),
            MASK,
            "only URL fields show a host"
        );
        assert_eq!(
            mask("bot_token", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
            format!("{MASK}Dsaw")
        );
        assert_eq!(
            mask("webhook_url", "https://hooks.slack.com/services/T0/B0/abcd"),
            format!("https://hooks.slack.com/{MASK}")
        );
    }
}
