//! The API's OpenAPI document: it describes every route the API serves (both ways: each
//! handler's route is in it, and each operation in it reaches a handler), its reference page
//! renders it without script, and schemathesis, run against a served instance, finds no
//! server error and no answer outside the document.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::api_tickets::Api;
use crate::support;
use crate::web::spawn_app;

/// `(METHOD, path)` of every route attribute of the API's handlers, read from their source.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let attribute = regex::Regex::new(r#"#\[(get|post|put|patch|delete)\("([^"]+)"\)\]"#).unwrap();
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir("src/web/api").unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for c in attribute.captures_iter(&source) {
            found.insert((c[1].to_uppercase(), format!("/api/v1{}", &c[2])));
        }
    }
    found
}

fn routes_in_document(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            found.insert((method.to_uppercase(), path.clone()));
        }
    }
    found
}

#[actix_web::test]
async fn the_document_describes_every_route_of_the_api() {
    let app = spawn_app(support::sqlite()).await;
    let api = Api::of(&app, "admin");
    let (status, doc) = api.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let source = routes_in_source();
    assert!(source.len() >= 20, "{source:?}");
    assert_eq!(routes_in_document(&doc), source);

    // Every operation reaches its handler: none is answered as an unknown route.
    let parameter = regex::Regex::new(r"\{[^}]+\}").unwrap();
    for (method, path) in routes_in_document(&doc) {
        let path = parameter.replace_all(&path, "1").into_owned();
        let req = api
            .request(method.parse().unwrap(), path.trim_start_matches("/api/v1"))
            .header("content-type", "application/json")
            .body("{}");
        let res = req.send().await.unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("\"no_such_route\"") && !body.contains("\"method_not_allowed\""),
            "{method} {path}: {status} {body}"
        );
        assert!(
            !status.is_server_error(),
            "{method} {path}: {status} {body}"
        );
    }
}

#[actix_web::test]
async fn the_reference_page_renders_the_document_without_script() {
    let app = spawn_app(support::sqlite()).await;
    let viewer = app.login("viewer").await;
    let res = viewer.get("/api/v1/docs").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script"), "{html}");
    for (method, path) in routes_in_source() {
        // As minijinja escapes it.
        let shown = format!("{method} {}", path.replace('/', "&#x2f;"));
        assert!(html.contains(&shown), "{shown}");
    }
    assert!(html.contains("ErrorBody") && html.contains("QueuePage"));
}

/// Starts `serve --demo` on a fresh SQLite database on a free port; its address.
async fn served(db: &support::TestDb, log: &std::path::Path) -> (crate::imap_cli::Killed, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["--database-url", &db.url, "serve", "--demo", "--no-jobs"])
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..600 {
        if reqwest::get(format!("{base}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (crate::imap_cli::Killed(child), base)
}

#[actix_web::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let installed = std::process::Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: schemathesis is not installed (pip install schemathesis)"
        );
        eprintln!("skipped: schemathesis is not installed (pip install schemathesis)");
        return;
    }
    let db = support::sqlite();
    let log = tempfile::NamedTempFile::new().unwrap();
    let (_server, base) = served(&db, log.path()).await;
    let token = String::from_utf8(support::cli_ok(&db, &["token", "create", "admin"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let out = tokio::task::spawn_blocking(move || {
        // `message/rfc822` is sent as raw bytes (the hooks); the settings say which answers to
        // a request of the right shape are fine.
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schemathesis");
        // Run elsewhere: schemathesis keeps a cache of what it found in its directory.
        let scratch = tempfile::tempdir().unwrap();
        std::process::Command::new("schemathesis")
            .current_dir(scratch.path())
            .env("PYTHONPATH", fixtures)
            .env("SCHEMATHESIS_HOOKS", "api_hooks")
            .args(["--config-file", &format!("{fixtures}/schemathesis.toml")])
            .args(["run", &format!("{base}/api/v1/openapi.json")])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["--checks", "all", "--max-examples", "15", "--workers", "1"])
            .args(["--seed", "1"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}\n{}\nthe server's log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(log.path()).unwrap_or_default()
    );
}
