//! A template sent as a tarball (gzipped or not): its text files, bounded
//! as tightly as a JSON upload, whatever the archive claims.

use std::io::Read;

use crate::domain::org_yaml::{check_relpath, Files, MAX_FILES, MAX_FILE_BYTES, MAX_TOTAL_BYTES};

/// What an archive held, and what of it was left out (and why).
#[derive(Debug)]
pub struct Unpacked {
    pub files: Files,
    pub skipped: Vec<String>,
}

/// Reads a tar or tar.gz. Directories, links and `.git/` are left out, as
/// are files that are not UTF-8 text (a template is text). A single
/// top-level directory holding everything (as `git archive` and GitHub
/// tarballs have) is removed from every path.
pub fn unpack(bytes: &[u8]) -> Result<Unpacked, String> {
    // The uncompressed stream is bounded, so a small bomb cannot expand
    // without end: room for the text files a JSON upload could carry, the
    // binaries beside them that are left out, and tar's 512-byte headers
    // and padding.
    let bound = (4 * MAX_TOTAL_BYTES + MAX_FILES * 1536) as u64;
    let reader: Box<dyn Read> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(Bounded::new(flate2::read::GzDecoder::new(bytes), bound))
    } else {
        Box::new(Bounded::new(bytes, bound))
    };
    let mut archive = tar::Archive::new(reader);
    let mut raw: Vec<(String, String)> = Vec::new();
    let mut skipped = Vec::new();
    let mut total = 0usize;
    let entries = archive.entries().map_err(|e| format!("not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("the archive is cut short or malformed: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("an archive path is not valid: {e}"))?
            .to_string_lossy()
            .into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if !kind.is_file() {
            skipped.push(format!("{path}: not a regular file"));
            continue;
        }
        // Checked whole, before any top directory is dropped: `../x`
        // must not pass as a directory named `..` holding `x`.
        if path.starts_with('/') || path.split('/').any(|s| s == "..") {
            return Err(format!("file {path}: paths must stay inside the template"));
        }
        if path.split('/').any(|s| s == ".git") {
            continue;
        }
        // Binaries (a logo, a font) are left out unread beyond their
        // first bytes, and count toward no limit.
        let mut content = Vec::new();
        (&mut entry)
            .take(SNIFF)
            .read_to_end(&mut content)
            .map_err(|e| format!("{path}: the archive is cut short or too large: {e}"))?;
        if !looks_like_text(&content) {
            skipped.push(format!("{path}: not UTF-8 text"));
            continue;
        }
        let size = entry.header().size().map_err(|e| format!("{path}: {e}"))?;
        if size > MAX_FILE_BYTES as u64 {
            return Err(format!("file {path}: at most {MAX_FILE_BYTES} bytes"));
        }
        entry
            .read_to_end(&mut content)
            .map_err(|e| format!("{path}: the archive is cut short or too large: {e}"))?;
        let Ok(text) = String::from_utf8(content) else {
            skipped.push(format!("{path}: not UTF-8 text"));
            continue;
        };
        total += text.len();
        if total > MAX_TOTAL_BYTES {
            return Err(format!("files: at most {MAX_TOTAL_BYTES} bytes in all"));
        }
        raw.push((path, text));
        if raw.len() > MAX_FILES {
            return Err(format!("files: between 1 and {MAX_FILES} files"));
        }
    }
    if raw.is_empty() {
        return Err("the archive holds no text files (send a tar or tar.gz of the template's directory)".into());
    }
    let prefix = common_root(&raw);
    let mut files = Files::new();
    for (path, text) in raw {
        let rel = check_relpath(&path[prefix.len()..])?;
        if files.insert(rel.clone(), text).is_some() {
            return Err(format!("file {rel} is given twice"));
        }
    }
    Ok(Unpacked { files, skipped })
}

