//! The outgoing report, the customers pages and the demo sample.

use abuse_desk::db::schema::{actions, customers, tickets, users};
use diesel::prelude::*;

use crate::support;
use crate::web::{arriving_today, location, spawn_app, spec};

#[actix_web::test]
async fn outgoing_report_groups_counts_and_locks() {
    for db in support::backends("outgoing_report_groups_counts_and_locks") {
        let app = spawn_app(db).await;
        let mut specs = Vec::new();
        for n in 0..5 {
            specs.push(spec(
                n,
                Some("shop@bakery-mueller.example"),
                "shop@bakery-mueller.example",
                "198.51.100.5",
            ));
        }
        for n in 5..7 {
            specs.push(spec(
                n,
                Some("sales@northwind.example"),
                "sales@northwind.example",
                "198.51.100.20",
            ));
        }
        arriving_today(&mut specs);
        app.ingest(&specs);
        let agent = app.login("agent").await;
        let html = agent.text("/reports/outgoing?period=today").await;
        let shop = html.find("shop@bakery-mueller.example").unwrap();
        let sales = html.find("sales@northwind.example").unwrap();
        assert!(shop < sales, "sorted by count");
        assert!(html.contains("<td class=\"num\">5</td>") && html.contains("7 in all"));
        assert!(html.contains("<svg") && html.contains("<rect"), "chart");
        let html = agent
            .text("/reports/outgoing?group=customer&period=7d")
            .await;
        assert!(html.contains("cust-1001") && html.contains("Bakery Müller GmbH"));
        let html = agent
            .text("/reports/outgoing?period=custom&from=2020-01-01&to=2020-01-31")
            .await;
        assert!(html.contains("No events in this period"));
        assert_eq!(
            agent
                .get("/reports/outgoing?period=custom&from=x")
                .await
                .status(),
            400
        );
        assert_eq!(
            agent.get("/reports/outgoing?group=nonsense").await.status(),
            400
        );
        // The lock icon's form records a lock (manual: no upstream is configured) and the
        // row shows it on its way.
        let res = agent
            .post_form(
                "/locks",
                &[
                    ("kind", "lock_identity"),
                    ("target", "shop@bakery-mueller.example"),
                    ("reason", "top spammer today"),
                    ("hours", "4"),
                    ("back", "/reports/outgoing?period=today"),
                ],
            )
            .await;
        assert_eq!(location(&res), "/reports/outgoing?period=today");
        let mut conn = app.conn();
        let (kind, state): (String, String) = actions::table
            .select((actions::kind, actions::state))
            .first(&mut conn)
            .unwrap();
        assert_eq!((kind.as_str(), state.as_str()), ("lock_identity", "manual"));
        let html = agent.text("/reports/outgoing?period=today").await;
        assert!(
            html.contains("to lock by hand: top spammer today"),
            "{html}"
        );
        // A viewer sees the icons but no lock forms.
        let viewer = app.login("viewer").await;
        assert!(!viewer
            .text("/reports/outgoing?period=today")
            .await
            .contains("action=\"/locks\""));
    }
}

