//! What the audit trail records: who did what.

/// Who did something and from where.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `org-token:<prefix>`, `workspace-token:<prefix>`, `session:<prefix>`,
    /// `cli`, `login-link` or `anonymous`.
    pub name: String,
    pub client: Option<String>,
    /// The door the request came through when it is not the plain API
    /// (`mcp`); recorded in the entry's detail.
    pub via: Option<&'static str>,
}

impl Actor {
    /// An operator on the box.
    pub fn cli() -> Actor {
        Actor {
            name: "cli".into(),
            client: None,
            via: None,
        }
    }

    /// The server itself, on a schedule (retention).
    pub fn server() -> Actor {
        Actor {
            name: "server".into(),
            client: None,
            via: None,
        }
    }
}

macro_rules! actions {
    ($($variant:ident => $text:literal,)*) => {
        /// Every kind of entry in the audit trail.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $text,)*
                }
            }
        }
    };
}

actions! {
    OrgKeyMint => "org_key.mint",
    OrgKeyRevoke => "org_key.revoke",
    OrgKeyRotate => "org_key.rotate",
    OrgKeyUpdate => "org_key.update",
    OrgKeyDisable => "org_key.disable",
    OrgKeyEnable => "org_key.enable",
    OrgKeyLeaked => "org_key.leaked",
    LeakReport => "leak.report",
    WorkspaceTokenLeaked => "workspace_token.leaked",
    OrgPolicySet => "org_policy.set",
    KeyExpiryNotice => "org_key.expiry_notice",
    WorkspaceCreate => "workspace.create",
    WorkspaceUpdate => "workspace.update",
    WorkspaceDelete => "workspace.delete",
    WorkspacePause => "workspace.pause",
    WorkspaceResume => "workspace.resume",
    WorkspaceRegister => "workspace.register",
    WorkspaceTokenMint => "workspace_token.mint",
    WorkspaceTokenRevoke => "workspace_token.revoke",
    SecretSet => "secret.set",
    SecretDelete => "secret.delete",
    ApprovalRequest => "approval.request",
    ApprovalDecide => "approval.decide",
    ChannelCreate => "channel.create",
    ChannelUpdate => "channel.update",
    ChannelDelete => "channel.delete",
    OrgTemplateRegister => "org_template.register",
    OrgTemplateDelete => "org_template.delete",
    OrgImport => "org.import",
    TemplateImport => "template.import",
    PluginRegister => "plugin.register",
    PluginAllowlistSet => "plugin_allowlist.set",
    PluginInstall => "plugin.install",
    PluginUninstall => "plugin.uninstall",
    BundleImport => "bundle.import",
    SessionCreate => "session.create",
    SessionRevoke => "session.revoke",
    SessionLogout => "session.logout",
    SessionRevokeAll => "session.revoke_all",
    LoginLinkCreate => "login_link.create",
    SecretsKeyRotate => "secrets_key.rotate",
    AuthFailed => "auth.failed",
    AuditSeal => "audit.seal",
    AuditKeyRotate => "audit_key.rotate",
    DatabaseRestore => "database.restore",
    RetentionPurge => "retention.purge",
    McpToolCall => "mcp.tool_call",
}

#[cfg(test)]
mod tests {
    #[test]
    fn action_names_are_distinct_and_dotted() {
        let mut seen = std::collections::BTreeSet::new();
        for a in super::Action::ALL {
            assert!(a.as_str().contains('.'), "{a:?}");
            assert!(seen.insert(a.as_str()), "{a:?}");
        }
    }
}
