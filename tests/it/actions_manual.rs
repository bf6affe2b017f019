//! Actions no upstream carries out: a target no upstream handles is left to staff, who mark it done
//! by hand, and such a manual lock counts as in force for the automatic rule.

use abuse_desk::db::actions::{self, ActionKind, Routes};

use crate::actions::{actions_json, ask_lock, blocking, cli, filter_table};
use crate::support;

#[tokio::test(flavor = "multi_thread")]
async fn a_target_no_upstream_handles_is_left_to_staff_who_mark_it_done() {
    for db in support::backends("a_target_no_upstream_handles_is_left_to_staff_who_mark_it_done") {
        // The only upstream handles identities; the account is staff's to suspend.
        let toml = filter_table("https://filter.example.net", "");
        blocking(move || {
            let said = cli(
                &db,
                &toml,
                &[
                    "lock",
                    "account",
                    "acme",
                    "--reason",
                    "third spam run this month",
                ],
            );
            assert!(said.contains("is manual"), "{said}");
            let listed = actions_json(&db, &toml);
            assert_eq!(listed[0]["state"], "manual");
            let id = listed[0]["id"].as_i64().unwrap().to_string();
            let said = cli(
                &db,
                &toml,
                &[
                    "actions",
                    "done",
                    &id,
                    "--note",
                    "suspended in WHMCS by hand",
                ],
            );
            assert!(said.contains("is succeeded"), "{said}");
            let listed = actions_json(&db, &toml);
            assert_eq!(listed[0]["state"], "succeeded");
            assert_eq!(
                listed[0]["outcome"],
                "done by hand: suspended in WHMCS by hand"
            );
        })
        .await;
    }
}

/// Routes of the demo and lock_in_force see manual actions as in force, so the automatic
/// rule does not pile locks on an identity staff are about to lock by hand.
#[test]
fn a_manual_lock_counts_as_in_force_for_the_automatic_rule() {
    let db = support::sqlite();
    let mut conn = db.connect();
    ask_lock(&mut conn, "manual@acme.example", None, Some(1));
    assert!(actions::lock_in_force(
        &mut conn,
        ActionKind::LockIdentity,
        "manual@acme.example",
        abuse_desk::db::now()
    )
    .unwrap());
    assert!(Routes::default()
        .upstream_for(ActionKind::LockIdentity)
        .is_none());
}
