//! Small network facts shared by the settings of every outward connection.

use std::net::IpAddr;

/// Whether `host` names this machine's loopback interface (`localhost`, `127.0.0.0/8`, `::1`,
/// bracketed or not): the only place a plain-text connection may go.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
