//! The client's address, for the login limit and the logs. Behind a reverse proxy every
//! connection comes from the proxy, which names the client in `X-Forwarded-For`; that header
//! is believed only from the proxies of `web.trusted_proxies` (anyone else could write any
//! address into it), and only up to the first hop that is not one of them.

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::netblock::Netblock;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<Netblock>);

impl TrustedProxies {
    pub fn new(blocks: Vec<Netblock>) -> Self {
        Self(blocks)
    }

    fn trust(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|b| b.contains(ip))
    }

    /// Whether `req` comes straight from one of the trusted proxies.
    pub fn is_proxy(&self, req: &actix_web::dev::ServiceRequest) -> bool {
        req.peer_addr().is_some_and(|a| self.trust(a.ip()))
    }

    /// The address of the client behind `req`.
    pub fn client(&self, req: &HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        self.through(peer, &forwarded)
    }

    /// Walks `forwarded` (client first, nearest proxy last) back from `peer` while the hops
    /// are trusted proxies; the first other hop is the client. A hop that is not an address
    /// stops the walk at the last trusted one.
    fn through(&self, peer: IpAddr, forwarded: &str) -> IpAddr {
        let mut client = peer;
        if !self.trust(client) {
            return client;
        }
        for hop in forwarded
            .rsplit(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !self.trust(ip) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|b| b.parse().unwrap()).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_is_ignored_from_anyone_but_a_trusted_proxy() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.through(ip("203.0.113.5"), "198.51.100.1"),
            ip("203.0.113.5")
        );
        assert_eq!(
            TrustedProxies::default().through(ip("10.0.0.1"), "198.51.100.1"),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_client_is_the_first_hop_before_the_trusted_ones() {
        let p = proxies(&["10.0.0.0/8", "::1"]);
        // A client writing its own header cannot choose its address: the hop the proxy
        // added is the one believed.
        assert_eq!(
            p.through(ip("10.0.0.2"), "1.2.3.4, 198.51.100.7, 10.0.0.9"),
            ip("198.51.100.7")
        );
        assert_eq!(p.through(ip("::1"), "2001:db8::5"), ip("2001:db8::5"));
    }

    #[test]
    fn garbage_stops_at_the_last_trusted_hop() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.through(ip("10.0.0.2"), "not-an-ip"), ip("10.0.0.2"));
        assert_eq!(p.through(ip("10.0.0.2"), ""), ip("10.0.0.2"));
    }
}
