//! Customers and what identifies them (identities, domains, netblocks): bulk import from the
//! CSV and the resolution chain of DESIGN.md step 4.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use diesel::prelude::*;
use serde::Serialize;

use super::ids::CustomerId;
use super::netblock::address_key;
use super::schema::{customer_domains, customer_identities, customer_netblocks, customers};
use super::{now, DbConn};
use crate::customers::CustomerRecord;

/// Rows per multi-row INSERT or `IN (…)` list: well under SQLite's and Postgres' bind limits.
const CHUNK: usize = 500;

#[derive(Queryable, Selectable, Debug, Clone, Serialize)]
#[diesel(table_name = customers)]
pub struct Customer {
    pub id: CustomerId,
    pub external_id: String,
    pub name: String,
    pub email: String,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = customers)]
struct CustomerInsertForm<'a> {
    external_id: &'a str,
    name: &'a str,
    email: &'a str,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

/// What an import changed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
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
    conn.transaction(|conn| {
        check_not_taken(conn, records)?;
        let existing = existing_customers(conn, records)?;
        let stamp = now();
        let mut summary = ImportSummary::default();
        let new: Vec<_> = records.iter().filter(|r| !existing.contains_key(&r.external_id)).collect();
        for chunk in new.chunks(CHUNK) {
            let forms: Vec<_> = chunk
                .iter()
                .map(|r| CustomerInsertForm { external_id: &r.external_id, name: &r.name, email: &r.email, created_at: stamp, updated_at: stamp })
                .collect();
            crate::dispatch!(conn, c => diesel::insert_into(customers::table).values(&forms).execute(c))?;
        }
        summary.created = new.len();
        let existing_ids: Vec<CustomerId> = existing.values().map(|c| c.id).collect();
        let stored = children_of(conn, &existing_ids)?;
        let mut changed: Vec<&CustomerRecord> = new.clone();
        for record in records {
            if let Some(current) = existing.get(&record.external_id) {
                let unchanged = current.name == record.name
                    && current.email == record.email
                    && stored.get(&current.id).cloned().unwrap_or_default() == Children::of(record);
                if unchanged {
                    summary.unchanged += 1;
                } else {
                    diesel::update(customers::table.find(current.id))
                        .set((customers::name.eq(&record.name), customers::email.eq(&record.email), customers::updated_at.eq(stamp)))
                        .execute(conn)?;
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

/// A customer's identities, domains and netblocks, each sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Children {
    pub identities: Vec<String>,
    pub domains: Vec<String>,
    pub netblocks: Vec<String>,
}

impl Children {
    fn of(record: &CustomerRecord) -> Self {
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

fn replace_children(
    conn: &mut DbConn,
    records: &[CustomerRecord],
    ids: &HashMap<String, Customer>,
) -> QueryResult<()> {
    let touched: Vec<CustomerId> = ids.values().map(|c| c.id).collect();
    for chunk in touched.chunks(CHUNK) {
        diesel::delete(
            customer_identities::table.filter(customer_identities::customer_id.eq_any(chunk)),
        )
        .execute(conn)?;
        diesel::delete(customer_domains::table.filter(customer_domains::customer_id.eq_any(chunk)))
            .execute(conn)?;
        diesel::delete(
            customer_netblocks::table.filter(customer_netblocks::customer_id.eq_any(chunk)),
        )
        .execute(conn)?;
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

/// One line of `customers list`.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerSummary {
    pub id: CustomerId,
    pub external_id: String,
    pub name: String,
    pub email: String,
    pub identities: i64,
    pub domains: i64,
    pub netblocks: i64,
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

/// One step of the resolution chain; the order is configurable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveStep {
    Identity,
    OutgoingUser,
    SenderDomain,
    Netblock,
}

impl ResolveStep {
    /// DESIGN.md's order: identity → authenticated user → sender domain → netblock.
    pub const DEFAULT_ORDER: [ResolveStep; 4] = [
        Self::Identity,
        Self::OutgoingUser,
        Self::SenderDomain,
        Self::Netblock,
    ];
}

/// What a report tells us about who sent it.
#[derive(Clone, Debug, Default)]
pub struct Clues<'a> {
    pub identity: Option<&'a str>,
    pub outgoing_user: Option<&'a str>,
    pub sender_domain: Option<&'a str>,
    pub source_ip: Option<IpAddr>,
}

/// The customer the clues point at, trying `order` step by step, first match wins.
pub fn resolve(
    conn: &mut DbConn,
    clues: &Clues<'_>,
    order: &[ResolveStep],
) -> QueryResult<Option<(CustomerId, ResolveStep)>> {
    Resolver::default().resolve(conn, clues, order)
}

/// The owners of the networks of one family and prefix length that start at `starts`.
fn netblock_owners(
    conn: &mut DbConn,
    family: i32,
    prefix: i32,
    starts: &[Vec<u8>],
) -> QueryResult<HashMap<Vec<u8>, CustomerId>> {
    #[derive(QueryableByName)]
    struct Owner {
        #[diesel(sql_type = diesel::sql_types::Binary)]
        range_start: Vec<u8>,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        customer_id: CustomerId,
    }
    let rows: Vec<(Vec<u8>, CustomerId)> = match conn {
        // A join, not `= ANY($3)`: Postgres tests an array parameter against every network
        // of the prefix length, one comparison per element, which took a twentieth of an
        // import's database time; joined, each start is one hash probe.
        DbConn::Postgres(pg) => {
            use diesel::sql_types::{Array, Binary, Integer};
            diesel::sql_query(
                "SELECT n.range_start, n.customer_id \
                 FROM unnest($3::bytea[]) AS s (start) \
                 JOIN customer_netblocks n \
                   ON n.family = $1 AND n.prefix_len = $2 AND n.range_start = s.start",
            )
            .bind::<Integer, _>(family)
            .bind::<Integer, _>(prefix)
            .bind::<Array<Binary>, _>(starts)
            .load::<Owner>(pg)?
            .into_iter()
            .map(|o| (o.range_start, o.customer_id))
            .collect()
        }
        // SQLite looks each element of the list up in the index.
        DbConn::Sqlite(_) => customer_netblocks::table
            .filter(customer_netblocks::family.eq(family))
            .filter(customer_netblocks::prefix_len.eq(prefix))
            .filter(customer_netblocks::range_start.eq_any(starts))
            .select((
                customer_netblocks::range_start,
                customer_netblocks::customer_id,
            ))
            .load(conn)?,
    };
    Ok(rows.into_iter().collect())
}

/// Resolves many reports in a row (one ingest batch), remembering what it looked up: the
/// same identities and domains come back again and again in a spam run.
#[derive(Default)]
pub struct Resolver {
    identities: HashMap<String, Option<CustomerId>>,
    domains: HashMap<String, Option<CustomerId>>,
    /// Prefix lengths in use per address family, most specific first.
    prefixes: Option<HashMap<i32, Vec<i32>>>,
    /// (family, prefix length, network start) → owner.
    blocks: HashMap<(i32, i32, Vec<u8>), Option<CustomerId>>,
}

impl Resolver {
    /// Looks up everything `clues` may ask for in a few set queries, so that resolving each
    /// of them afterwards needs no round trip to the database.
    pub fn prefetch(&mut self, conn: &mut DbConn, clues: &[Clues<'_>]) -> QueryResult<()> {
        let mut identities: Vec<String> = clues
            .iter()
            .flat_map(|c| [c.identity, c.outgoing_user])
            .flatten()
            .map(str::to_lowercase)
            .filter(|i| !self.identities.contains_key(i))
            .collect();
        identities.sort();
        identities.dedup();
        for chunk in identities.chunks(500) {
            let found: HashMap<String, CustomerId> = customer_identities::table
                .filter(customer_identities::identity.eq_any(chunk))
                .select((
                    customer_identities::identity,
                    customer_identities::customer_id,
                ))
                .load::<(String, CustomerId)>(conn)?
                .into_iter()
                .collect();
            for identity in chunk {
                self.identities
                    .insert(identity.clone(), found.get(identity).copied());
            }
        }
        let mut domains: Vec<String> = Vec::new();
        for domain in clues.iter().filter_map(|c| c.sender_domain) {
            let domain = domain.trim().trim_end_matches('.').to_lowercase();
            let mut candidate = domain.as_str();
            loop {
                if !candidate.is_empty() && !self.domains.contains_key(candidate) {
                    domains.push(candidate.to_owned());
                }
                match candidate.split_once('.') {
                    Some((_, parent)) => candidate = parent,
                    None => break,
                }
            }
        }
        domains.sort();
        domains.dedup();
        for chunk in domains.chunks(500) {
            let found: HashMap<String, CustomerId> = customer_domains::table
                .filter(customer_domains::domain.eq_any(chunk))
                .select((customer_domains::domain, customer_domains::customer_id))
                .load::<(String, CustomerId)>(conn)?
                .into_iter()
                .collect();
            for domain in chunk {
                self.domains
                    .insert(domain.clone(), found.get(domain).copied());
            }
        }
        let prefixes = self.prefixes(conn)?.clone();
        let mut wanted: HashMap<(i32, i32), Vec<Vec<u8>>> = HashMap::new();
        for ip in clues.iter().filter_map(|c| c.source_ip) {
            let (family, key) = address_key(ip);
            for prefix in prefixes.get(&family).into_iter().flatten() {
                let start = network_start(&key, family, *prefix);
                if !self.blocks.contains_key(&(family, *prefix, start.clone())) {
                    wanted.entry((family, *prefix)).or_default().push(start);
                }
            }
        }
        for ((family, prefix), mut starts) in wanted {
            starts.sort();
            starts.dedup();
            for chunk in starts.chunks(CHUNK) {
                let found = netblock_owners(conn, family, prefix, chunk)?;
                for start in chunk {
                    self.blocks
                        .insert((family, prefix, start.clone()), found.get(start).copied());
                }
            }
        }
        Ok(())
    }

    fn prefixes(&mut self, conn: &mut DbConn) -> QueryResult<&HashMap<i32, Vec<i32>>> {
        if self.prefixes.is_none() {
            let rows: Vec<(i32, i32)> = customer_netblocks::table
                .select((customer_netblocks::family, customer_netblocks::prefix_len))
                .distinct()
                .load(conn)?;
            let mut by_family: HashMap<i32, Vec<i32>> = HashMap::new();
            for (family, prefix) in rows {
                by_family.entry(family).or_default().push(prefix);
            }
            by_family
                .values_mut()
                .for_each(|p| p.sort_unstable_by(|a, b| b.cmp(a)));
            self.prefixes = Some(by_family);
        }
        Ok(self.prefixes.get_or_insert_with(HashMap::new))
    }

    pub fn resolve(
        &mut self,
        conn: &mut DbConn,
        clues: &Clues<'_>,
        order: &[ResolveStep],
    ) -> QueryResult<Option<(CustomerId, ResolveStep)>> {
        for step in order {
            let found = match step {
                ResolveStep::Identity => self.by_identity(conn, clues.identity)?,
                ResolveStep::OutgoingUser => self.by_identity(conn, clues.outgoing_user)?,
                ResolveStep::SenderDomain => self.by_domain(conn, clues.sender_domain)?,
                ResolveStep::Netblock => match clues.source_ip {
                    Some(ip) => self.by_address(conn, ip)?,
                    None => None,
                },
            };
            if let Some(id) = found {
                return Ok(Some((id, *step)));
            }
        }
        Ok(None)
    }

    fn by_identity(
        &mut self,
        conn: &mut DbConn,
        identity: Option<&str>,
    ) -> QueryResult<Option<CustomerId>> {
        let Some(identity) = identity.map(str::to_lowercase) else {
            return Ok(None);
        };
        if let Some(found) = self.identities.get(&identity) {
            return Ok(*found);
        }
        let found = customer_identities::table
            .filter(customer_identities::identity.eq(&identity))
            .select(customer_identities::customer_id)
            .first(conn)
            .optional()?;
        self.identities.insert(identity, found);
        Ok(found)
    }

    /// The customer owning the domain or its nearest parent (`mail.shop.example` →
    /// `shop.example` → `example`), so one domain row covers every host name below it.
    fn by_domain(
        &mut self,
        conn: &mut DbConn,
        domain: Option<&str>,
    ) -> QueryResult<Option<CustomerId>> {
        let Some(domain) = domain.map(|d| d.trim().trim_end_matches('.').to_lowercase()) else {
            return Ok(None);
        };
        let mut candidate = domain.as_str();
        loop {
            if !candidate.is_empty() {
                let found = match self.domains.get(candidate) {
                    Some(found) => *found,
                    None => {
                        let found = customer_domains::table
                            .filter(customer_domains::domain.eq(candidate))
                            .select(customer_domains::customer_id)
                            .first(conn)
                            .optional()?;
                        self.domains.insert(candidate.to_owned(), found);
                        found
                    }
                };
                if found.is_some() {
                    return Ok(found);
                }
            }
            match candidate.split_once('.') {
                Some((_, parent)) => candidate = parent,
                None => return Ok(None),
            }
        }
    }

    /// The customer of the most specific netblock holding `ip`: one indexed point lookup per
    /// prefix length in use, longest first.
    fn by_address(&mut self, conn: &mut DbConn, ip: IpAddr) -> QueryResult<Option<CustomerId>> {
        let (family, key) = address_key(ip);
        let prefixes = self
            .prefixes(conn)?
            .get(&family)
            .cloned()
            .unwrap_or_default();
        for prefix in prefixes {
            let start = network_start(&key, family, prefix);
            let found = match self.blocks.get(&(family, prefix, start.clone())) {
                Some(found) => *found,
                None => {
                    let found = customer_netblocks::table
                        .filter(customer_netblocks::family.eq(family))
                        .filter(customer_netblocks::prefix_len.eq(prefix))
                        .filter(customer_netblocks::range_start.eq(&start))
                        .select(customer_netblocks::customer_id)
                        .first(conn)
                        .optional()?;
                    self.blocks.insert((family, prefix, start), found);
                    found
                }
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }
}

/// The first address of the `/prefix` network holding `key` (a stored 16-byte address).
fn network_start(key: &[u8], family: i32, prefix: i32) -> Vec<u8> {
    // IPv4 keys are ::ffff:a.b.c.d, so their prefix counts from bit 96.
    let bits = if family == 4 { 96 + prefix } else { prefix };
    key.iter()
        .enumerate()
        .map(|(i, byte)| {
            let first_bit = i as i32 * 8;
            let keep = (bits - first_bit).clamp(0, 8);
            if keep == 8 {
                *byte
            } else {
                byte & !(0xffu8 >> keep)
            }
        })
        .collect()
}
