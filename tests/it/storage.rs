//! The storage story, on SQLite and on Postgres: customers come in from the CSV, reports are
//! resolved to them by identity, domain (and parent domain) and most specific netblock, and
//! live tickets stay unique under the open-ticket index.

use std::net::IpAddr;

use abuse_desk::customers::parse_csv;
use abuse_desk::db::customers::{self, Clues, ResolveStep};
use abuse_desk::db::ids::CustomerId;
use abuse_desk::db::schema;
use abuse_desk::db::DbConn;
use abuse_desk::tickets::queue::{self, QueueFilter, Sort};
use abuse_desk::tickets::{store as tickets, Class, Severity, Status, SubjectKind, TicketKey};
use diesel::prelude::*;

use crate::support;

const CSV: &str = "external_id,name,email,identities,domains,netblocks
acme,Acme Hosting,abuse@acme.example,bob@acme.example;172.16.10.13@example.com,acme.example,
beta,Beta Shop,ops@beta.example,,beta.example;shop.example.net,192.0.2.0/24;2001:db8::/32
gamma,Gamma Reseller,noc@gamma.example,,,192.0.2.128/25;2001:db8:1::/48
";

fn external_id(conn: &mut DbConn, id: CustomerId) -> String {
    schema::customers::table
        .find(id)
        .select(schema::customers::external_id)
        .first(conn)
        .unwrap()
}

