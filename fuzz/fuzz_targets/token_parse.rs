//! Any bytes as a bearer token: parse never panics, and accepts only
//! what it would also have generated (the tag, 49 base62 characters, a
//! matching checksum).
#![no_main]

use libfuzzer_sys::fuzz_target;
use molecule_tenant::domain::token;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(kind) = token::parse(s) {
            assert!(s.starts_with(kind.tag()));
            assert_eq!(s.len(), kind.tag().len() + 49);
            assert!(s[kind.tag().len()..].bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }
});