#[actix_web::test]
async fn admins_edit_and_import_customers() {
    for db in support::backends("admins_edit_and_import_customers") {
        let app = spawn_app(db).await;
        app.ingest(&[spec(
            1,
            Some("shop@bakery-mueller.example"),
            "shop@bakery-mueller.example",
            "198.51.100.5",
        )]);
        let admin = app.login("admin").await;
        let html = admin.text("/customers?q=northwind").await;
        assert!(html.contains("cust-1002") && !html.contains("cust-1001"));
        let html = admin.text("/customers/1").await;
        assert!(
            html.contains("198.51.100.0&#x2f;28") && html.contains("shop@bakery-mueller.example")
        );
        let res = admin
            .post_form(
                "/customers/1",
                &[
                    ("name", "Bakery Müller AG"),
                    ("email", "it@bakery-mueller.example"),
                    (
                        "identities",
                        "shop@bakery-mueller.example\nnew@bakery-mueller.example",
                    ),
                    ("domains", "bakery-mueller.example"),
                    ("netblocks", "198.51.100.0/28"),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
        let html = admin.text("/customers/1").await;
        assert!(html.contains("Bakery Müller AG") && html.contains("new@bakery-mueller.example"));
        // The queue's free text finds the customer's tickets by the new name at once.
        let queue = admin.text("/tickets?q=m%C3%BCller+ag").await;
        assert!(
            queue.contains("shop@bakery-mueller.example"),
            "found by the new name"
        );
        // A bad netblock is refused and nothing changes.
        let res = admin
            .post_form(
                "/customers/1",
                &[
                    ("name", "X"),
                    ("email", "it@bakery-mueller.example"),
                    ("netblocks", "999.1.1.1/8"),
                ],
            )
            .await;
        assert_eq!(res.status(), 400);
        let res = admin.post_form("/customers/import", &[("csv", "external_id,name,email,identities,domains,netblocks\ncust-2000,New Co,abuse@newco.example,,newco.example,\n")]).await;
        assert_eq!(res.status(), 303);
        assert!(location(&res).starts_with("/customers?done=1+created"));
        // The same import as a file upload, the way the page's form sends it.
        let csv = "external_id,name,email,identities,domains,netblocks\ncust-2001,Upload Co,abuse@upload.example,,upload.example,\n";
        let res = admin
            .post_file("/customers/import", "file", "customers.csv", csv.as_bytes())
            .await;
        assert_eq!(res.status(), 303);
        assert!(location(&res).starts_with("/customers?done=1+created"));
        let html = admin.text("/customers?q=upload").await;
        assert!(html.contains("Upload Co"), "{html}");
        // A file that is not a customers CSV changes nothing and says why.
        let res = admin
            .post_file(
                "/customers/import",
                "file",
                "notes.csv",
                b"name\nsomething\n",
            )
            .await;
        assert_eq!(res.status(), 400);
        let mut conn = app.conn();
        let names: Vec<String> = customers::table
            .order(customers::id)
            .select(customers::name)
            .load(&mut conn)
            .unwrap();
        assert_eq!(names[0], "Bakery Müller AG");
        assert_eq!(names.last().unwrap(), "Upload Co");
        assert!(names.contains(&"New Co".to_string()));
        // Users: admins add accounts.
        let res = admin
            .post_form(
                "/admin/users",
                &[
                    ("username", "carol"),
                    ("password", "another long password"),
                    ("role", "agent"),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
        let n: i64 = users::table.count().get_result(&mut conn).unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            admin
                .post_form(
                    "/admin/users",
                    &[
                        ("username", "dave"),
                        ("password", "short"),
                        ("role", "agent")
                    ]
                )
                .await
                .status(),
            400
        );
    }
}

#[test]
fn the_demo_fills_an_empty_database_once() {
    let db = support::sqlite();
    let mut conn = db.connect();
    let settings = abuse_desk::settings::Settings {
        database_url: db.url.clone(),
        ..Default::default()
    };
    let password = abuse_desk::demo::prepare(&mut conn, &settings)
        .unwrap()
        .unwrap();
    assert_eq!(password.len(), 20);
    let n: i64 = tickets::table.count().get_result(&mut conn).unwrap();
    assert!(n >= 10, "{n} tickets");
    let unresolved: i64 = tickets::table
        .filter(tickets::customer_id.is_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert!(unresolved > 0 && unresolved < n);
    assert!(abuse_desk::db::users::verify(&mut conn, "admin", &password)
        .unwrap()
        .is_some());
    assert_eq!(
        abuse_desk::demo::prepare(&mut conn, &settings).unwrap(),
        None,
        "second start leaves the data alone"
    );
}

#[actix_web::test]
async fn templates_dir_overrides_a_page_and_keeps_escaping() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("login.html"),
        "<!doctype html><title>Our desk</title><h1>Welcome to Example Hosting's abuse desk</h1>\
         <p>{{ next }}</p><form method=post action=/login><input type=hidden name=csrf_token value=\"{{ csrf }}\"></form>",
    )
    .unwrap();
    let db = support::sqlite();
    let mut settings = abuse_desk::settings::Settings {
        database_url: db.url.clone(),
        ..Default::default()
    };
    settings.web.bind = "127.0.0.1:0".into();
    settings.web.templates_dir = Some(dir.path().to_path_buf());
    let app = abuse_desk::web::Application::build(
        &settings.web,
        abuse_desk::db::connect_pool(&settings.database().unwrap(), settings.database_pool_size)
            .unwrap(),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    // `next` is resolved as a URL (so `<` arrives percent-encoded); `&` is left as it is, and
    // the overriding template must escape it.
    let html = reqwest::get(format!("{base}/login?next=/tickets%3Fq=%3Cscript%3E%26b"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Welcome to Example Hosting"), "{html}");
    assert!(
        html.contains("%3Cscript%3E&amp;b") && !html.contains("<script>"),
        "{html}"
    );
    // Pages not overridden still come from the built-in set.
    let css = reqwest::get(format!("{base}/static/style.css"))
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
}

/// The README's first command as a new user runs it, on a port of their choosing: the address
/// it prints leads to a login that works with the password it prints.
#[actix_web::test]
async fn serve_demo_prints_where_to_log_in() {
    use std::io::BufRead;
    let db = support::sqlite();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["--database-url", &db.url, "serve", "--demo", "--no-jobs"])
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("ABUSE_DESK_WEB__PUBLIC_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Drained to the end on a thread of its own: a closed pipe would make the server's next
    // line of output its last.
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let _server = crate::imap_cli::Killed(child);
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = lines
        .iter()
        .find(|l| l.starts_with("log in at "))
        .expect("the demo says where to log in");
    let (url, password) = line["log in at ".len()..]
        .split_once(" as admin with password: ")
        .unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{port}/login"));
    let base = url.trim_end_matches("/login").to_owned();
    let mut admin = crate::web::Client {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base,
        csrf: String::new(),
    };
    for _ in 0..300 {
        if admin.http.get(url).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    admin.refresh_csrf("/login").await;
    let res = admin
        .post_form("/login", &[("username", "admin"), ("password", password)])
        .await;
    assert_eq!(res.status(), 303, "the printed password logs in");
    let queue = admin.text("/tickets").await;
    assert!(queue.contains("Outgoing Reports"), "the queue page");
    let listed = crate::web_queue::ids(&queue).len();
    assert!(listed >= 10, "the demo's open tickets are listed: {listed}");
}
