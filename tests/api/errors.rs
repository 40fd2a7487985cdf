//! Bad input of every shape gets a JSON 4xx, never a panic or a 500.

use serde_json::json;

use crate::helpers::spawn_app;

#[test]
fn malformed_bodies_get_json_4xx() {
    let app = spawn_app();
    let cases: [(&str, &[u8], u16, &str); 5] = [
        ("application/json", b"{\"name\":", 400, "invalid_json"),
        ("application/json", b"not json", 400, "invalid_json"),
        ("application/json", b"\xff\xfe", 400, "invalid_json"),
        ("text/plain", b"{\"name\":\"x\"}", 415, "unsupported_media_type"),
        ("application/json", b"", 400, "invalid_json"),
    ];
    for (ct, body, status, code) in cases {
        let r = app.post_raw("/workspaces", &app.admin, ct, body);
        assert_eq!(r.status, status, "{ct} {body:?}: {}", r.text);
        assert_eq!(r.code(), code);
        assert!(r.body["error"].is_string());
    }
}

#[test]
fn oversized_bodies_get_413() {
    let app = spawn_app();
    let big = json!({"name": "x".repeat(300 * 1024)}).to_string();
    let r = app.post_raw("/workspaces", &app.admin, "application/json", big.as_bytes());
    assert_eq!(r.status, 413);
    assert_eq!(r.code(), "payload_too_large");
}

#[test]
fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app();
    let r = app.get("/nope", &app.admin);
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = app.patch("/workspaces", &app.admin, json!({}));
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
    let r = app.delete("/org/whoami", &app.admin);
    assert_eq!(r.status, 405);
    assert!(r.body["error"].is_string());
}

#[test]
fn an_oversized_request_head_gets_431_and_the_server_keeps_serving() {
    use std::io::{Read, Write};
    let app = spawn_app();
    let mut s = std::net::TcpStream::connect(app.base.trim_start_matches("http://")).unwrap();
    let huge = "x".repeat(200 * 1024);
    let _ = write!(
        s,
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {huge}\r\nConnection: close\r\n\r\n"
    );
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.1 431"),
        "{}",
        &response[..response.len().min(200)]
    );
    assert_eq!(app.get("/health", "").status, 200);
}

#[test]
fn a_body_that_trickles_past_the_deadline_gets_408_and_the_connection_closes() {
    use std::io::{Read, Write};
    let app = crate::helpers::spawn_with(|s| s.body_timeout = std::time::Duration::from_secs(1));
    let mut s = std::net::TcpStream::connect(app.base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let body = br#"{"name": "slow"}"#;
    write!(
        s,
        "POST /workspaces HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.admin,
        body.len()
    )
    .unwrap();
    // Half the body, then nothing: the client holds on.
    s.write_all(&body[..5]).unwrap();
    let started = std::time::Instant::now();
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("\"code\":\"request_timeout\""), "{response}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answered at the deadline"
    );
    // Nothing was created, and a prompt body is unaffected.
    assert_eq!(app.count("workspaces"), 0);
    let r = app.post("/workspaces", &app.admin, json!({"name": "quick"}));
    assert_eq!(r.status, 201);
}
