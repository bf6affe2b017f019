//! The resolution chain of DESIGN.md step 4: identity → authenticated user → sender domain
//! (walking up parent domains) → most specific netblock holding the source IP.

use std::collections::HashMap;
use std::net::IpAddr;

use diesel::prelude::*;
use serde::Serialize;

use super::CHUNK;
use crate::db::ids::CustomerId;
use crate::db::schema::{customer_domains, customer_identities, customer_netblocks};
use crate::db::DbConn;
use crate::netblock::address_key;

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
        // of the prefix length, one comparison per element, a noticeable part of an
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
