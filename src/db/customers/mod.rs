//! Customers and what identifies them (identities, domains, netblocks): bulk import from the
//! CSV ([`import`]), the resolution chain of DESIGN.md step 4 ([`resolve`]), and the reads
//! the pages and the command line make.

mod children;
mod import;
mod resolve;

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::ids::CustomerId;
use super::schema::{customer_domains, customer_identities, customer_netblocks, customers};
use super::DbConn;
pub use children::{children_of, clear_children, Children};
pub use import::{delete, edit, import, import_as, CustomerError, ImportSummary};
pub use resolve::{resolve, Clues, ResolveStep, Resolver};

/// Rows per multi-row INSERT or `IN (…)` list: well under SQLite's and Postgres' bind limits.
const CHUNK: usize = 500;

#[derive(Queryable, Selectable, Debug, Clone, Serialize, utoipa::ToSchema)]
#[diesel(table_name = customers)]
pub struct Customer {
    pub id: CustomerId,
    pub external_id: String,
    pub name: String,
    pub email: String,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    /// The customer's service id in the billing panel (what suspending the account suspends).
    pub billing_ref: Option<String>,
    /// The customer's hosting account user.
    pub hosting_user: Option<String>,
    /// Whether the customer is told about its tickets.
    pub notify: bool,
    /// The language of its notices; the default where none is set.
    pub language: Option<String>,
    /// Addresses a notice bounced from (`;`-separated); notices skip them.
    pub bouncing: Option<String>,
    /// When its personal data was removed (`customers forget`), if it was.
    pub forgotten_at: Option<chrono::NaiveDateTime>,
}

impl Customer {
    /// Whether a notice bounced from `address`.
    pub fn bounces(&self, address: &str) -> bool {
        self.bouncing
            .as_deref()
            .unwrap_or("")
            .split(';')
            .any(|b| b.eq_ignore_ascii_case(address))
    }

    /// The customer's addresses.
    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        self.email
            .split(';')
            .map(str::trim)
            .filter(|a| !a.is_empty())
    }
}

/// The customer, if it exists.
pub fn get(conn: &mut DbConn, id: CustomerId) -> QueryResult<Option<Customer>> {
    customers::table
        .find(id)
        .select(Customer::as_select())
        .first(conn)
        .optional()
}

/// The id of the customer with this external id.
pub fn id_by_external(conn: &mut DbConn, external_id: &str) -> QueryResult<Option<CustomerId>> {
    customers::table
        .filter(customers::external_id.eq(external_id))
        .select(customers::id)
        .first(conn)
        .optional()
}

/// One line of `customers list`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerSummary {
    pub id: CustomerId,
    pub external_id: String,
    pub name: String,
    pub email: String,
    pub identities: i64,
    pub domains: i64,
    pub netblocks: i64,
}

/// Up to `limit` customers whose external id, name or address holds `text` (any case; every
/// customer for an empty text), as [`list`] gives them.
pub fn search(conn: &mut DbConn, text: &str, limit: usize) -> QueryResult<Vec<CustomerSummary>> {
    let needle = text.trim().to_lowercase();
    Ok(list(conn)?
        .into_iter()
        .filter(|c| {
            needle.is_empty()
                || [&c.external_id, &c.name, &c.email]
                    .iter()
                    .any(|v| v.to_lowercase().contains(&needle))
        })
        .take(limit)
        .collect())
}

/// Every customer with how many identities, domains and netblocks it has, by external id.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<CustomerSummary>> {
    let rows: Vec<Customer> = customers::table
        .order(customers::external_id)
        .select(Customer::as_select())
        .load(conn)?;
    let identities = count_by_customer(
        customer_identities::table
            .group_by(customer_identities::customer_id)
            .select((customer_identities::customer_id, diesel::dsl::count_star()))
            .load(conn)?,
    );
    let domains = count_by_customer(
        customer_domains::table
            .group_by(customer_domains::customer_id)
            .select((customer_domains::customer_id, diesel::dsl::count_star()))
            .load(conn)?,
    );
    let netblocks = count_by_customer(
        customer_netblocks::table
            .group_by(customer_netblocks::customer_id)
            .select((customer_netblocks::customer_id, diesel::dsl::count_star()))
            .load(conn)?,
    );
    Ok(rows
        .into_iter()
        .map(|c| CustomerSummary {
            identities: identities.get(&c.id).copied().unwrap_or(0),
            domains: domains.get(&c.id).copied().unwrap_or(0),
            netblocks: netblocks.get(&c.id).copied().unwrap_or(0),
            id: c.id,
            external_id: c.external_id,
            name: c.name,
            email: c.email,
        })
        .collect())
}

fn count_by_customer(rows: Vec<(CustomerId, i64)>) -> HashMap<CustomerId, i64> {
    rows.into_iter().collect()
}
