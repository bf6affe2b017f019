//! `abuse-desk poll` killed with SIGKILL at random points, many times over, against a real
//! Dovecot on both backends: every message of the mailbox still ends as exactly one stored
//! message and one event, and the mailbox is emptied into its folders.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::imap_poll::{check_polled_once, copies_of_corpus, dovecot};
use crate::support::{self, TestDb};

/// Three copies of the corpus, numbered from `first`: a poll has a hundred and more messages
/// to be killed in the middle of.
fn messages(first: usize) -> Vec<Vec<u8>> {
    copies_of_corpus(first..first + 3)
}

fn poll(config: &std::path::Path, db: &TestDb) -> Child {
    Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .arg("--config")
        .arg(config)
        .args(["--database-url", &db.url, "poll", "--once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn pollers_killed_at_random_points_lose_and_double_nothing() {
    let name = "pollers_killed_at_random_points_lose_and_double_nothing";
    let seed: u64 = rand::random();
    eprintln!("{name}: seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        // Applies the migrations before the first poll, so a kill never lands in them.
        drop(db.connect());
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("desk.toml");
        let mailbox = toml::to_string(&dovecot.mailbox("fbl"))
            .unwrap()
            .replace("********", crate::dovecot::PASSWORD);
        std::fs::write(
            &config,
            format!("[ingest]\nbatch_size = 4\n\n[[mailboxes]]\n{mailbox}"),
        )
        .unwrap();

        // Kills spread from the start (connecting) to late in a poll; where polls end before
        // the kill, the window narrows to how long they take on this machine, and an
        // emptied mailbox gets new messages, until enough polls were killed while running.
        let mut appended: Vec<Vec<u8>> = Vec::new();
        let mut killed_mid_poll = 0;
        let mut window = 1000;
        for _ in 0..80 {
            if killed_mid_poll >= 10 {
                break;
            }
            if dovecot.count("INBOX") == 0 {
                let more = messages(appended.len());
                dovecot.append("INBOX", &more);
                appended.extend(more);
            }
            let mut child = poll(&config, &db);
            let wait = Duration::from_millis(rng.random_range(10..window));
            let started = Instant::now();
            while started.elapsed() < wait {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                killed_mid_poll += 1;
            } else {
                window = (window / 2).max(20);
            }
            child.wait().unwrap();
        }
        assert!(
            killed_mid_poll >= 10,
            "only {killed_mid_poll} of the polls were still running when killed ({})",
            db.backend
        );

        // A poller that is not killed finishes the work, without waiting for the dead
        // pollers' claims to run out.
        let started = Instant::now();
        let status = poll(&config, &db).wait().unwrap();
        assert!(status.success(), "{}", db.backend);
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{}",
            db.backend
        );
        check_polled_once(&db, &dovecot, &mut db.connect(), &appended);
    }
}
