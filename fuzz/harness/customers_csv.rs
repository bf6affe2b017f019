//! The customers CSV reader. The first byte picks the entry point, the rest is its input: the
//! whole file (`parse_csv`), one edit form's fields (`parse_fields`, separated by tabs), or
//! one value (`parse_email`, `parse_domain`). None may panic, and what they accept is
//! normalised already: read again, it comes back unchanged.

use abuse_desk::customers::{parse_csv, parse_domain, parse_email, parse_fields, CustomerRecord};
use abuse_desk::netblock::Netblock;

const OPTIONAL: [&str; 4] = ["billing_ref", "hosting_user", "notify", "language"];

/// A record holds nothing its own parsers would change.
fn check(record: &CustomerRecord) {
    assert!(!record.external_id.is_empty());
    assert_eq!(record.external_id.trim(), record.external_id);
    assert!(!record.name.is_empty());
    for email in record.email.split(';') {
        assert_eq!(parse_email(email).as_deref(), Ok(email), "{record:?}");
    }
    for domain in &record.domains {
        assert_eq!(parse_domain(domain).as_ref(), Ok(domain), "{record:?}");
    }
    for identity in &record.identities {
        assert!(
            !identity.is_empty() && !identity.contains(';'),
            "{record:?}"
        );
        assert_eq!(&identity.to_lowercase(), identity, "{record:?}");
    }
    for netblock in &record.netblocks {
        let again = netblock.to_string().parse::<Netblock>();
        assert_eq!(again.as_ref(), Ok(netblock), "{record:?}");
    }
}

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let Ok(records) = parse_csv(rest) else {
                return;
            };
            records.iter().for_each(check);
            // Each identity, domain and netblock belongs to one customer only.
            let mut claims: Vec<_> = records.iter().flat_map(|r| r.claims()).collect();
            claims.sort();
            claims.dedup();
            let owned: usize = records
                .iter()
                .map(|r| {
                    let mut own: Vec<_> = r.claims().collect();
                    own.sort();
                    own.dedup();
                    own.len()
                })
                .sum();
            assert_eq!(claims.len(), owned);
        }
        1 => {
            let text = String::from_utf8_lossy(rest);
            let fields: Vec<&str> = text.split('\t').collect();
            if let Ok(record) = parse_fields(&fields, &OPTIONAL) {
                check(&record);
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(email) = parse_email(&text) {
                assert_eq!(parse_email(&email).as_ref(), Ok(&email));
            }
            if let Ok(domain) = parse_domain(&text) {
                assert_eq!(parse_domain(&domain).as_ref(), Ok(&domain));
            }
        }
    }
}
