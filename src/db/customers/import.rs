//! Loading the customers CSV: every record checked against the database before anything is
//! written, then created or updated with its identities, domains and netblocks, in one
//! transaction.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde::Serialize;

use super::children::{children_of, clear_children, replace_children, Children};
use super::{Customer, CHUNK};
use crate::customers::CustomerRecord;
use crate::db::audit::{self, Actor};
use crate::db::ids::CustomerId;
use crate::db::schema::{customer_domains, customer_identities, customer_netblocks, customers};
use crate::db::{now, DbConn};

#[derive(Insertable)]
#[diesel(table_name = customers)]
struct CustomerInsertForm<'a> {
    external_id: &'a str,
    name: &'a str,
    email: &'a str,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    billing_ref: Option<&'a str>,
    hosting_user: Option<&'a str>,
    notify: bool,
    language: Option<&'a str>,
}

/// The record's optional values over `current`'s: a column the file does not have keeps the
/// stored value.
fn merged<'a>(record: &'a CustomerRecord, current: Option<&'a Customer>) -> Profile<'a> {
    let keep = |given: &'a Option<Option<String>>, stored: Option<&'a Option<String>>| match given {
        Some(value) => value.as_deref(),
        None => stored.and_then(|s| s.as_deref()),
    };
    Profile {
        billing_ref: keep(&record.extra.billing_ref, current.map(|c| &c.billing_ref)),
        hosting_user: keep(&record.extra.hosting_user, current.map(|c| &c.hosting_user)),
        notify: record
            .extra
            .notify
            .unwrap_or_else(|| current.is_none_or(|c| c.notify)),
        language: keep(&record.extra.language, current.map(|c| &c.language)),
    }
}

/// A customer's optional values as they are to be stored.
#[derive(PartialEq, Eq)]
struct Profile<'a> {
    billing_ref: Option<&'a str>,
    hosting_user: Option<&'a str>,
    notify: bool,
    language: Option<&'a str>,
}

impl<'a> Profile<'a> {
    fn of(c: &'a Customer) -> Self {
        Self {
            billing_ref: c.billing_ref.as_deref(),
            hosting_user: c.hosting_user.as_deref(),
            notify: c.notify,
            language: c.language.as_deref(),
        }
    }
}

/// What an import changed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error("line {line}: {kind} '{value}' already belongs to customer '{owner}', which is not in this file")]
    Taken {
        line: u64,
        kind: &'static str,
        value: String,
        owner: String,
    },
    #[error("customer '{external_id}' has {tickets} ticket(s); it stays for their history")]
    HasTickets { external_id: String, tickets: i64 },
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Creates or updates every customer of `records` (matched by external id) and replaces their
/// identities, domains and netblocks. All or nothing: one transaction, and a value claimed by
/// a customer outside the file is refused before anything is written.
pub fn import(
    conn: &mut DbConn,
    records: &[CustomerRecord],
) -> Result<ImportSummary, CustomerError> {
    crate::db::write(conn, |conn| {
        check_not_taken(conn, records)?;
        let existing = existing_customers(conn, records)?;
        let stamp = now();
        let mut summary = ImportSummary::default();
        let new: Vec<_> = records
            .iter()
            .filter(|r| !existing.contains_key(&r.external_id))
            .collect();
        for chunk in new.chunks(CHUNK) {
            let forms: Vec<_> = chunk
                .iter()
                .map(|r| {
                    let p = merged(r, None);
                    CustomerInsertForm {
                        external_id: &r.external_id,
                        name: &r.name,
                        email: &r.email,
                        created_at: stamp,
                        updated_at: stamp,
                        billing_ref: p.billing_ref,
                        hosting_user: p.hosting_user,
                        notify: p.notify,
                        language: p.language,
                    }
                })
                .collect();
            crate::dispatch!(conn, c => diesel::insert_into(customers::table).values(&forms).execute(c))?;
        }
        summary.created = new.len();
        let existing_ids: Vec<CustomerId> = existing.values().map(|c| c.id).collect();
        let stored = children_of(conn, &existing_ids)?;
        let mut changed: Vec<&CustomerRecord> = new.clone();
        for record in records {
            if let Some(current) = existing.get(&record.external_id) {
                let profile = merged(record, Some(current));
                let unchanged = current.name == record.name
                    && current.email == record.email
                    && profile == Profile::of(current)
                    && stored.get(&current.id).cloned().unwrap_or_default() == Children::of(record);
                if unchanged {
                    summary.unchanged += 1;
                } else {
                    diesel::update(customers::table.find(current.id))
                        .set((
                            customers::name.eq(&record.name),
                            customers::email.eq(&record.email),
                            customers::billing_ref.eq(profile.billing_ref),
                            customers::hosting_user.eq(profile.hosting_user),
                            customers::notify.eq(profile.notify),
                            customers::language.eq(profile.language),
                            customers::updated_at.eq(stamp),
                        ))
                        .execute(conn)?;
                    if current.email != record.email {
                        // New addresses: what bounced before no longer counts.
                        diesel::update(customers::table.find(current.id))
                            .set(customers::bouncing.eq(None::<String>))
                            .execute(conn)?;
                    }
                    summary.updated += 1;
                    changed.push(record);
                }
            }
        }
        // Only new and changed customers have their identities, domains and netblocks rewritten.
        let changed: Vec<CustomerRecord> = changed.into_iter().cloned().collect();
        let ids = existing_customers(conn, &changed)?;
        replace_children(conn, &changed, &ids)?;
        Ok(summary)
    })
}

