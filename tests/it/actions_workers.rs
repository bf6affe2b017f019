//! Action workers side by side and after a crash: two workers on one Postgres never both carry out
//! one action, and a call interrupted by a crash is checked with the upstream before it is
//! repeated.

use std::time::Duration;

use abuse_desk::db::actions::{self, ActionState};
use abuse_desk::db::schema::actions as actions_table;
use abuse_desk::upstream::worker::Ran;
use diesel::prelude::*;
use wiremock::matchers::{method, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::actions::{ask_lock, blocking, filter, worker};
use crate::support;

fn lock_calls(requests: &[wiremock::Request], identity: &str) -> usize {
    requests
        .iter()
        .filter(|r| {
            r.url
                .query_pairs()
                .any(|(k, v)| k == "call" && v == "api_lock_outgoing_identity")
                && r.url
                    .query_pairs()
                    .any(|(k, v)| k == "identity" && v == identity)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_on_one_postgres_never_carry_out_one_action_twice() {
    let Some(db) =
        support::postgres("two_workers_on_one_postgres_never_carry_out_one_action_twice")
    else {
        return;
    };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(150)))
        .mount(&server)
        .await;
    let upstream = filter(&server.uri(), "");
    let identities: Vec<String> = (0..12).map(|i| format!("user{i}@acme.example")).collect();
    let wanted = identities.clone();
    let db = blocking(move || {
        let mut conn = db.connect();
        for identity in &wanted {
            ask_lock(&mut conn, identity, Some("filter"), None);
        }
        let runs: Vec<Ran> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (upstream, db) = (upstream.clone(), &db);
                    scope.spawn(move || worker(vec![upstream]).run_once(&mut db.connect()).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            runs.iter().map(|r| r.succeeded).sum::<u64>(),
            12,
            "{runs:?}"
        );
        assert!(
            runs.iter().all(|r| r.succeeded > 0),
            "both workers took a share: {runs:?}"
        );
        let states: Vec<(ActionState, i32)> = actions_table::table
            .select((actions_table::state, actions_table::attempts))
            .load(&mut conn)
            .unwrap();
        assert!(
            states.iter().all(|s| *s == (ActionState::Succeeded, 1)),
            "{states:?}"
        );
        db
    })
    .await;
    let requests = server.received_requests().await.unwrap();
    for identity in &identities {
        assert_eq!(lock_calls(&requests, identity), 1, "{identity} locked once");
    }
    drop(db);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_interrupted_by_a_crash_is_checked_before_it_is_repeated() {
    for db in support::backends("a_call_interrupted_by_a_crash_is_checked_before_it_is_repeated") {
        let server = MockServer::start().await;
        // The lock went through before the crash: the filter lists the identity as locked.
        Mock::given(method("GET"))
            .and(query_param("call", "api_list_locked_identities"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string("crashed@acme.example\nother@acme.example\n"),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(query_param("call", "api_lock_outgoing_identity"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let upstream = filter(&server.uri(), "");
        let db = blocking(move || {
            let mut conn = db.connect();
            let action = ask_lock(&mut conn, "crashed@acme.example", Some("filter"), None);
            // A worker claimed it an hour ago and died before recording the answer.
            let hour_ago = abuse_desk::db::now() - chrono::Duration::hours(1);
            diesel::update(actions_table::table.find(action.id))
                .set((
                    actions_table::state.eq(ActionState::Running),
                    actions_table::claimed_at.eq(Some(hour_ago)),
                    actions_table::claimed_by.eq(Some("dead-worker")),
                    actions_table::attempts.eq(1),
                ))
                .execute(&mut conn)
                .unwrap();
            let ran = worker(vec![upstream]).run_once(&mut conn).unwrap();
            assert_eq!((ran.interrupted, ran.succeeded), (1, 1), "{ran:?}");
            let after = actions::get(&mut conn, action.id).unwrap().unwrap();
            assert_eq!(after.state, ActionState::Succeeded);
            assert!(
                after.outcome.unwrap().contains("already locked"),
                "{}",
                db.backend
            );
            db
        })
        .await;
        let requests = server.received_requests().await.unwrap();
        assert_eq!(
            lock_calls(&requests, "crashed@acme.example"),
            0,
            "not repeated on {}",
            db.backend
        );
    }
}
