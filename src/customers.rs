//! Customers as abuse staff load them: the CSV of DESIGN.md
//! (`external_id,name,email,identities,domains,netblocks`, lists `;`-separated, then any of the
//! optional columns `billing_ref,hosting_user,notify,language`), parsed into checked records
//! before anything touches the database.

use std::collections::HashMap;
use std::io::Read;

use crate::limits::{CUSTOMER_FIELD, CUSTOMER_ITEM};
use crate::netblock::Netblock;

/// One customer as the CSV describes it, every value normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRecord {
    /// The CSV line the record came from, for error messages.
    pub line: u64,
    pub external_id: String,
    pub name: String,
    /// One or more addresses, `;`-separated: notices go to all of them.
    pub email: String,
    pub identities: Vec<String>,
    pub domains: Vec<String>,
    pub netblocks: Vec<Netblock>,
    pub extra: Extra,
}

/// The optional columns. `None` where the file has no such column: the stored value stays;
/// `Some(None)` where the file's cell is empty: the stored value is cleared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extra {
    /// The customer's service id in the billing panel (WHMCS `serviceid`).
    pub billing_ref: Option<Option<String>>,
    /// The customer's hosting account user (cPanel).
    pub hosting_user: Option<Option<String>>,
    /// Whether the customer is told about its tickets (`yes` / `no`; empty: yes).
    pub notify: Option<bool>,
    /// The language of its notices (`en`, `de`, …; empty: the default).
    pub language: Option<Option<String>>,
}

impl CustomerRecord {
    /// The identifying values the record claims, as (kind, value): each may belong to one
    /// customer only.
    pub fn claims(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        self.identities
            .iter()
            .map(|i| ("identity", i.clone()))
            .chain(self.domains.iter().map(|d| ("domain", d.clone())))
            .chain(self.netblocks.iter().map(|n| ("netblock", n.to_string())))
    }
}

/// A CSV that cannot be imported; nothing of it is applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CsvError {
    #[error("line {line}: {reason}")]
    Row { line: u64, reason: String },
    #[error("the header must be external_id,name,email,identities,domains,netblocks, then any of billing_ref,hosting_user,notify,language (found: {0})")]
    Header(String),
    #[error("cannot read the CSV: {0}")]
    Read(String),
}

/// The optional columns, after the six of [`HEADER`], in any order.
const OPTIONAL: [&str; 4] = ["billing_ref", "hosting_user", "notify", "language"];

const HEADER: [&str; 6] = [
    "external_id",
    "name",
    "email",
    "identities",
    "domains",
    "netblocks",
];

/// Parses and checks a whole customers CSV. Every row is checked, including duplicates across
/// rows (an identity, domain or netblock may belong to one customer only), before any write.
pub fn parse_csv(input: impl Read) -> Result<Vec<CustomerRecord>, CsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| CsvError::Read(e.to_string()))?
        .clone();
    let found: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let optional = &found[HEADER.len().min(found.len())..];
    let known = optional.iter().all(|c| OPTIONAL.contains(&c.as_str()))
        && (1..optional.len()).all(|i| !optional[..i].contains(&optional[i]));
    if found.len() < HEADER.len() || found[..HEADER.len()] != HEADER || !known {
        return Err(CsvError::Header(
            header.iter().collect::<Vec<_>>().join(","),
        ));
    }
    let mut records = Vec::new();
    let mut owners = Owners::default();
    for row in reader.records() {
        let row = row.map_err(|e| match e.position() {
            Some(pos) => CsvError::Row {
                line: pos.line(),
                reason: e.to_string(),
            },
            None => CsvError::Read(e.to_string()),
        })?;
        let line = row.position().map_or(0, |p| p.line());
        let record =
            parse_row(line, &row, optional).map_err(|reason| CsvError::Row { line, reason })?;
        owners
            .claim(&record)
            .map_err(|reason| CsvError::Row { line, reason })?;
        records.push(record);
    }
    Ok(records)
}