/// A stream that fails, rather than ends, past its bound: cut at the bound,
/// an archive could otherwise end cleanly on an entry's boundary and lose
/// the files after it without a word.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Bounded<R> {
    fn new(inner: R, bound: u64) -> Self {
        Bounded { inner, left: bound }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut one = [0u8; 1];
            return match self.inner.read(&mut one)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other("it expands past the size allowed")),
            };
        }
        let max = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// How much of a file is read to tell text from a binary.
pub const SNIFF: u64 = 8192;

/// UTF-8 with no NUL, allowing a character cut at the end of the sample.
pub fn looks_like_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    valid && !head.contains(&0)
}

/// `dir/` when every path starts with the same directory and no file sits
/// at the root; else nothing.
fn common_root(files: &[(String, String)]) -> String {
    let first = |p: &str| p.trim_start_matches("./").split_once('/').map(|(d, _)| d.to_string());
    let Some(root) = files.first().and_then(|(p, _)| first(p)) else {
        return String::new();
    };
    let shared = files.iter().all(|(p, _)| first(p).as_deref() == Some(root.as_str()));
    if !shared {
        return String::new();
    }
    let dotted = files.first().is_some_and(|(p, _)| p.starts_with("./"));
    format!("{}{root}/", if dotted { "./" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(entries: &[(&str, &[u8])], gzip: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // Written raw: the builder itself refuses `..`, an attacker's
            // archive does not.
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        if !gzip {
            return tar;
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_github_style_tarball_loses_its_top_directory_and_its_binaries() {
        let t = tarball(
            &[
                ("repo-abc123/org.yaml", b"name: o\n"),
                ("repo-abc123/teams/a.yaml", b"name: a\n"),
                ("repo-abc123/logo.png", &[0xff, 0xd8, 0xff]),
                ("repo-abc123/.git/config", b"x"),
            ],
            true,
        );
        let u = unpack(&t).unwrap();
        assert_eq!(u.files.keys().collect::<Vec<_>>(), vec!["org.yaml", "teams/a.yaml"]);
        assert_eq!(u.skipped, vec!["repo-abc123/logo.png: not UTF-8 text".to_string()]);
        // A binary larger than any text file may be is left out, not refused.
        let mut image = vec![0x89, b'P', b'N', b'G', 0];
        image.resize(MAX_FILE_BYTES * 2, 7);
        let u = unpack(&tarball(&[("org.yaml", b"name: o\n"), ("big.png", &image)], true)).unwrap();
        assert_eq!(u.skipped, vec!["big.png: not UTF-8 text".to_string()]);
        let flat = unpack(&tarball(&[("org.yaml", b"name: o\n"), ("a/b.md", b"b")], false)).unwrap();
        assert!(flat.files.contains_key("org.yaml") && flat.files.contains_key("a/b.md"));
    }

    #[test]
    fn escapes_bombs_and_garbage_are_refused() {
        assert!(unpack(&tarball(&[("../etc/passwd", b"x")], false)).is_err());
        assert!(unpack(b"not an archive at all, just some text that is long enough").is_err());
        let big = vec![b'a'; MAX_FILE_BYTES + 1];
        assert!(unpack(&tarball(&[("org.yaml", &big)], true))
            .unwrap_err()
            .contains("at most"));
        let many: Vec<(String, Vec<u8>)> = (0..=MAX_FILES).map(|i| (format!("f{i}.md"), b"x".to_vec())).collect();
        let refs: Vec<(&str, &[u8])> = many.iter().map(|(p, d)| (p.as_str(), d.as_slice())).collect();
        assert!(unpack(&tarball(&refs, true)).unwrap_err().contains("files"));
    }

    #[test]
    fn a_stream_past_its_bound_fails_instead_of_ending() {
        let mut out = Vec::new();
        assert!(Bounded::new(&b"0123456789"[..], 4).read_to_end(&mut out).is_err());
        let mut out = Vec::new();
        assert_eq!(Bounded::new(&b"0123"[..], 4).read_to_end(&mut out).unwrap(), 4);
    }
}
