//! Mailboxes at providers that take only OAuth 2.0: a real Dovecot checks XOAUTH2 logins
//! against an introspection endpoint, and a stand-in for the provider (wiremock) plays the
//! token endpoint and the introspection endpoint. A poll logs in with a token had for the
//! refresh token and ingests; a token about to expire is replaced at the next poll; a refused
//! refresh token fails the poll with an error naming the mailbox, and nothing is lost. Polls
//! show in the metrics by mailbox.

use abuse_desk::demo;
use abuse_desk::imap::{self, MailboxSettings};
use abuse_desk::ingest::Ingestor;
use abuse_desk::metrics::Metrics;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::dovecot::{Dovecot, Options};
use crate::imap_poll::options;
use crate::support;
use crate::web::spec;

fn token(access: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": access, "token_type": "Bearer", "expires_in": expires_in
    }))
}

async fn provider() -> MockServer {
    let provider = MockServer::start().await;
    // The first token lives one second (so the next poll needs another), the next an hour.
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=refresh-good"))
        .respond_with(token("at-first", 1))
        .up_to_n_times(1)
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=refresh-good"))
        .respond_with(token("at-second", 3600))
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_grant", "error_description": "Token has been expired or revoked."
        })))
        .mount(&provider)
        .await;
    for access in ["at-first", "at-second"] {
        Mock::given(method("POST"))
            .and(path("/introspect"))
            .and(body_string_contains(format!("token={access}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                serde_json::json!({ "active": true, "username": crate::dovecot::USER }),
            ))
            .mount(&provider)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({ "active": false })),
        )
        .mount(&provider)
        .await;
    provider
}

fn mailbox(name: &str, provider: &MockServer, dovecot: &Dovecot, refresh: &str) -> MailboxSettings {
    let mailbox: MailboxSettings = toml::from_str(&format!(
        "name = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nusername = \"{user}\"\n\
         auth = \"xoauth2\"\ntoken_url = \"{uri}/token\"\nclient_id = \"desk-client\"\n\
         client_secret = \"client-secret-xyz\"\nrefresh_token = \"{refresh}\"\n\
         scope = \"https://outlook.office.com/IMAP.AccessAsUser.All offline_access\"\n\
         done_folder = \"Done\"\n",
        port = dovecot.port,
        user = crate::dovecot::USER,
        uri = provider.uri(),
    ))
    .unwrap();
    assert_eq!(mailbox.validate(), Ok(()));
    mailbox
}

fn report(serial: u64) -> Vec<u8> {
    demo::report(&spec(
        serial,
        Some("shop@bakery-mueller.example"),
        "shop@bakery-mueller.example",
        "198.51.100.5",
    ))
}

#[test]
fn a_poll_logs_in_with_xoauth2_refreshes_its_token_and_a_refused_one_loses_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let provider = runtime.block_on(provider());
    let Some(dovecot) = Dovecot::start_with(
        "a_poll_logs_in_with_xoauth2_refreshes_its_token_and_a_refused_one_loses_nothing",
        Options {
            oauth_port: provider.address().port(),
            ..Default::default()
        },
    ) else {
        return;
    };
    let token_requests = || {
        runtime
            .block_on(provider.received_requests())
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == "/token")
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
    };
    let db = support::sqlite();
    let mut conn = db.connect();
    let metrics = Metrics::new();
    let ingestor = Ingestor::from_settings(&Default::default())
        .unwrap()
        .measured(metrics.clone());
    let o365 = mailbox("o365", &provider, &dovecot, "refresh-good");

    dovecot.append("INBOX", &[report(1)]);
    let first = imap::poll(&mut conn, &ingestor, &o365, &options(), &mut |_| {});
    assert_eq!(first.error, None, "{}", dovecot.log());
    assert_eq!((first.ingest.messages, first.ingest.reports), (1, 1));
    assert_eq!(dovecot.count("INBOX"), 0);
    let sent = token_requests();
    assert_eq!(sent.len(), 1);
    for field in [
        "grant_type=refresh_token",
        "refresh_token=refresh-good",
        "client_id=desk-client",
        "client_secret=client-secret-xyz",
        "scope=https%3A%2F%2Foutlook.office.com%2FIMAP.AccessAsUser.All+offline_access",
    ] {
        assert!(sent[0].contains(field), "{field} in {}", sent[0]);
    }

    // The first token was good for a second only: the next poll asks for a fresh one.
    dovecot.append("INBOX", &[report(2)]);
    let second = imap::poll(&mut conn, &ingestor, &o365, &options(), &mut |_| {});
    assert_eq!(second.error, None);
    assert_eq!(second.ingest.reports, 1);
    assert_eq!(token_requests().len(), 2);
    // The second one lasts an hour: reused.
    let third = imap::poll(&mut conn, &ingestor, &o365, &options(), &mut |_| {});
    assert_eq!(third.error, None);
    assert_eq!(token_requests().len(), 2);

    // A revoked refresh token: a clear error, no retries, the message stays in the folder.
    let gmail = mailbox("gmail", &provider, &dovecot, "refresh-revoked");
    dovecot.append("INBOX", &[report(3)]);
    let refused = imap::poll(&mut conn, &ingestor, &gmail, &options(), &mut |_| {});
    let error = refused.error.clone().unwrap();
    assert_eq!(refused.mailbox, "gmail");
    assert_eq!(
        error,
        "OAuth: the token endpoint refused the refresh token (HTTP 400, invalid_grant): renew \
         refresh_token or check client_id / client_secret"
    );
    assert_eq!(refused.attempts, 1);
    assert_eq!(refused.ingest.messages, 0);
    assert_eq!(dovecot.count("INBOX"), 1, "nothing lost");
    let state = abuse_desk::db::mailbox_state::get(&mut conn, "gmail").unwrap();
    assert_eq!(state.last_error.as_deref(), Some(error.as_str()));

    // Once the token is renewed, the message comes in.
    let renewed = mailbox("gmail", &provider, &dovecot, "refresh-good");
    let later = imap::poll(&mut conn, &ingestor, &renewed, &options(), &mut |_| {});
    assert_eq!((later.error, later.ingest.reports), (None, 1));
    assert_eq!(dovecot.count("INBOX"), 0);

    // No secret in what an operator sees of the settings.
    let shown = format!("{o365:?} {}", toml::to_string(&o365).unwrap());
    for secret in ["client-secret-xyz", "refresh-good", "at-first", "at-second"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }

    let samples = crate::exposition::parse(&metrics.encode());
    assert_eq!(
        samples["abuse_desk_imap_poll_seconds_count{mailbox=\"o365\"}"],
        3.0
    );
    assert_eq!(
        samples["abuse_desk_imap_poll_errors_total{mailbox=\"o365\"}"],
        0.0
    );
    assert_eq!(
        samples["abuse_desk_imap_poll_errors_total{mailbox=\"gmail\"}"],
        1.0
    );
    assert_eq!(
        samples["abuse_desk_messages_ingested_total{source=\"o365\",outcome=\"new_ticket\"}"],
        1.0
    );
}
