//! The client's address, for rate limits, failed-login counters, analytics hashing and
//! logs. Directly connected, it is the TCP peer. Behind a load balancer (the cluster kit's
//! nginx) every request comes from the proxy, so `trusted_proxies` names the proxies'
//! addresses or networks: when the peer is one of them, the client is the last address in
//! `X-Forwarded-For` that is not (each proxy appends the address it saw, so the entries
//! left of a trusted hop are what the client claimed and are never believed over it).
//! With no trusted proxies the header is ignored, so nobody can pick their own address.

use std::net::IpAddr;

use actix_web::HttpRequest;

/// Addresses or networks (`10.0.0.0/8`, `::1`) whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `192.168.0.10`, `10.0.0.0/8`, `fd00::/8`; names what is wrong otherwise.
    pub fn parse(list: &[String]) -> Result<TrustedProxies, String> {
        let mut out = Vec::with_capacity(list.len());
        for item in list {
            let (addr, bits) = match item.split_once('/') {
                Some((addr, bits)) => (addr, Some(bits)),
                None => (item.as_str(), None),
            };
            let ip: IpAddr = addr.trim().parse().map_err(|_| format!("trusted_proxies: {item:?} is not an address"))?;
            let ip = ip.to_canonical();
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b.trim().parse::<u8>().ok().filter(|b| *b <= max),
                None => Some(max),
            }
            .ok_or_else(|| format!("trusted_proxies: {item:?} has a bad prefix length"))?;
            out.push((ip, bits));
        }
        Ok(TrustedProxies(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|(net, bits)| match (net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*bits)).unwrap_or(0);
                u32::from(*net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*bits)).unwrap_or(0);
                u128::from(*net) & mask == u128::from(ip) & mask
            }
            _ => false,
        })
    }

    /// The client of a request from `peer` carrying `forwarded` (`X-Forwarded-For`).
    pub fn client(&self, peer: Option<IpAddr>, forwarded: Option<&str>) -> IpAddr {
        let unknown = IpAddr::from([0, 0, 0, 0]);
        let Some(peer) = peer.map(|p| p.to_canonical()) else { return unknown };
        if !self.trusts(peer) {
            return peer;
        }
        let Some(forwarded) = forwarded else { return peer };
        let mut client = peer;
        for hop in forwarded.rsplit(',') {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else { return client };
            client = ip.to_canonical();
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// The client address of `req` under the server's `trusted_proxies`.
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    let peer = req.peer_addr().map(|a| a.ip());
    let Some(state) = req.app_data::<actix_web::web::Data<crate::state::AppState>>() else {
        return peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    };
    if state.proxies.is_empty() {
        return peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    }
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    state.proxies.client(peer, forwarded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).expect("valid");
        let none = TrustedProxies::default();
        for (trusted, peer, header, client) in [
            // No trusted proxies: the header is ignored.
            (&none, "203.0.113.9", Some("1.2.3.4"), "203.0.113.9"),
            // A peer that is not a proxy cannot name another address.
            (&proxies, "203.0.113.9", Some("1.2.3.4"), "203.0.113.9"),
            // Behind the proxy: the address it appended.
            (&proxies, "10.1.2.3", Some("198.51.100.7"), "198.51.100.7"),
            // What the client claimed left of it is not believed.
            (&proxies, "10.1.2.3", Some("1.2.3.4, 198.51.100.7"), "198.51.100.7"),
            // Two trusted hops: the first untrusted one from the right.
            (&proxies, "10.1.2.3", Some("1.2.3.4, 198.51.100.7, 10.9.9.9"), "198.51.100.7"),
            // A proxy without the header is the client itself.
            (&proxies, "10.1.2.3", None, "10.1.2.3"),
            // Garbage stops the walk at the last good address.
            (&proxies, "10.1.2.3", Some("junk, 10.4.4.4"), "10.4.4.4"),
            (&proxies, "::1", Some("2001:db8::5"), "2001:db8::5"),
            (&proxies, "::ffff:10.0.0.1", Some("192.0.2.1"), "192.0.2.1"),
        ] {
            assert_eq!(trusted.client(Some(ip(peer)), header), ip(client), "{peer} {header:?}");
        }
        assert_eq!(proxies.client(None, Some("1.2.3.4")), ip("0.0.0.0"));
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in ["10.0.0.0/33", "nope", "::/129", "10.0.0.0/x"] {
            assert!(TrustedProxies::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
        assert!(TrustedProxies::parse(&["0.0.0.0/0".into(), "fd00::/8".into()]).is_ok());
    }
}