/// Refuses records that could not come from one file: an external id listed twice, or an
/// identity, domain or netblock claimed by two of them (each named by its `line`).
pub fn check_together(records: &[CustomerRecord]) -> Result<(), String> {
    let mut owners = Owners::default();
    records.iter().try_for_each(|r| {
        owners
            .claim(r)
            .map_err(|reason| format!("{}: {reason}", r.line))
    })
}

/// One customer from its fields (as an edit form gives them: the six of the file, then the
/// optional ones named in `optional`; lists `;`-separated), checked as a line of the file
/// would be.
pub fn parse_fields(fields: &[&str], optional: &[&str]) -> Result<CustomerRecord, String> {
    let optional: Vec<String> = optional.iter().map(|c| (*c).to_owned()).collect();
    parse_row(1, &csv::StringRecord::from(fields.to_vec()), &optional)
}

fn parse_row(
    line: u64,
    row: &csv::StringRecord,
    optional: &[String],
) -> Result<CustomerRecord, String> {
    let field = |i: usize| row.get(i).unwrap_or("").trim();
    let external_id = CUSTOMER_FIELD.check(field(0)).map_err(|e| e.to_string())?;
    if external_id.is_empty() {
        return Err("external_id is empty".into());
    }
    let refused = |e: String| format!("customer '{external_id}': {e}");
    let name = CUSTOMER_FIELD
        .check(field(1))
        .map_err(|e| refused(e.to_string()))?;
    if name.is_empty() {
        return Err(refused("name is empty".into()));
    }
    let email = list(field(2))
        .map(|e| CUSTOMER_ITEM.check(e).map_err(|e| e.to_string()))
        .map(|e| e.and_then(parse_email))
        .collect::<Result<Vec<_>, _>>()
        .map_err(refused)?;
    if email.is_empty() {
        return Err(refused("email is empty".into()));
    }
    let extra = parse_extra(optional, |i| field(HEADER.len() + i)).map_err(refused)?;
    let identities = list(field(3))
        .map(|i| match CUSTOMER_ITEM.check(i) {
            Ok(i) => Ok(i.to_lowercase()),
            Err(e) => Err(refused(e.to_string())),
        })
        .collect::<Result<_, _>>()?;
    let domains = list(field(4))
        .map(|d| parse_domain(d).map_err(refused))
        .collect::<Result<_, _>>()?;
    let netblocks = list(field(5))
        .map(|n| n.parse::<Netblock>().map_err(|e| refused(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(CustomerRecord {
        line,
        external_id: external_id.to_owned(),
        name: name.to_owned(),
        email: email.join(";"),
        identities,
        domains,
        netblocks,
        extra,
    })
}

/// The optional cells, by the columns the header named.
fn parse_extra<'a>(columns: &[String], cell: impl Fn(usize) -> &'a str) -> Result<Extra, String> {
    let mut extra = Extra::default();
    let text = |v: &str| -> Result<_, String> {
        let v = CUSTOMER_FIELD.check(v).map_err(|e| e.to_string())?;
        Ok(Some((!v.is_empty()).then(|| v.to_owned())))
    };
    for (i, column) in columns.iter().enumerate() {
        let value = cell(i);
        match column.as_str() {
            "billing_ref" => extra.billing_ref = text(value)?,
            "hosting_user" => extra.hosting_user = text(value)?,
            "notify" => {
                extra.notify = Some(match value.to_ascii_lowercase().as_str() {
                    "" | "yes" | "y" | "true" | "1" | "on" => true,
                    "no" | "n" | "false" | "0" | "off" => false,
                    other => return Err(format!("notify is yes or no, not '{other}'")),
                })
            }
            "language" => {
                let lang = value.to_ascii_lowercase();
                if !lang.is_empty()
                    && (lang.len() > 8
                        || !lang.chars().all(|c| c.is_ascii_alphabetic() || c == '-'))
                {
                    return Err(format!(
                        "language is a code such as en or de, not '{value}'"
                    ));
                }
                extra.language = text(&lang)?;
            }
            _ => {}
        }
    }
    Ok(extra)
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(';').map(str::trim).filter(|v| !v.is_empty())
}

/// The customer's contact address; notifications go there, so it must at least look like one.
pub fn parse_email(value: &str) -> Result<String, String> {
    let value = value.trim();
    match value.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value
                    .chars()
                    .any(|c| c.is_whitespace() || c == ',' || c == ';' || c == '<' || c == '>') =>
        {
            Ok(value.to_owned())
        }
        _ => Err(format!("'{value}' is not an email address")),
    }
}

/// A domain as looked up on ingest: lowercase, no trailing dot.
pub fn parse_domain(value: &str) -> Result<String, String> {
    let domain = value.trim().trim_end_matches('.').to_lowercase();
    let valid = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if valid {
        Ok(domain)
    } else {
        Err(format!("'{value}' is not a domain name"))
    }
}

/// Tracks which row claimed each identity, domain and netblock within one file.
#[derive(Default)]
struct Owners {
    external_ids: HashMap<String, u64>,
    values: HashMap<(&'static str, String), (u64, String)>,
}

impl Owners {
    fn claim(&mut self, record: &CustomerRecord) -> Result<(), String> {
        if let Some(first) = self
            .external_ids
            .insert(record.external_id.clone(), record.line)
        {
            return Err(format!(
                "customer '{}' is listed twice (first on line {first})",
                record.external_id
            ));
        }
        for (kind, value) in record.claims() {
            let owner = (record.line, record.external_id.clone());
            if let Some((line, other)) = self.values.insert((kind, value.clone()), owner) {
                if other != record.external_id {
                    return Err(format!(
                        "{kind} '{value}' already belongs to customer '{other}' (line {line})"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "external_id,name,email,identities,domains,netblocks\n";

    #[test]
    fn parses_lists_and_normalises() {
        let csv = format!("{HEAD}c1,Acme,abuse@acme.example,Bob@Acme.example; 10.0.0.5 ,Acme.Example.;shop.example,192.0.2.0/24;2001:db8::/32\n");
        let records = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.line, 2);
        assert_eq!(r.identities, vec!["bob@acme.example", "10.0.0.5"]);
        assert_eq!(r.domains, vec!["acme.example", "shop.example"]);
        assert_eq!(
            r.netblocks
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["192.0.2.0/24", "2001:db8::/32"]
        );
    }

    #[test]
    fn names_the_bad_line() {
        let csv = format!("{HEAD}c1,Acme,abuse@acme.example,,,\nc2,Beta,not-an-address,,,\n");
        assert_eq!(
            parse_csv(csv.as_bytes()).unwrap_err().to_string(),
            "line 3: customer 'c2': 'not-an-address' is not an email address"
        );
        let csv = format!("{HEAD}c1,Acme,a@acme.example,,,10.0.0.0/33\n");
        assert!(parse_csv(csv.as_bytes())
            .unwrap_err()
            .to_string()
            .starts_with("line 2: customer 'c1': '10.0.0.0/33' is not a netblock"));
        let csv = format!(
            "{HEAD}c1,Acme,a@acme.example,,acme.example,\nc2,Beta,b@beta.example,,ACME.example,\n"
        );
        assert_eq!(
            parse_csv(csv.as_bytes()).unwrap_err().to_string(),
            "line 3: domain 'acme.example' already belongs to customer 'c1' (line 2)"
        );
        let csv = format!("{HEAD}c1,Acme,a@acme.example,,,\nc1,Acme,a@acme.example,,,\n");
        assert!(parse_csv(csv.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("listed twice"));
        assert!(matches!(
            parse_csv("id,name\n".as_bytes()),
            Err(CsvError::Header(_))
        ));
        let csv = format!("{HEAD}c1,Acme,a@acme.example,,\n");
        assert!(matches!(
            parse_csv(csv.as_bytes()),
            Err(CsvError::Row { line: 2, .. })
        ));
    }
}
