//! Upstream settings: valid settings of each kind pass; plain http beyond loopback, targets that do
//! not suit the kind, missing or misplaced credentials, bad Control Panel paths and other mistakes
//! are refused naming the key; credentials are masked when settings are printed.

use abuse_desk::upstream::{TargetKind, UpstreamSettings};

use crate::upstream_adapters::{
    assert_clean, cpanel, settings, spamexperts, spamexperts_cp, webhook, whmcs,
};

fn key_and_reason(settings: &UpstreamSettings) -> (&'static str, String) {
    let invalid = settings.validate().unwrap_err();
    (invalid.key, invalid.reason)
}

#[test]
fn valid_settings_of_each_kind_pass() {
    for s in [
        spamexperts("https://filter.isp.example", ""),
        spamexperts_cp("https://filter.isp.example/"),
        whmcs("https://billing.isp.example"),
        cpanel("https://server.isp.example:2087"),
        webhook("http://127.0.0.1:8080/hook", 20),
        UpstreamSettings::demo("demo"),
    ] {
        assert_eq!(s.validate(), Ok(()), "{}", s.name);
    }
    assert_eq!(spamexperts("https://f.example", "").timeout_secs, 20);
}

#[test]
fn plain_http_is_refused_except_to_loopback() {
    let (key, reason) = key_and_reason(&spamexperts("http://filter.isp.example", ""));
    assert_eq!(key, "url");
    assert!(
        reason.contains("https://") && reason.contains("loopback"),
        "{reason}"
    );
    for host in ["127.0.0.1:8080", "localhost", "[::1]:8443"] {
        assert_eq!(
            spamexperts(&format!("http://{host}"), "").validate(),
            Ok(()),
            "{host}"
        );
    }
    let (key, reason) = key_and_reason(&spamexperts("https://api-user:pw@filter.isp.example", ""));
    assert_eq!(key, "url");
    assert!(reason.contains("credentials"), "{reason}");
    assert_eq!(
        key_and_reason(&spamexperts("filter.isp.example", "")).0,
        "url"
    );
    let (key, reason) = key_and_reason(&whmcs("https://billing.isp.example/includes/api.php"));
    assert_eq!(key, "url");
    assert!(reason.contains("without /includes/api.php"), "{reason}");
}

#[test]
fn targets_must_suit_the_kind() {
    let mut s = whmcs("https://billing.isp.example");
    s.targets = vec![TargetKind::Identity];
    let (key, reason) = key_and_reason(&s);
    assert_eq!(key, "targets");
    assert_eq!(
        reason,
        "identity is not possible with kind whmcs, which acts on: account"
    );

    let mut s = spamexperts("https://filter.isp.example", "");
    s.targets = vec![TargetKind::Identity, TargetKind::OutgoingUser];
    let (key, reason) = key_and_reason(&s);
    assert_eq!(key, "targets");
    assert!(reason.contains("spamexperts-cp"), "{reason}");

    s.targets.clear();
    assert_eq!(key_and_reason(&s).0, "targets");

    let err = toml::from_str::<UpstreamSettings>(
        "name = \"x\"\nkind = \"webhook\"\nurl = \"https://h.example\"\nsecret = \"k\"\ntargets = [\"mailbox\"]\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("mailbox"), "{err}");
}

#[test]
fn missing_or_misplaced_credentials_are_named() {
    let check = |toml: &str| {
        let (key, reason) = key_and_reason(&settings(toml));
        (key, reason)
    };
    let (key, reason) = check("name = \"f\"\nkind = \"spamexperts\"\nurl = \"https://f.example\"\nusername = \"u\"\ntargets = [\"identity\"]\n");
    assert_eq!(
        (key, reason.as_str()),
        ("password", "must be set for kind spamexperts")
    );
    let (key, _) = check("name = \"w\"\nkind = \"cpanel\"\nurl = \"https://w.example:2087\"\nusername = \"root\"\ntargets = [\"account\"]\n");
    assert_eq!(key, "token");
    let (key, _) = check("name = \"b\"\nkind = \"whmcs\"\nurl = \"https://b.example\"\nsecret = \"s\"\ntargets = [\"account\"]\n");
    assert_eq!(key, "identifier");
    let (key, _) = check(
        "name = \"h\"\nkind = \"webhook\"\nurl = \"https://h.example\"\ntargets = [\"account\"]\n",
    );
    assert_eq!(key, "secret");
    let (key, reason) = check("name = \"h\"\nkind = \"webhook\"\nurl = \"https://h.example\"\nsecret = \"s\"\ntoken = \"t\"\ntargets = [\"account\"]\n");
    assert_eq!(
        (key, reason.as_str()),
        ("token", "is not used by kind webhook")
    );
}

#[test]
fn control_panel_paths_are_checked() {
    let mut s = spamexperts_cp("https://filter.isp.example");
    s.lock_user_path = None;
    let (key, reason) = key_and_reason(&s);
    assert_eq!(key, "lock_user_path");
    assert!(reason.contains("outgoing_user"), "{reason}");

    let mut s = spamexperts_cp("https://filter.isp.example");
    s.lock_user_path = Some("outgoingusers/lock/domain/{domain}/username/{user}".into());
    let (key, reason) = key_and_reason(&s);
    assert_eq!(key, "lock_user_path");
    assert!(reason.contains("unknown placeholder {user}"), "{reason}");

    let mut s = spamexperts_cp("https://filter.isp.example");
    s.unlock_identity_path = Some("outgoingidentity/unlock/domain/{domain}".into());
    assert_eq!(key_and_reason(&s).0, "unlock_identity_path");

    let mut s = spamexperts_cp("https://filter.isp.example");
    s.lock_user_path = Some("/api/outgoingusers/lock/format/json/username/{username}".into());
    assert_eq!(key_and_reason(&s).0, "lock_user_path");
}

#[test]
fn other_settings_are_checked() {
    let mut s = whmcs("https://billing.isp.example");
    s.name = "billing system".into();
    assert_eq!(key_and_reason(&s).0, "name");
    let mut s = whmcs("https://billing.isp.example");
    s.timeout_secs = 0;
    assert_eq!(key_and_reason(&s).0, "timeout_secs");
    let mut s = UpstreamSettings::demo("demo");
    s.url = Some("https://demo.example".into());
    assert_eq!(key_and_reason(&s).0, "url");
    let err = toml::from_str::<UpstreamSettings>(
        "name = \"x\"\nkind = \"demo\"\ntargets = [\"account\"]\npasword = \"typo\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("pasword"), "{err}");
}

#[test]
fn credentials_are_masked_when_settings_are_printed() {
    for s in [
        spamexperts("https://filter.isp.example", ""),
        whmcs("https://billing.isp.example"),
        cpanel("https://server.isp.example:2087"),
    ] {
        let printed = toml::to_string(&s).unwrap();
        assert!(printed.contains("\"********\""), "{printed}");
        assert_clean(&printed.replace("https://", ""));
        assert_clean(&format!("{s:?}").replace("https://", ""));
    }
}

#[test]
fn target_kinds_read_and_print_as_in_the_settings() {
    for kind in TargetKind::ALL {
        assert_eq!(kind.as_str().parse::<TargetKind>(), Ok(kind));
        assert_eq!(
            serde_json::to_string(&kind).unwrap(),
            format!("\"{}\"", kind.as_str())
        );
    }
    assert_eq!(TargetKind::OutgoingUser.as_str(), "outgoing_user");
    assert!("mailbox".parse::<TargetKind>().is_err());
}
