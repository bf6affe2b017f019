//! What identifies a customer: its identities, domains and netblocks, read in bulk for the
//! pages and replaced wholesale by an import.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::{Customer, CHUNK};
use crate::customers::CustomerRecord;
use crate::db::ids::CustomerId;
use crate::db::schema::{customer_domains, customer_identities, customer_netblocks};
use crate::db::DbConn;

/// A customer's identities, domains and netblocks, each sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Children {
    pub identities: Vec<String>,
    pub domains: Vec<String>,
    pub netblocks: Vec<String>,
}

impl Children {
    pub(super) fn of(record: &CustomerRecord) -> Self {
        let mut children = Self {
            identities: record.identities.clone(),
            domains: record.domains.clone(),
            netblocks: record.netblocks.iter().map(ToString::to_string).collect(),
        };
        children.sort();
        children
    }

    fn sort(&mut self) {
        self.identities.sort();
        self.domains.sort();
        self.netblocks.sort();
    }
}

/// The identities, domains and netblocks of each of `ids`, in a few chunked queries.
pub fn children_of(
    conn: &mut DbConn,
    ids: &[CustomerId],
) -> QueryResult<HashMap<CustomerId, Children>> {
    let mut all: HashMap<CustomerId, Children> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let identities: Vec<(CustomerId, String)> = customer_identities::table
            .filter(customer_identities::customer_id.eq_any(chunk))
            .select((
                customer_identities::customer_id,
                customer_identities::identity,
            ))
            .load(conn)?;
        for (id, value) in identities {
            all.entry(id).or_default().identities.push(value);
        }
        let domains: Vec<(CustomerId, String)> = customer_domains::table
            .filter(customer_domains::customer_id.eq_any(chunk))
            .select((customer_domains::customer_id, customer_domains::domain))
            .load(conn)?;
        for (id, value) in domains {
            all.entry(id).or_default().domains.push(value);
        }
        let netblocks: Vec<(CustomerId, String)> = customer_netblocks::table
            .filter(customer_netblocks::customer_id.eq_any(chunk))
            .select((customer_netblocks::customer_id, customer_netblocks::cidr))
            .load(conn)?;
        for (id, value) in netblocks {
            all.entry(id).or_default().netblocks.push(value);
        }
    }
    all.values_mut().for_each(Children::sort);
    Ok(all)
}

/// Removes the identities, domains and netblocks of the customers `ids` (at most [`CHUNK`]).
pub fn clear_children(conn: &mut DbConn, ids: &[CustomerId]) -> QueryResult<()> {
    diesel::delete(customer_identities::table.filter(customer_identities::customer_id.eq_any(ids)))
        .execute(conn)?;
    diesel::delete(customer_domains::table.filter(customer_domains::customer_id.eq_any(ids)))
        .execute(conn)?;
    diesel::delete(customer_netblocks::table.filter(customer_netblocks::customer_id.eq_any(ids)))
        .execute(conn)?;
    Ok(())
}

/// Writes the identities, domains and netblocks of `records` in place of what their
/// customers (`ids`, by external id) had.
pub(super) fn replace_children(
    conn: &mut DbConn,
    records: &[CustomerRecord],
    ids: &HashMap<String, Customer>,
) -> QueryResult<()> {
    let touched: Vec<CustomerId> = ids.values().map(|c| c.id).collect();
    for chunk in touched.chunks(CHUNK) {
        clear_children(conn, chunk)?;
    }
    let owner = |r: &CustomerRecord| ids.get(&r.external_id).map(|c| c.id);
    let identities: Vec<_> = records
        .iter()
        .filter_map(|r| owner(r).map(|id| (id, r)))
        .flat_map(|(id, r)| {
            r.identities.iter().map(move |i| {
                (
                    customer_identities::customer_id.eq(id),
                    customer_identities::identity.eq(i),
                )
            })
        })
        .collect();
    for chunk in identities.chunks(CHUNK) {
        crate::dispatch!(conn, c => diesel::insert_into(customer_identities::table).values(chunk).execute(c))?;
    }
    let domains: Vec<_> = records
        .iter()
        .filter_map(|r| owner(r).map(|id| (id, r)))
        .flat_map(|(id, r)| {
            r.domains.iter().map(move |d| {
                (
                    customer_domains::customer_id.eq(id),
                    customer_domains::domain.eq(d),
                )
            })
        })
        .collect();
    for chunk in domains.chunks(CHUNK) {
        crate::dispatch!(conn, c => diesel::insert_into(customer_domains::table).values(chunk).execute(c))?;
    }
    let netblocks: Vec<_> = records
        .iter()
        .filter_map(|r| owner(r).map(|id| (id, r)))
        .flat_map(|(id, r)| {
            r.netblocks.iter().map(move |n| {
                let (start, end) = n.bounds();
                (
                    customer_netblocks::customer_id.eq(id),
                    customer_netblocks::cidr.eq(n.to_string()),
                    customer_netblocks::family.eq(n.family()),
                    customer_netblocks::prefix_len.eq(n.prefix_len()),
                    customer_netblocks::range_start.eq(start),
                    customer_netblocks::range_end.eq(end),
                )
            })
        })
        .collect();
    for chunk in netblocks.chunks(CHUNK) {
        crate::dispatch!(conn, c => diesel::insert_into(customer_netblocks::table).values(chunk).execute(c))?;
    }
    Ok(())
}
