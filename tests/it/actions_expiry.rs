//! A temporary lock undoes itself when its time is up: the worker queues the unlock as the system,
//! carries it out once, and does not queue it twice.

use abuse_desk::db::actions::{self, ActionKind, ActionState};
use abuse_desk::db::schema::{actions as actions_table, audit_log};
use abuse_desk::upstream::worker::Ran;
use diesel::prelude::*;
use wiremock::matchers::{method, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::actions::{ask_lock, blocking, filter, worker};
use crate::support;

#[tokio::test(flavor = "multi_thread")]
async fn a_temporary_lock_undoes_itself_when_its_time_is_up() {
    for db in support::backends("a_temporary_lock_undoes_itself_when_its_time_is_up") {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(query_param("call", "api_unlock_outgoing_identity"))
            .respond_with(ResponseTemplate::new(200).set_body_string(""))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(query_param("call", "api_lock_outgoing_identity"))
            .respond_with(ResponseTemplate::new(200).set_body_string(""))
            .expect(1)
            .mount(&server)
            .await;
        let upstream = filter(
            &server.uri(),
            "unlock_call = \"api_unlock_outgoing_identity\"\n",
        );
        blocking(move || {
            let mut conn = db.connect();
            let worker = worker(vec![upstream]);
            let lock = ask_lock(&mut conn, "temp@acme.example", Some("filter"), Some(1));
            assert_eq!(worker.run_once(&mut conn).unwrap().succeeded, 1);
            let held = abuse_desk::db::locks::in_force(&mut conn, &["temp@acme.example"]).unwrap();
            assert_eq!(
                held["temp@acme.example"].state,
                abuse_desk::db::locks::LockState::Locked
            );
            // The hour passes.
            diesel::update(actions_table::table.find(lock.id))
                .set(
                    actions_table::expires_at
                        .eq(Some(abuse_desk::db::now() - chrono::Duration::minutes(1))),
                )
                .execute(&mut conn)
                .unwrap();
            let ran = worker.run_once(&mut conn).unwrap();
            assert_eq!(
                (ran.expired, ran.succeeded),
                (1, 1),
                "{ran:?} on {}",
                db.backend
            );
            let held = abuse_desk::db::locks::in_force(&mut conn, &["temp@acme.example"]).unwrap();
            assert!(held.is_empty(), "unlocked: {held:?}");
            let unlock = actions::list(&mut conn, None, 10)
                .unwrap()
                .into_iter()
                .find(|a| a.kind == ActionKind::UnlockIdentity)
                .unwrap();
            assert_eq!(
                (unlock.state, unlock.requested_by),
                (ActionState::Succeeded, None)
            );
            let trail: Vec<(String, String)> = audit_log::table
                .select((audit_log::actor, audit_log::detail))
                .load(&mut conn)
                .unwrap();
            assert!(
                trail.iter().any(|(actor, detail)| actor == "system"
                    && detail.starts_with(
                        "unlock_identity temp@acme.example queued: the temporary lock"
                    )),
                "{trail:?}"
            );
            // Nothing more to do: the expiry is not queued twice.
            assert_eq!(worker.run_once(&mut conn).unwrap(), Ran::default());
        })
        .await;
    }
}