fn existing_customers(
    conn: &mut DbConn,
    records: &[CustomerRecord],
) -> QueryResult<HashMap<String, Customer>> {
    let mut found = HashMap::with_capacity(records.len());
    for chunk in records.chunks(CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.external_id.as_str()).collect();
        let rows: Vec<Customer> = customers::table
            .filter(customers::external_id.eq_any(ids))
            .select(Customer::as_select())
            .load(conn)?;
        found.extend(rows.into_iter().map(|c| (c.external_id.clone(), c)));
    }
    Ok(found)
}

fn check_not_taken(conn: &mut DbConn, records: &[CustomerRecord]) -> Result<(), CustomerError> {
    let in_file: HashSet<&str> = records.iter().map(|r| r.external_id.as_str()).collect();
    let mut owner_of: HashMap<(&'static str, String), String> = HashMap::new();
    let all: Vec<(u64, &'static str, String)> = records
        .iter()
        .flat_map(|r| r.claims().map(move |(k, v)| (r.line, k, v)))
        .collect();
    for kind in ["identity", "domain", "netblock"] {
        let values: Vec<&String> = all
            .iter()
            .filter(|(_, k, _)| *k == kind)
            .map(|(_, _, v)| v)
            .collect();
        for chunk in values.chunks(CHUNK) {
            let rows: Vec<(String, String)> = match kind {
                "identity" => customer_identities::table
                    .inner_join(customers::table)
                    .filter(customer_identities::identity.eq_any(chunk))
                    .select((customer_identities::identity, customers::external_id))
                    .load(conn)?,
                "domain" => customer_domains::table
                    .inner_join(customers::table)
                    .filter(customer_domains::domain.eq_any(chunk))
                    .select((customer_domains::domain, customers::external_id))
                    .load(conn)?,
                _ => customer_netblocks::table
                    .inner_join(customers::table)
                    .filter(customer_netblocks::cidr.eq_any(chunk))
                    .select((customer_netblocks::cidr, customers::external_id))
                    .load(conn)?,
            };
            owner_of.extend(
                rows.into_iter()
                    .map(|(value, owner)| ((kind, value), owner)),
            );
        }
    }
    for (line, kind, value) in all {
        if let Some(owner) = owner_of.get(&(kind, value.clone())) {
            if !in_file.contains(owner.as_str()) {
                return Err(CustomerError::Taken {
                    line,
                    kind,
                    value,
                    owner: owner.clone(),
                });
            }
        }
    }
    Ok(())
}

/// [`import`] on behalf of staff, with its audit entry in the same transaction.
pub fn import_as(
    conn: &mut DbConn,
    records: &[CustomerRecord],
    actor: Actor<'_>,
) -> Result<ImportSummary, CustomerError> {
    crate::db::write(conn, |conn| {
        let summary = import(conn, records)?;
        let detail = format!(
            "{} created, {} updated, {} unchanged",
            summary.created, summary.updated, summary.unchanged
        );
        audit::record(
            conn,
            now(),
            actor,
            "customers_imported",
            None,
            None,
            &detail,
        )?;
        Ok(summary)
    })
}

/// Deletes a customer without tickets, with its identities, domains and netblocks; audited.
/// One with tickets is refused (its history stays: `customers forget` removes the personal
/// data instead). `false` when there is no such customer.
pub fn delete(conn: &mut DbConn, id: CustomerId, actor: Actor<'_>) -> Result<bool, CustomerError> {
    use crate::db::schema::tickets;
    crate::db::write(conn, |conn| {
        let Some(external_id) = customers::table
            .find(id)
            .select(customers::external_id)
            .first::<String>(conn)
            .optional()?
        else {
            return Ok(false);
        };
        let tickets: i64 = tickets::table
            .filter(tickets::customer_id.eq(id))
            .count()
            .get_result(conn)?;
        if tickets > 0 {
            return Err(CustomerError::HasTickets {
                external_id,
                tickets,
            });
        }
        clear_children(conn, &[id])?;
        diesel::delete(customers::table.find(id)).execute(conn)?;
        let detail = format!("deleted customer {external_id}");
        audit::record(conn, now(), actor, "customer_deleted", None, None, &detail)?;
        Ok(true)
    })
}

/// Replaces one customer's name, address, identities, domains and netblocks with `record`'s
/// (matched by its external id), audited.
pub fn edit(
    conn: &mut DbConn,
    id: CustomerId,
    record: &CustomerRecord,
    actor: Actor<'_>,
) -> Result<(), CustomerError> {
    crate::db::write(conn, |conn| {
        import(conn, std::slice::from_ref(record))?;
        let detail = format!("edited customer {}", record.external_id);
        audit::record(
            conn,
            now(),
            actor,
            "customer_edited",
            None,
            Some(id),
            &detail,
        )?;
        Ok(())
    })
}
