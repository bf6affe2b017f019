//! The web queue's harness: the real application on a free port of its own database (zero to
//! production style), staff accounts of every role, and an HTTP client per person with its
//! own cookie jar that does not follow redirects (tests look at them).

use abuse_desk::db::users::{self, Role};
use abuse_desk::db::DbConn;
use abuse_desk::demo::{self, Feed, Spec};
use abuse_desk::ingest::{self, Ingestor, Origin};
use abuse_desk::jobs::{ActionJob, NoticeJob};
use abuse_desk::metrics::Metrics;
use abuse_desk::notify::deliver::Sender;
use abuse_desk::notify::MailTemplates;
use abuse_desk::settings::{Secret, Settings};
use abuse_desk::upstream::worker::Worker;
use abuse_desk::web::{Application, NoticeServices, Services};

use crate::support::TestDb;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub db: TestDb,
    pub settings: Settings,
    /// The counters the app shows at /metrics; its action worker and notice sender count
    /// into them too.
    pub metrics: Metrics,
}

/// Starts the application on `db` with an admin, an agent and a viewer.
pub async fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// [`spawn_app`] with settings changed by `configure`.
pub async fn spawn_app_with(db: TestDb, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings {
        database_url: db.url.clone(),
        database_pool_size: 4,
        ..Default::default()
    };
    settings.web.bind = "127.0.0.1:0".into();
    settings.web.session_key = Secret::new("k".repeat(64));
    configure(&mut settings);
    let mut conn = db.connect();
    for (name, role) in [
        ("admin", Role::Admin),
        ("agent", Role::Agent),
        ("viewer", Role::Viewer),
    ] {
        users::add(&mut conn, name, role, PASSWORD).unwrap();
    }
    let upstreams = settings.upstreams().unwrap();
    let metrics = Metrics::new();
    let services = Services {
        routes: upstreams.routes(),
        upstreams: upstreams.names().into_iter().map(str::to_owned).collect(),
        wake_actions: None,
        notices: None,
        metrics: metrics.clone(),
        ingestor: Some(std::sync::Arc::new(
            settings.ingestor().unwrap().measured(metrics.clone()),
        )),
    };
    let pool =
        abuse_desk::db::connect_pool(&settings.database().unwrap(), settings.database_pool_size)
            .unwrap();
    // With upstreams configured, the action worker runs beside the app and is woken by its
    // requests, as in `serve`.
    let services = if settings.upstreams.is_empty() {
        services
    } else {
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        let worker = Worker::new(settings.upstreams().unwrap(), settings.actions.clone())
            .measured(metrics.clone());
        let job = std::sync::Arc::new(ActionJob::new(worker, pool.clone(), wake.clone()));
        actix_web::rt::spawn(job.serve());
        Services {
            wake_actions: Some(wake),
            ..services
        }
    };
    // With notices enabled, the notice job runs beside the app too.
    let services = if settings.notify.enabled {
        let notices = NoticeServices {
            settings: settings.notify.clone(),
            sender: std::sync::Arc::new(
                Sender::new(
                    &settings.notify,
                    MailTemplates::new(settings.web.templates_dir.clone()),
                    &settings.web.public_url,
                )
                .unwrap()
                .measured(metrics.clone()),
            ),
            wake: std::sync::Arc::new(tokio::sync::Notify::new()),
        };
        let job = std::sync::Arc::new(NoticeJob::new(
            notices.settings.clone(),
            notices.sender.clone(),
            pool.clone(),
            notices.wake.clone(),
        ));
        actix_web::rt::spawn(job.serve());
        Services {
            notices: Some(notices),
            ..services
        }
    } else {
        services
    };
    let app = Application::build_with(&settings.web, pool, services).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        base,
        db,
        settings,
        metrics,
    }
}

impl TestApp {
    pub fn conn(&self) -> DbConn {
        self.db.connect()
    }

    /// A browser-like client with its own cookies, not logged in.
    pub fn anonymous(&self) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: self.base.clone(),
            csrf: String::new(),
        }
    }

    /// A client logged in as `user`.
    pub async fn login(&self, user: &str) -> Client {
        let mut client = self.anonymous();
        client.refresh_csrf("/login").await;
        let res = client
            .post_form("/login", &[("username", user), ("password", PASSWORD)])
            .await;
        assert_eq!(res.status(), 303, "login as {user}");
        client.refresh_csrf("/tickets").await;
        client
    }

    /// Ingests generated reports and the demo customers.
    pub fn ingest(&self, specs: &[Spec]) {
        self.ingest_raw(specs.iter().map(demo::report).collect());
    }

    /// Ingests raw reports and the demo customers.
    pub fn ingest_raw(&self, reports: Vec<Vec<u8>>) {
        let mut conn = self.conn();
        let records = abuse_desk::customers::parse_csv(demo::CUSTOMERS_CSV.as_bytes()).unwrap();
        abuse_desk::db::customers::import(&mut conn, &records).unwrap();
        let ingestor = Ingestor::from_settings(&self.settings.ingest).unwrap();
        let origin = Origin {
            source: "test",
            mailbox: None,
        };
        ingest::import(
            &mut conn,
            &ingestor,
            &origin,
            reports.into_iter().map(Ok::<_, std::convert::Infallible>),
            1,
            |_| {},
        )
        .unwrap();
    }
}

/// A report spec with sensible defaults; `serial` keeps complaints distinct.
pub fn spec(serial: u64, identity: Option<&str>, sender: &str, ip: &str) -> Spec {
    Spec {
        feed: Feed::OwnFilter,
        identity: identity.map(str::to_owned),
        sender: sender.to_owned(),
        recipient: format!("victim{serial}@mailbox.example.org"),
        source_ip: ip.to_owned(),
        subject: format!("Cheap offer {serial}"),
        body: "Buy now".into(),
        feedback_type: "abuse".into(),
        arrival: chrono::Utc::now() - chrono::Duration::minutes(serial as i64),
        serial,
    }
}

/// Moves arrivals that fall before today (UTC) to midnight. For tests of the "today" report:
/// [`spec`] dates events minutes back, which puts some of them on the day before when a test
/// runs just after midnight.
pub fn arriving_today(specs: &mut [Spec]) {
    let midnight = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    for spec in specs {
        spec.arrival = spec.arrival.max(midnight);
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: String,
}

impl Client {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn text(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    /// Posts a form with this session's CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &self.csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Uploads a file as a browser does (multipart form data, with the CSRF token).
    pub async fn post_file(
        &self,
        path: &str,
        field: &str,
        name: &str,
        bytes: &[u8],
    ) -> reqwest::Response {
        let file = reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name(name.to_owned())
            .mime_str("text/csv")
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .text("csrf_token", self.csrf.clone())
            .part(field.to_owned(), file);
        self.http
            .post(format!("{}{path}", self.base))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Posts exactly these fields.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Reads the CSRF token from a page's forms.
    pub async fn refresh_csrf(&mut self, path: &str) {
        let html = self.get(path).await.text().await.unwrap();
        self.csrf = csrf_of(&html).unwrap_or_default();
    }
}

pub fn csrf_of(html: &str) -> Option<String> {
    let re = regex::Regex::new(r#"name="csrf_token" value="([0-9a-f]+)""#).unwrap();
    re.captures(html).map(|c| c[1].to_owned())
}

/// Where a redirect points.
pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
