//! EXPOSE port specs, checked after expansion.
//!
//! BuildKit accepts `port`, `start-end`, an optional `/tcp`, `/udp` or `/sctp`,
//! and (for compatibility with `docker run -p`) a leading `[ip:]hostPort:`,
//! which it validates and then ignores: only the container ports end up in the
//! image config's `ExposedPorts`.

use std::fmt;
use std::net::IpAddr;

use crate::error::{DockerfileError, ErrorKind};

/// The transport protocol of an exposed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// `/tcp`, the default.
    Tcp,
    /// `/udp`.
    Udp,
    /// `/sctp`.
    Sctp,
}

impl Protocol {
    /// The lower-case name used in `ExposedPorts` keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

/// One exposed container port; displays as the config key (`8080/tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExposedPort {
    /// The port number.
    pub port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl fmt::Display for ExposedPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol.as_str())
    }
}

fn bad(message: impl Into<String>) -> DockerfileError {
    DockerfileError::new(ErrorKind::InvalidArgument, message)
}

/// Parse one expanded EXPOSE word into the container ports it names (a range
/// gives one entry per port).
pub fn parse_port_spec(spec: &str) -> Result<Vec<ExposedPort>, DockerfileError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (ip, host_port, container) = match parts.as_slice() {
        [c] => ("".to_string(), "", *c),
        [h, c] => ("".to_string(), *h, *c),
        [rest @ .., h, c] => (rest.join(":"), *h, *c),
        [] => ("".to_string(), "", ""),
    };
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    let protocol = match proto.to_ascii_lowercase().as_str() {
        "" | "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        other => {
            return Err(bad(format!("invalid proto: {other}")).with_hint("use /tcp, /udp or /sctp"));
        }
    };
    if !ip.is_empty() {
        let bare = ip
            .strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .unwrap_or(&ip);
        if bare.parse::<IpAddr>().is_err() {
            return Err(bad(format!("invalid IP address: {ip}")));
        }
    }
    if port.is_empty() {
        return Err(bad(format!("no port specified: {spec}<empty>")));
    }
    let (start, end) =
        port_range(port).ok_or_else(|| bad(format!("invalid containerPort: {port}")))?;
    if !host_port.is_empty() {
        let (host_start, host_end) =
            port_range(host_port).ok_or_else(|| bad(format!("invalid hostPort: {host_port}")))?;
        if end - start != host_end - host_start && end != start {
            return Err(bad(format!(
                "invalid ranges specified for container and host Ports: {port} and {host_port}"
            )));
        }
    }
    Ok((start..=end)
        .map(|port| ExposedPort { port, protocol })
        .collect())
}

/// `8080` or `8000-8010`.
fn port_range(text: &str) -> Option<(u16, u16)> {
    match text.split_once('-') {
        None => {
            let port = text.parse().ok()?;
            Some((port, port))
        }
        Some((start, end)) => {
            let start: u16 = start.parse().ok()?;
            let end: u16 = end.parse().ok()?;
            (end >= start).then_some((start, end))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(spec: &str) -> Vec<String> {
        parse_port_spec(spec)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn specs() {
        assert_eq!(keys("80"), vec!["80/tcp"]);
        assert_eq!(keys("53/UDP"), vec!["53/udp"]);
        assert_eq!(
            keys("9000-9002/sctp"),
            vec!["9000/sctp", "9001/sctp", "9002/sctp"]
        );
        assert_eq!(keys("127.0.0.1:8080:80"), vec!["80/tcp"]);
        assert_eq!(keys("[::1]:8080:80"), vec!["80/tcp"]);
        assert_eq!(keys("8000-8001:80-81"), vec!["80/tcp", "81/tcp"]);
    }

    #[test]
    fn bad_specs() {
        for bad in [
            "",
            "abc",
            "80/icmp",
            "70000",
            "90-80",
            "1-2-3",
            "x.y:1:2",
            "80-82:1-2",
        ] {
            assert!(parse_port_spec(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_port_spec("80/icmp").unwrap_err().message,
            "invalid proto: icmp"
        );
    }
}
