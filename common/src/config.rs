//! Parsers for flag values shared by every binary: listen addresses (empty
//! disables a listener; host names are resolved), Kafka bootstrap servers,
//! `key=value` pass-through properties and durations; and the command-line
//! parse itself, which turns any mistake into one line naming the flag for
//! the binary to exit [`EXIT_USAGE`] with.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// EX_USAGE from sysexits.h: the configuration is wrong.
pub const EXIT_USAGE: i32 = 64;

/// The longest duration a flag takes (100 years): beyond any sensible
/// timeout, and short enough that a clock reading plus it cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A listen address flag; an empty value disables the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen(pub Option<SocketAddr>);

impl Listen {
    pub fn addr(self) -> Option<SocketAddr> {
        self.0
    }
}

/// Parses a [`Listen`] flag value: `ip:port`, `[ipv6]:port` or
/// `host:port`. A host name is resolved now, and its first IPv4 address
/// taken when it has one: `localhost:4318` listens on 127.0.0.1, which
/// clients given either name reach.
pub fn parse_listen(s: &str) -> Result<Listen, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Listen(None));
    }
    if let Ok(addr) = s.parse() {
        return Ok(Listen(Some(addr)));
    }
    let invalid = |reason: String| format!("invalid listen address {s:?}: {reason}");
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(invalid("expected host:port, e.g. 0.0.0.0:4318".into()));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| invalid("the port must be a number from 0 to 65535".into()))?;
    if host.is_empty() {
        return Err(invalid(format!("expected host:port, e.g. 0.0.0.0:{port}")));
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| invalid(format!("cannot resolve {host:?}: {e}")))?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or(addrs.first())
        .map(|addr| Listen(Some(*addr)))
        .ok_or_else(|| invalid(format!("{host:?} resolves to no address")))
}

/// Kafka bootstrap servers: `host:port` separated by commas, as librdkafka
/// takes them (the port defaults to 9092, a `SSL://`-style prefix is
/// allowed). A list without a server, or with a bad port, is refused here:
/// librdkafka would retry it forever.
pub fn parse_brokers(s: &str) -> Result<String, String> {
    let servers: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|server| !server.is_empty())
        .collect();
    if servers.is_empty() {
        return Err("needs at least one host:port".into());
    }
    for server in &servers {
        let address = server.split_once("://").map_or(*server, |(_, rest)| rest);
        let (host, port) = match address.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((host, rest)) => (host, rest.strip_prefix(':')),
                None => ("", None),
            },
            None => match address.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (address, None),
            },
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(format!("invalid server {server:?}, expected host:port"));
        }
        if port.is_some_and(|port| port.parse::<u16>().map_or(true, |port| port == 0)) {
            return Err(format!(
                "invalid server {server:?}: the port must be a number from 1 to 65535"
            ));
        }
    }
    Ok(servers.join(","))
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

/// A user name as given, less the line ending a file-made Secret leaves at
/// its end (`kubectl create secret --from-file`); other whitespace may be
/// part of the name and stays.
pub fn parse_username(value: &str) -> Result<String, String> {
    Ok(value.trim_end_matches(['\r', '\n']).to_owned())
}

/// Durations like `500ms`, `5s`, `2m`; a bare number means seconds. At most
/// [`MAX_DURATION`]; never negative.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.starts_with('-') {
        return Err(format!("invalid duration {s:?}: must not be negative"));
    }
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?}, expected e.g. 500ms, 5s, 2m or 1h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?}, use ms, s, m or h")),
    };
    // Digits and dots only: never NaN; a number too long for f64 is infinite.
    if seconds > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "duration {s:?} is too long, at most {}h (100 years)",
            MAX_DURATION.as_secs() / 3600
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Checks `key=value` librdkafka properties given with `flag` one by one, as
/// librdkafka will take them, so that an unknown name or a bad value stops
/// the binary at start. The error names the flag and the property, and
/// never the value: a misspelled secret property (`sasl.pasword`) is not
/// recognised as secret, and a secret property's value is redacted.
#[cfg(feature = "kafka")]
pub fn check_kafka_properties(flag: &str, properties: &[(String, String)]) -> Result<(), String> {
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaConfRes;
    for (key, value) in properties {
        let mut client = rdkafka::ClientConfig::new();
        client.set(key, value);
        let Err(error) = client.create_native_config() else {
            continue;
        };
        let reason = match crate::kafka_security::redact_error(error) {
            KafkaError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, ..) => {
                "no such librdkafka property".to_owned()
            }
            KafkaError::ClientConfig(_, description, ..) => description,
            _ => "refused by librdkafka".to_owned(),
        };
        return Err(format!("{flag} {key}: {reason}"));
    }
    Ok(())
}

