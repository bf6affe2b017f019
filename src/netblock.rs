//! Netblocks as stored: a CIDR string plus 16-byte big-endian bounds, IPv4 mapped into
//! `::ffff:0:0/96`, so "which blocks hold this address" is a byte-wise range comparison
//! that SQLite and Postgres both index.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A parsed network, normalised to its first address (`10.1.2.3/8` becomes `10.0.0.0/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Netblock {
    network: IpAddr,
    prefix_len: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "'{0}' is not a netblock (expected an address or CIDR such as 192.0.2.0/24 or 2001:db8::/32)"
)]
pub struct NetblockError(pub String);

impl Netblock {
    pub fn family(&self) -> i32 {
        match self.network {
            IpAddr::V4(_) => 4,
            IpAddr::V6(_) => 6,
        }
    }

    pub fn prefix_len(&self) -> i32 {
        i32::from(self.prefix_len)
    }

    /// Whether `ip` lies in this block (an IPv4-mapped IPv6 address counts as its IPv4 form).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (family, key) = address_key(ip);
        let (start, end) = self.bounds();
        family == self.family() && start <= key && key <= end
    }

    /// The first and last address of the block, as stored.
    pub fn bounds(&self) -> (Vec<u8>, Vec<u8>) {
        let (bits, width) = match self.network {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32u32),
            IpAddr::V6(v6) => (u128::from(v6), 128u32),
        };
        let host_bits = width - u32::from(self.prefix_len);
        let host_mask = 1u128
            .checked_shl(host_bits)
            .map_or(u128::MAX, |bit| bit - 1);
        let start = bits & !host_mask;
        let end = start | host_mask;
        match self.network {
            IpAddr::V4(_) => (
                v4_key(Ipv4Addr::from(start as u32)),
                v4_key(Ipv4Addr::from(end as u32)),
            ),
            IpAddr::V6(_) => (start.to_be_bytes().to_vec(), end.to_be_bytes().to_vec()),
        }
    }
}

impl FromStr for Netblock {
    type Err = NetblockError;

    fn from_str(s: &str) -> Result<Self, NetblockError> {
        let err = || NetblockError(s.to_owned());
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| err())?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(err)?,
            None => width,
        };
        let host_bits = u32::from(width - prefix_len);
        let network = match addr {
            IpAddr::V4(v4) => {
                let mask = if host_bits == 32 {
                    0
                } else {
                    u32::MAX << host_bits
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let mask = if host_bits == 128 {
                    0
                } else {
                    u128::MAX << host_bits
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        };
        Ok(Self {
            network,
            prefix_len,
        })
    }
}

impl fmt::Display for Netblock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// The stored form of one address: what [`Netblock::bounds`] is compared against.
pub fn address_key(ip: IpAddr) -> (i32, Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => (4, v4_key(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // An IPv4 address written in mapped form is still that IPv4 address.
            Some(v4) => (4, v4_key(v4)),
            None => (6, v6.octets().to_vec()),
        },
    }
}

fn v4_key(v4: Ipv4Addr) -> Vec<u8> {
    v4.to_ipv6_mapped().octets().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_its_addresses_and_no_others() {
        let v4: Netblock = "192.0.2.0/24".parse().unwrap();
        assert!(v4.contains("192.0.2.77".parse().unwrap()));
        assert!(v4.contains("::ffff:192.0.2.77".parse().unwrap()));
        assert!(!v4.contains("192.0.3.1".parse().unwrap()));
        let v6: Netblock = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        assert!(!v6.contains("192.0.2.77".parse().unwrap()));
    }

    #[test]
    fn normalises_and_bounds() {
        let b: Netblock = "10.1.2.3/8".parse().unwrap();
        assert_eq!(b.to_string(), "10.0.0.0/8");
        let (start, end) = b.bounds();
        assert_eq!(start, address_key("10.0.0.0".parse().unwrap()).1);
        assert_eq!(end, address_key("10.255.255.255".parse().unwrap()).1);
        let single: Netblock = "2001:db8::1".parse().unwrap();
        assert_eq!(single.to_string(), "2001:db8::1/128");
        assert_eq!(single.bounds().0, single.bounds().1);
        let all: Netblock = "::/0".parse().unwrap();
        assert_eq!(all.bounds().1, vec![0xff; 16]);
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "",
            "10.0.0.0/33",
            "2001:db8::/129",
            "example.com",
            "10.0.0.0/x",
        ] {
            assert!(bad.parse::<Netblock>().is_err(), "{bad}");
        }
    }
}