fn resolve(
    conn: &mut DbConn,
    clues: Clues<'_>,
    order: &[ResolveStep],
) -> Option<(String, ResolveStep)> {
    customers::resolve(conn, &clues, order)
        .unwrap()
        .map(|(id, step)| (external_id(conn, id), step))
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn customers_resolve_by_identity_domain_and_most_specific_netblock() {
    for db in support::backends("customers_resolve_by_identity_domain_and_most_specific_netblock") {
        let conn = &mut db.connect();
        let summary = customers::import(conn, &parse_csv(CSV.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            (summary.created, summary.updated, summary.unchanged),
            (3, 0, 0),
            "{}",
            db.backend
        );
        let order = ResolveStep::DEFAULT_ORDER;
        let who = |conn: &mut DbConn, clues| resolve(conn, clues, &order);
        let identity = |v| Clues {
            identity: Some(v),
            ..Default::default()
        };
        let outgoing_user = |v| Clues {
            outgoing_user: Some(v),
            ..Default::default()
        };
        let domain = |v| Clues {
            sender_domain: Some(v),
            ..Default::default()
        };
        let source = |v| Clues {
            source_ip: ip(v),
            ..Default::default()
        };
        use ResolveStep::{Identity, Netblock, OutgoingUser, SenderDomain};
        // (what the report says, who it resolves to and by which step, why)
        let cases = [
            (
                identity("BOB@acme.example"),
                Some(("acme", Identity)),
                "identity, any case",
            ),
            (
                outgoing_user("172.16.10.13@example.com"),
                Some(("acme", OutgoingUser)),
                "outgoing user",
            ),
            (
                domain("acme.example"),
                Some(("acme", SenderDomain)),
                "sender domain",
            ),
            (
                domain("mail.eu.Shop.Example.NET."),
                Some(("beta", SenderDomain)),
                "parent domain walk",
            ),
            (
                domain("example.net"),
                None,
                "a parent does not match its child",
            ),
            (source("192.0.2.5"), Some(("beta", Netblock)), "v4 block"),
            (
                source("192.0.2.200"),
                Some(("gamma", Netblock)),
                "most specific v4 block",
            ),
            (
                source("192.0.2.128"),
                Some(("gamma", Netblock)),
                "first address of a block",
            ),
            (
                source("192.0.2.127"),
                Some(("beta", Netblock)),
                "last address before a block",
            ),
            (
                source("::ffff:192.0.2.255"),
                Some(("gamma", Netblock)),
                "v4-mapped v6",
            ),
            (
                source("2001:db8:1::5"),
                Some(("gamma", Netblock)),
                "most specific v6 block",
            ),
            (
                source("2001:db8:2::1"),
                Some(("beta", Netblock)),
                "v6 block",
            ),
            (source("198.51.100.1"), None, "v4 address of nobody"),
            (source("2001:db9::1"), None, "v6 address of nobody"),
            (Clues::default(), None, "nothing to go by"),
        ];
        for (clues, expected, why) in cases {
            let expected = expected.map(|(who, step)| (who.to_owned(), step));
            assert_eq!(who(conn, clues), expected, "{why} on {}", db.backend);
        }

        // First match wins, in the configured order.
        let mixed = Clues {
            identity: Some("bob@acme.example"),
            source_ip: ip("192.0.2.200"),
            ..Default::default()
        };
        assert_eq!(
            who(conn, mixed.clone()),
            Some(("acme".into(), ResolveStep::Identity))
        );
        assert_eq!(
            resolve(conn, mixed, &[ResolveStep::Netblock, ResolveStep::Identity]),
            Some(("gamma".into(), ResolveStep::Netblock))
        );
        let unknown_first = Clues {
            identity: Some("nobody@nowhere.example"),
            sender_domain: Some("beta.example"),
            ..Default::default()
        };
        assert_eq!(
            who(conn, unknown_first),
            Some(("beta".into(), ResolveStep::SenderDomain))
        );
    }
}

#[test]
fn reimport_updates_without_duplicating_and_refuses_stolen_values() {
    for db in support::backends("reimport_updates_without_duplicating_and_refuses_stolen_values") {
        let conn = &mut db.connect();
        customers::import(conn, &parse_csv(CSV.as_bytes()).unwrap()).unwrap();
        let again = customers::import(conn, &parse_csv(CSV.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            (again.created, again.updated, again.unchanged),
            (0, 0, 3),
            "{}",
            db.backend
        );

        // gamma gives up its v6 block and gets a new name; acme's identity moves to beta.
        let changed = "external_id,name,email,identities,domains,netblocks
gamma,Gamma Reseller GmbH,noc@gamma.example,,,192.0.2.128/25
acme,Acme Hosting,abuse@acme.example,172.16.10.13@example.com,acme.example,
beta,Beta Shop,ops@beta.example,bob@acme.example,beta.example;shop.example.net,192.0.2.0/24;2001:db8::/32
delta,Delta,abuse@delta.example,,,10.0.0.0/8
";
        let summary = customers::import(conn, &parse_csv(changed.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            (summary.created, summary.updated, summary.unchanged),
            (1, 3, 0),
            "{}",
            db.backend
        );
        let list = customers::list(conn).unwrap();
        assert_eq!(
            list.iter()
                .map(|c| c.external_id.as_str())
                .collect::<Vec<_>>(),
            ["acme", "beta", "delta", "gamma"]
        );
        assert_eq!(list[3].name, "Gamma Reseller GmbH");
        assert_eq!((list[3].netblocks, list[1].identities), (1, 1));
        let order = ResolveStep::DEFAULT_ORDER;
        assert_eq!(
            resolve(
                conn,
                Clues {
                    identity: Some("bob@acme.example"),
                    ..Default::default()
                },
                &order
            )
            .unwrap()
            .0,
            "beta"
        );
        assert_eq!(
            resolve(
                conn,
                Clues {
                    source_ip: ip("2001:db8:1::5"),
                    ..Default::default()
                },
                &order
            )
            .unwrap()
            .0,
            "beta"
        );

        // A file claiming a domain that belongs to a customer it does not list: refused whole.
        let stealing = "external_id,name,email,identities,domains,netblocks
epsilon,Epsilon,abuse@epsilon.example,,epsilon.example,
zeta,Zeta,abuse@zeta.example,,acme.example,
";
        let err = customers::import(conn, &parse_csv(stealing.as_bytes()).unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(err, "line 3: domain 'acme.example' already belongs to customer 'acme', which is not in this file");
        assert_eq!(
            customers::list(conn).unwrap().len(),
            4,
            "nothing of a refused file is applied on {}",
            db.backend
        );
    }
}

#[test]
fn one_live_ticket_per_customer_subject_and_class() {
    for db in support::backends("one_live_ticket_per_customer_subject_and_class") {
        let conn = &mut db.connect();
        customers::import(conn, &parse_csv(CSV.as_bytes()).unwrap()).unwrap();
        let acme = customers::resolve(
            conn,
            &Clues {
                identity: Some("bob@acme.example"),
                ..Default::default()
            },
            &ResolveStep::DEFAULT_ORDER,
        )
        .unwrap()
        .unwrap()
        .0;
        let at = abuse_desk::db::now();
        let key = TicketKey {
            customer_id: Some(acme),
            subject_kind: SubjectKind::Identity,
            subject: "bob@acme.example".into(),
            class: Class::Abuse,
        };

        let (first, created) = tickets::live_or_create(conn, &key, Severity::Abuse, at).unwrap();
        assert!(created);
        assert_eq!(
            tickets::live_or_create(conn, &key, Severity::Abuse, at).unwrap(),
            (first, false),
            "{}",
            db.backend
        );
        // The same address seen as a sender is the same mailbox: the same ticket.
        let as_sender = TicketKey {
            subject_kind: SubjectKind::Sender,
            ..key.clone()
        };
        assert_eq!(
            tickets::live_or_create(conn, &as_sender, Severity::Abuse, at).unwrap(),
            (first, false)
        );
        let other_class = TicketKey {
            class: Class::Fraud,
            ..key.clone()
        };
        assert_ne!(
            tickets::live_or_create(conn, &other_class, Severity::Abuse, at)
                .unwrap()
                .0,
            first
        );

        // Tickets without a customer are deduplicated as well.
        let unresolved = TicketKey {
            customer_id: None,
            subject_kind: SubjectKind::Ip,
            subject: "198.51.100.7".into(),
            class: Class::Abuse,
        };
        let (orphan, created) =
            tickets::live_or_create(conn, &unresolved, Severity::Info, at).unwrap();
        assert!(created);
        assert_eq!(
            tickets::live_or_create(conn, &unresolved, Severity::Info, at).unwrap(),
            (orphan, false),
            "unresolved dedup on {}",
            db.backend
        );

        // Resolved and ignored tickets stay live; closing one makes room for a new ticket.
        tickets::set_status(conn, first, Status::Resolved, at).unwrap();
        assert_eq!(
            tickets::live_or_create(conn, &key, Severity::Abuse, at).unwrap(),
            (first, false)
        );
        tickets::set_status(conn, first, Status::Ignored, at).unwrap();
        assert_eq!(
            tickets::live_or_create(conn, &key, Severity::Abuse, at).unwrap(),
            (first, false)
        );
        tickets::set_status(conn, first, Status::Closed, at).unwrap();
        let (second, created) = tickets::live_or_create(conn, &key, Severity::Abuse, at).unwrap();
        assert!(created && second != first, "{}", db.backend);
        // Reopening the closed one while another is live is refused by the index itself.
        assert!(
            tickets::set_status(conn, first, Status::Open, at).is_err(),
            "unique open-ticket index on {}",
            db.backend
        );

        let list = |conn: &mut abuse_desk::db::DbConn, status| {
            let filter = QueueFilter {
                status: Some(status),
                ..Default::default()
            };
            queue::page(conn, &filter, Sort::LastSeen, None, 100, None, None).unwrap()
        };
        let open = list(conn, Status::Open);
        assert_eq!(open.len(), 3);
        let closed = list(conn, Status::Closed);
        assert_eq!(closed.iter().map(|t| t.id).collect::<Vec<_>>(), vec![first]);
        assert_eq!(closed[0].customer_external_id.as_deref(), Some("acme"));
        let orphan_row = open.iter().find(|t| t.id == orphan).unwrap();
        assert_eq!(
            (
                orphan_row.customer_external_id.as_deref(),
                orphan_row.subject_kind.as_str()
            ),
            (None, "ip")
        );

        // A reporter's own class may hold the key's separator: these two once had the same
        // key ("0|a|b|c"), and the second report was counted on the first one's ticket.
        let pipe = |subject: &str, class: &str| TicketKey {
            customer_id: None,
            subject_kind: SubjectKind::Sender,
            subject: subject.into(),
            class: Class::of(class),
        };
        let (one, created_one) =
            tickets::live_or_create(conn, &pipe("a|b", "c"), Severity::Info, at).unwrap();
        let (two, created_two) =
            tickets::live_or_create(conn, &pipe("a", "b|c"), Severity::Info, at).unwrap();
        assert!(created_one && created_two && one != two, "{}", db.backend);
    }
}

/// The pool trusts a connection that has just answered, without asking the server again at
/// checkout; once the server drops it, one unit of work fails and the next checkout replaces
/// it.
#[test]
fn a_connection_the_server_dropped_fails_once_then_is_replaced() {
    use abuse_desk::db::{connect_pool, DatabaseUrl};
    use diesel::sql_types::Integer;

    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = Integer)]
        pid: i32,
    }
    let backend_pid = |conn: &mut DbConn| -> QueryResult<i32> {
        diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(conn)
            .map(|p| p.pid)
    };
    let Some(db) = support::postgres("a_connection_the_server_dropped_fails_once_then_is_replaced")
    else {
        return;
    };
    let pool = connect_pool(&DatabaseUrl::parse(&db.url).unwrap(), 1).unwrap();
    let first = {
        let mut conn = pool.get().unwrap();
        let pid = backend_pid(&mut conn);
        conn.record(&pid);
        pid.unwrap()
    };
    let mut admin = db.connect();
    diesel::sql_query(format!("SELECT pg_terminate_backend({first})"))
        .execute(&mut admin)
        .unwrap();

    // Just vouched for, the dropped connection is handed out, and its work fails …
    let mut conn = pool.get().unwrap();
    let failed = backend_pid(&mut conn);
    assert!(failed.is_err(), "{failed:?}");
    conn.record(&failed);
    drop(conn);
    // … and the next checkout asks it, finds it dead and connects anew.
    let mut conn = pool.get().unwrap();
    let second = backend_pid(&mut conn).unwrap();
    assert_ne!(second, first);
}