/// Parses the command line and the environment into `T`, for a binary's
/// `main`: `--help` and `--version` print and exit 0 as clap does; any
/// other mistake prints one line naming the flag ([`usage_line`]) and exits
/// [`EXIT_USAGE`]. A negative value is taken as the value of the flag before
/// it ([`join_negative_values`]), so that `--max-request-bytes -1` is
/// refused for what it is, not as an unknown argument `-1`.
pub fn parse_args_or_exit<T: clap::Parser>() -> T {
    let mut command = T::command();
    let name = command.get_name().to_owned();
    let args = join_negative_values(std::env::args_os());
    let parsed = match command.try_get_matches_from_mut(args) {
        Ok(matches) => T::from_arg_matches(&matches),
        Err(error) => Err(error),
    };
    parsed.unwrap_or_else(|error| {
        use clap::error::ErrorKind;
        if matches!(
            error.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        ) {
            error.exit();
        }
        exit_usage(&name, &usage_line(&error, &command))
    })
}

/// Prints `<binary>: <problem>` to stderr and exits [`EXIT_USAGE`].
pub fn exit_usage(binary: &str, problem: &str) -> ! {
    eprintln!("{binary}: {problem}");
    std::process::exit(EXIT_USAGE)
}

/// Joins `--flag -5s` into `--flag=-5s`: an argument that starts with a
/// minus sign and a digit is a negative value, never a flag of ours, and
/// clap would otherwise read it as the unknown short flags `-5`.
pub fn join_negative_values(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut joined: Vec<std::ffi::OsString> = Vec::new();
    for arg in args {
        let negative = arg
            .to_str()
            .and_then(|text| text.strip_prefix('-'))
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '.'));
        let after_flag = joined
            .last()
            .and_then(|last| last.to_str())
            .is_some_and(|last| last.starts_with("--") && last.len() > 2 && !last.contains('='));
        match joined.last_mut() {
            Some(flag) if negative && after_flag => {
                flag.push("=");
                flag.push(&arg);
            }
            _ => joined.push(arg),
        }
    }
    joined
}

