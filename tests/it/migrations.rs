//! The twin migration folders stay twins, and every migration runs up, down and up again.

use std::collections::BTreeSet;

use diesel::prelude::*;

use crate::support;

fn names(folder: &str) -> BTreeSet<String> {
    std::fs::read_dir(format!(
        "{}/migrations/{folder}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
    .collect()
}

#[test]
fn twin_folders_have_the_same_migrations() {
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
    for name in &sqlite {
        for backend in ["sqlite", "postgres"] {
            for file in ["up.sql", "down.sql"] {
                let path = format!(
                    "{}/migrations/{backend}/{name}/{file}",
                    env!("CARGO_MANIFEST_DIR")
                );
                assert!(std::path::Path::new(&path).is_file(), "missing {path}");
            }
        }
    }
}

#[test]
fn migrations_run_up_down_and_up_again() {
    for db in support::backends("migrations_run_up_down_and_up_again") {
        let mut conn = db.connect_bare();
        let up = abuse_desk::db::run_migrations(&mut conn).unwrap();
        assert_eq!(up.len(), names("sqlite").len(), "{}", db.backend);
        let count: i64 = abuse_desk::db::schema::tickets::table
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(count, 0);
        let down = abuse_desk::db::revert_all_migrations(&mut conn).unwrap();
        assert_eq!(down.len(), up.len(), "{}", db.backend);
        assert!(
            abuse_desk::db::schema::tickets::table
                .count()
                .get_result::<i64>(&mut conn)
                .is_err(),
            "tickets table survived the down migration on {}",
            db.backend
        );
        assert_eq!(
            abuse_desk::db::run_migrations(&mut conn).unwrap(),
            up,
            "{}",
            db.backend
        );
        assert!(abuse_desk::db::run_migrations(&mut conn)
            .unwrap()
            .is_empty());
    }
}
