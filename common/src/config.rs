//! Parsers for flag values shared by every binary: listen addresses (empty
//! disables a listener), `key=value` pass-through properties and durations.

use std::net::SocketAddr;
use std::time::Duration;

/// A listen address flag; an empty value disables the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen(pub Option<SocketAddr>);

impl Listen {
    pub fn addr(self) -> Option<SocketAddr> {
        self.0
    }
}

/// Parses a [`Listen`] flag value.
pub fn parse_listen(s: &str) -> Result<Listen, String> {
    if s.trim().is_empty() {
        return Ok(Listen(None));
    }
    s.parse()
        .map(|a| Listen(Some(a)))
        .map_err(|e| format!("invalid listen address {s:?}: {e}"))
}

/// A `key=value` pair, e.g. a librdkafka property. The error does not echo
/// the text: it may be a piece of a secret value (the environment form is
/// split on `;`, which a password may contain).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!(
            "expected key=value, got {} characters without a key (a value holding `;` cannot be given in the environment)",
            s.chars().count()
        )),
    }
}

/// A value from a file as Kubernetes mounts a Secret: UTF-8 text, maybe
/// followed by a line ending that is not part of it. The error is only the
/// reason (never the contents), for the caller to name its flag and path.
pub fn read_secret_file(path: &std::path::Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let value = text.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        return Err("empty".into());
    }
    Ok(value.to_owned())
}

/// Durations like `500ms`, `5s`, `2m`; a bare number means seconds.
/// A user name as given, less the line ending a file-made Secret leaves at
/// its end (`kubectl create secret --from-file`); other whitespace may be
/// part of the name and stays.
pub fn parse_username(value: &str) -> Result<String, String> {
    Ok(value.trim_end_matches(['\r', '\n']).to_owned())
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?}"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?}, use ms, s, m or h")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_parse_and_errors_do_not_echo_the_text() {
        assert_eq!(
            parse_key_value(" sasl.password = a=b ").unwrap(),
            ("sasl.password".to_string(), "a=b".to_string())
        );
        // `sasl.password=pa;ss` split on `;` leaves `ss`, a piece of the secret.
        let error = parse_key_value("ss").unwrap_err();
        assert!(!error.contains("ss\""), "{error}");
        assert!(parse_key_value("=value").is_err());
    }

    #[test]
    fn usernames_lose_only_a_trailing_line_ending() {
        assert_eq!(parse_username("ingest\r\n").unwrap(), "ingest");
        assert_eq!(parse_username(" in gest \n").unwrap(), " in gest ");
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn listen_addresses_parse_or_disable() {
        assert_eq!(parse_listen("").unwrap().addr(), None);
        assert_eq!(
            parse_listen("127.0.0.1:4317").unwrap().addr(),
            Some("127.0.0.1:4317".parse().unwrap())
        );
        assert!(parse_listen("localhost").is_err());
    }
}