/// One line for an error clap found in the arguments of `command`, naming
/// the flag. A value that does not parse is quoted unless its flag hides its
/// environment values (secrets and pass-through properties, which may hold
/// them).
pub fn usage_line(error: &clap::Error, command: &clap::Command) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let text = |kind| match error.get(kind) {
        Some(ContextValue::String(text)) => Some(text.as_str()),
        _ => None,
    };
    if let (ErrorKind::ValueValidation, Some(arg), Some(value)) = (
        error.kind(),
        text(ContextKind::InvalidArg),
        text(ContextKind::InvalidValue),
    ) {
        // `--idle-timeout <IDLE_TIMEOUT>`: the flag is the first word.
        let flag = arg.split_whitespace().next().unwrap_or(arg);
        let reason = std::error::Error::source(error)
            .map_or_else(|| "invalid value".to_owned(), |e| number_error(e, value));
        return if hides_values(command, flag) {
            format!("{flag}: {reason}")
        } else {
            format!("{flag} {value:?}: {reason}")
        };
    }
    let rendered = error.render().to_string();
    let first = rendered
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("invalid arguments");
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// A parse error in words: the standard library's number errors say
/// "invalid digit found in string" for `-1`.
fn number_error(error: &(dyn std::error::Error + 'static), value: &str) -> String {
    use std::num::IntErrorKind;
    if let Some(error) = error.downcast_ref::<std::num::ParseIntError>() {
        return match error.kind() {
            IntErrorKind::Empty => "expected a whole number".into(),
            IntErrorKind::InvalidDigit if value.trim().starts_with('-') => {
                "must not be negative".into()
            }
            IntErrorKind::InvalidDigit => "expected a whole number".into(),
            IntErrorKind::PosOverflow => "too large".into(),
            IntErrorKind::NegOverflow => "too small".into(),
            _ => error.to_string(),
        };
    }
    if error.is::<std::num::ParseFloatError>() {
        return "expected a number".into();
    }
    let text = error.to_string();
    // clap's range check of an unsigned flag: `-1 is not in 0..=4294967295`.
    if value.trim().starts_with('-') && text.contains(" is not in 0..") {
        return "must not be negative".into();
    }
    text
}

/// Whether the flag `--long` of `command` (or of a subcommand) hides its
/// environment values.
fn hides_values(command: &clap::Command, flag: &str) -> bool {
    let long = flag.trim_start_matches('-');
    command
        .get_arguments()
        .any(|arg| arg.get_long() == Some(long) && arg.is_hide_env_values_set())
        || command.get_subcommands().any(|sub| hides_values(sub, flag))
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

    #[test]
    fn listen_addresses_take_host_names() {
        let addr = parse_listen("localhost:4318").unwrap().addr().unwrap();
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_eq!(addr.port(), 4318);
        assert_eq!(
            parse_listen("[::1]:4317").unwrap().addr(),
            Some("[::1]:4317".parse().unwrap())
        );
        for bad in [
            ":4318",
            "localhost:port",
            "localhost:70000",
            "no.such.host.invalid:1",
        ] {
            let error = parse_listen(bad).unwrap_err();
            assert!(
                error.starts_with("invalid listen address"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn brokers_need_a_server_and_valid_ports() {
        assert_eq!(
            parse_brokers(" a:9092, b:9093 ,").unwrap(),
            "a:9092,b:9093".to_string()
        );
        for good in ["kafka", "SSL://kafka:9093", "[::1]:9092", "10.0.0.1:9092"] {
            assert_eq!(parse_brokers(good).unwrap(), good);
        }
        for bad in [
            "",
            " , ",
            ":9092",
            "kafka:0",
            "kafka:x",
            "kafka:65536",
            "a b:9092",
        ] {
            assert!(parse_brokers(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn durations_never_overflow_nor_go_negative() {
        let too_long = parse_duration("99999999999999999999999s").unwrap_err();
        assert!(too_long.contains("too long"), "{too_long}");
        assert!(parse_duration("1000000h").is_err());
        assert_eq!(parse_duration("876000h").unwrap(), MAX_DURATION);
        let negative = parse_duration("-5s").unwrap_err();
        assert!(negative.contains("negative"), "{negative}");
        assert!(parse_duration("").is_err());
        assert!(parse_duration("NaN").is_err());
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn kafka_properties_are_checked_without_echoing_values() {
        let property = |key: &str, value: &str| vec![(key.to_owned(), value.to_owned())];
        assert_eq!(
            check_kafka_properties("--kafka-producer-config", &property("linger.ms", "20")),
            Ok(())
        );
        let misspelled = check_kafka_properties(
            "--kafka-producer-config",
            &property("sasl.pasword", "hunter2"),
        )
        .unwrap_err();
        assert_eq!(
            misspelled,
            "--kafka-producer-config sasl.pasword: no such librdkafka property"
        );
        let invalid = check_kafka_properties(
            "--kafka-consumer-config",
            &property("ssl.key.pem", "hunter2"),
        );
        // Not every librdkafka build checks a PEM at set time; when it does, the value stays out.
        if let Err(invalid) = invalid {
            assert!(!invalid.contains("hunter2"), "{invalid}");
        }
        let bad_number =
            check_kafka_properties("--kafka-producer-config", &property("linger.ms", "soon"))
                .unwrap_err();
        assert!(
            bad_number.starts_with("--kafka-producer-config linger.ms: "),
            "{bad_number}"
        );
    }

    #[derive(clap::Parser, Debug)]
    #[command(name = "t")]
    struct Flags {
        #[arg(long, default_value_t = 1)]
        count: usize,
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        wait: Duration,
        #[arg(long, hide_env_values = true, value_parser = parse_key_value)]
        property: Vec<(String, String)>,
        #[arg(long)]
        verbose: bool,
    }

    fn usage(args: &[&str]) -> String {
        let mut command = <Flags as clap::CommandFactory>::command();
        let args = std::iter::once("t").chain(args.iter().copied());
        let error = command
            .try_get_matches_from_mut(join_negative_values(args.map(Into::into)))
            .and_then(|matches| <Flags as clap::FromArgMatches>::from_arg_matches(&matches))
            .unwrap_err();
        usage_line(&error, &command)
    }

    #[test]
    fn negative_values_join_the_flag_before_them() {
        let join = |args: &[&str]| -> Vec<String> {
            join_negative_values(args.iter().map(Into::into))
                .into_iter()
                .map(|arg| arg.into_string().unwrap())
                .collect()
        };
        assert_eq!(join(&["t", "--count", "-1"]), ["t", "--count=-1"]);
        assert_eq!(
            join(&["t", "--wait", "-5s", "-h"]),
            ["t", "--wait=-5s", "-h"]
        );
        assert_eq!(join(&["t", "--wait=1s", "-5"]), ["t", "--wait=1s", "-5"]);
        assert_eq!(
            join(&["t", "-h", "--count", "--wait"]),
            ["t", "-h", "--count", "--wait"]
        );
    }

    #[test]
    fn usage_lines_name_the_flag_in_one_line() {
        assert_eq!(
            usage(&["--wait", "-5s"]),
            "--wait \"-5s\": invalid duration \"-5s\": must not be negative"
        );
        assert_eq!(
            usage(&["--count", "-1"]),
            "--count \"-1\": must not be negative"
        );
        assert_eq!(
            usage(&["--count=99999999999999999999999"]),
            "--count \"99999999999999999999999\": too large"
        );
        assert_eq!(
            usage(&["--count", "many"]),
            "--count \"many\": expected a whole number"
        );
        let wait = usage(&["--wait", "99999999999999999999999s"]);
        assert!(
            wait.starts_with("--wait \"99999999999999999999999s\": duration"),
            "{wait}"
        );
        let secret = usage(&["--property", "pa;ss"]);
        assert!(
            secret.starts_with("--property: expected key=value"),
            "{secret}"
        );
        assert!(!secret.contains("pa;ss"), "{secret}");
        let unknown = usage(&["--cuont", "1"]);
        assert!(unknown.contains("'--cuont'"), "{unknown}");
        for line in [wait, secret, unknown] {
            assert!(!line.contains('\n'), "{line}");
        }
        assert!(usage(&["--verbose=x"]).contains("--verbose"));
    }
}
