//! The token format, shared by the server and the CLI. No I/O but the RNG.
//!
//! `mol_org_` (org keys), `mol_ws_` (workspace tokens), `mol_sess_` (browser
//! session cookies) or `mol_login_` (one-time sign-in codes), then 43 base62
//! characters drawn uniformly from the OS RNG (43 × log2 62 ≈ 256.03 bits),
//! then 6 base62 characters of the CRC-32 of everything before them. The
//! checksum is not a secret: it lets us refuse a mistyped token before any
//! lookup, and lets a secret scanner confirm a leaked key offline with
//! `mol_(org|ws|sess|login)_[0-9A-Za-z]{49}` plus the CRC.

pub const SECRET_LEN: usize = 43;
const CHECK_LEN: usize = 6;
/// How many secret characters the display prefix shows after the tag.
const PREFIX_SECRET_CHARS: usize = 8;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Org,
    Workspace,
    Session,
    Login,
}

impl TokenKind {
    pub fn tag(self) -> &'static str {
        match self {
            TokenKind::Org => "mol_org_",
            TokenKind::Workspace => "mol_ws_",
            TokenKind::Session => "mol_sess_",
            TokenKind::Login => "mol_login_",
        }
    }
}

const KINDS: [TokenKind; 4] = [
    TokenKind::Org,
    TokenKind::Workspace,
    TokenKind::Session,
    TokenKind::Login,
];

/// A freshly generated token. `plaintext` must leave the process exactly once.
pub struct Minted {
    pub plaintext: String,
    pub hash: [u8; 32],
    pub prefix: String,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

pub fn generate(kind: TokenKind) -> Result<Minted, getrandom::Error> {
    let mut token = String::with_capacity(kind.tag().len() + SECRET_LEN + CHECK_LEN);
    token.push_str(kind.tag());
    let mut taken = 0;
    let mut buf = [0u8; 64];
    while taken < SECRET_LEN {
        getrandom::fill(&mut buf)?;
        // Rejection sampling: 248 = 4 × 62, so `b % 62` is uniform below it.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if taken == SECRET_LEN {
                break;
            }
            token.push(ALPHABET[usize::from(b % 62)] as char);
            taken += 1;
        }
    }
    let check = checksum(token.as_bytes());
    token.extend(check.iter().map(|&b| b as char));
    Ok(Minted {
        hash: hash(&token),
        prefix: display_prefix(kind, &token),
        plaintext: token,
    })
}

/// The kind of a well-formed token, or `None` for anything malformed
/// (wrong tag, length, alphabet or checksum).
pub fn parse(token: &str) -> Option<TokenKind> {
    let kind = KINDS.into_iter().find(|k| token.starts_with(k.tag()))?;
    let rest = &token.as_bytes()[kind.tag().len()..];
    if rest.len() != SECRET_LEN + CHECK_LEN || !rest.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let body = token.len() - CHECK_LEN;
    (checksum(&token.as_bytes()[..body]) == token.as_bytes()[body..]).then_some(kind)
}

pub fn hash(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

/// What lists and logs show: the tag and the first secret characters.
pub fn display_prefix(kind: TokenKind, token: &str) -> String {
    token[..kind.tag().len() + PREFIX_SECRET_CHARS].to_string()
}

/// Every well-formed token in `text` (tag, length and checksum right, not
/// part of a longer word), with its byte offset: what a secret scanner
/// finds, offline.
pub fn find_in(text: &str) -> Vec<(usize, &str, TokenKind)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("mol_").map(|i| from + i) {
        from = at + 4;
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let Some(kind) = KINDS.into_iter().find(|k| text[at..].starts_with(k.tag())) else {
            continue;
        };
        let end = at + kind.tag().len() + SECRET_LEN + CHECK_LEN;
        if end > bytes.len() || bytes.get(end).is_some_and(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let candidate = &text[at..end];
        if parse(candidate) == Some(kind) {
            out.push((at, candidate, kind));
            from = end;
        }
    }
    out
}

/// The CRC-32 of `data` as 6 base62 digits (on the stack: parse runs on
/// every request).
fn checksum(data: &[u8]) -> [u8; CHECK_LEN] {
    let mut n = u64::from(crc32fast::hash(data));
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scanner_finds_real_tokens_and_nothing_else() {
        let (a, b) = (
            generate(TokenKind::Org).unwrap(),
            generate(TokenKind::Workspace).unwrap(),
        );
        let mut broken = a.plaintext.clone();
        broken.pop();
        broken.push(if a.plaintext.ends_with('0') { '1' } else { '0' });
        let text = format!(
            "export KEY={}\n\"token\": \"{}\", bad {broken} x{} {}Z",
            a.plaintext, b.plaintext, a.plaintext, b.plaintext
        );
        let found: Vec<&str> = find_in(&text).into_iter().map(|(_, t, _)| t).collect();
        assert_eq!(found, [a.plaintext.as_str(), b.plaintext.as_str()]);
    }

    #[test]
    fn generated_tokens_parse_back_to_their_kind() {
        for kind in KINDS {
            let m = generate(kind).unwrap();
            assert_eq!(parse(&m.plaintext), Some(kind));
            assert_eq!(m.plaintext.len(), kind.tag().len() + 49);
            assert!(m.plaintext.starts_with(&m.prefix));
            assert_eq!(m.hash, hash(&m.plaintext));
        }
    }

    #[test]
    fn two_tokens_differ() {
        let a = generate(TokenKind::Org).unwrap();
        let b = generate(TokenKind::Org).unwrap();
        assert_ne!(a.plaintext, b.plaintext);
    }

    #[test]
    fn any_single_character_change_is_rejected() {
        let t = generate(TokenKind::Org).unwrap().plaintext;
        for i in TokenKind::Org.tag().len()..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap();
            assert_eq!(parse(&changed), None, "position {i}");
        }
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let t = generate(TokenKind::Workspace).unwrap().plaintext;
        let swapped = t.replacen("mol_ws_", "mol_org_", 1);
        for bad in [
            "",
            "mol_org_",
            "Bearer x",
            &t[..t.len() - 1],
            &format!("{t}0"),
            &swapped,
            &t.replace('0', "-"),
            &format!("{}é", &t[..t.len() - 2]),
        ] {
            if bad != t {
                assert_eq!(parse(bad), None, "{bad:?}");
            }
        }
    }
}
