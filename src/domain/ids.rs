//! Typed ids. Every id this server makes is a random UUID, stored and shown
//! in its canonical lowercase hyphenated form; each kind of thing has its
//! own type, so a key id can never be passed where a workspace id is meant.
//! 16 bytes and `Copy`: the credential map holds one per live credential.

/// Only the canonical lowercase hyphenated form that ids are stored in.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

/// A fresh id as text (for rows written by hand, e.g. in tests).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Text that is not an id this server made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAnId;

impl std::fmt::Display for NotAnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not an id")
    }
}

impl std::error::Error for NotAnId {}

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new random id.
            pub fn generate() -> Self {
                $name(uuid::Uuid::new_v4())
            }

            /// `None` for anything but a canonical (lowercase, hyphenated)
            /// UUID: such text was not made by this server.
            pub fn parse(s: &str) -> Option<Self> {
                if !is_uuid(s) {
                    return None;
                }
                uuid::Uuid::try_parse(s).ok().map($name)
            }

            pub fn from_bytes(b: [u8; 16]) -> Self {
                $name(uuid::Uuid::from_bytes(b))
            }

            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// Whether this is the id written `s`, without allocating.
            pub fn is(&self, s: &str) -> bool {
                let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
                self.0.hyphenated().encode_lower(&mut buf) == s
            }

            /// The first characters, which name it in lists and the audit
            /// trail.
            pub fn short(&self) -> String {
                let mut s = self.to_string();
                s.truncate(8);
                s
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
                f.write_str(self.0.hyphenated().encode_lower(&mut buf))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(self, f)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NotAnId;
            fn from_str(s: &str) -> Result<Self, NotAnId> {
                $name::parse(s).ok_or(NotAnId)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.is(other)
            }
        }
    )*};
}

id_type! {
    /// A workspace.
    WorkspaceId;
    /// An org API key.
    KeyId;
    /// A workspace token.
    TokenId;
    /// A browser session.
    SessionId;
    /// An approval request.
    ApprovalId;
    /// A workspace's channel.
    ChannelId;
}

/// Parses a list of workspace ids, naming the first that is not one.
pub fn workspace_ids(raw: &[String]) -> Result<Vec<WorkspaceId>, &str> {
    raw.iter().map(|s| WorkspaceId::parse(s).ok_or(s.as_str())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_uuids_are_ids() {
        assert!(is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
        for s in [
            "0F8FAD5B-D9CB-469F-A165-70867728950E",
            "0f8fad5bd9cb469fa16570867728950e",
            "{0f8fad5b-d9cb-469f-a165-70867728950e}",
            "x",
        ] {
            assert!(!is_uuid(s), "{s}");
            assert!(WorkspaceId::parse(s).is_none(), "{s}");
        }
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = KeyId::generate();
        let text = id.to_string();
        assert_eq!(KeyId::parse(&text), Some(id));
        assert!(id.is(&text) && !id.is("x"));
        assert_eq!(serde_json::to_value(id).unwrap(), serde_json::json!(text));
        assert_eq!(id.short(), text[..8]);
    }
}
