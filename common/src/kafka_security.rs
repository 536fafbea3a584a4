//! TLS and SASL for every Kafka client of ferrotrace: the `--kafka-tls-*` and
//! `--kafka-sasl-*` flags, shared by the collector's producer and the
//! ingester's consumer and dead-letter producer, and their translation into
//! librdkafka properties.
//!
//! `security.protocol` is derived from the flags (`plaintext`, `ssl`,
//! `sasl_plaintext`, `sasl_ssl`); any TLS flag turns TLS on. The flags are
//! applied before a client's `--kafka-*-config key=value` overrides, so a user
//! property still wins. The SASL password is read from its file at start and
//! travels only as a [`Password`], whose `Debug` prints `***`; it never
//! appears in `--help`, a log line or an error message.

use std::fmt;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

use crate::config::{parse_username, read_secret_file};

/// librdkafka properties whose values are secrets, beyond those
/// [`is_secret_property`] recognises by name; `--kafka-*-config` can set any
/// of them.
const SECRET_PROPERTIES: &[&str] = &[
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.key.pem",
    // the private key set through rd_kafka_conf_set_ssl_cert
    "ssl_key",
    "sasl.oauthbearer.client.secret",
    // may hold a client secret or a signing key, depending on the mechanism
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.assertion.private.key.passphrase",
];

/// The Kafka TLS and SASL flags, `#[command(flatten)]`ed into each binary's
/// configuration.
#[derive(Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    /// Connect to Kafka over TLS, trusting the system roots unless --kafka-tls-ca-file is given (implied by every other --kafka-tls-* flag).
    #[arg(long, env = "FERROTRACE_KAFKA_TLS")]
    pub kafka_tls: bool,

    /// PEM file of the CA certificates that sign the brokers' certificates (librdkafka `ssl.ca.location`).
    #[arg(long, env = "FERROTRACE_KAFKA_TLS_CA_FILE")]
    pub kafka_tls_ca_file: Option<PathBuf>,

    /// PEM client certificate for mutual TLS, with --kafka-tls-key-file (librdkafka `ssl.certificate.location`).
    #[arg(long, env = "FERROTRACE_KAFKA_TLS_CERT_FILE")]
    pub kafka_tls_cert_file: Option<PathBuf>,

    /// PEM private key of --kafka-tls-cert-file (librdkafka `ssl.key.location`).
    #[arg(long, env = "FERROTRACE_KAFKA_TLS_KEY_FILE")]
    pub kafka_tls_key_file: Option<PathBuf>,

    /// Accept any broker certificate, checking neither its chain nor its name: for tests only.
    #[arg(long, env = "FERROTRACE_KAFKA_TLS_SKIP_HOST_VERIFY")]
    pub kafka_tls_skip_host_verify: bool,

    /// SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (none: no SASL).
    #[arg(long, env = "FERROTRACE_KAFKA_SASL_MECHANISM", ignore_case = true)]
    pub kafka_sasl_mechanism: Option<SaslMechanism>,

    /// SASL user name; a trailing newline is dropped (as a Secret made with `--from-file` has).
    #[arg(long, env = "FERROTRACE_KAFKA_SASL_USERNAME", value_parser = parse_username)]
    pub kafka_sasl_username: Option<String>,

    /// File holding the SASL password, read at start; a trailing newline is dropped (the recommended way to pass it).
    #[arg(long, env = "FERROTRACE_KAFKA_SASL_PASSWORD_FILE")]
    pub kafka_sasl_password_file: Option<PathBuf>,

    /// SASL password; prefer --kafka-sasl-password-file, a command line is visible to other local users.
    #[arg(long, env = "FERROTRACE_KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<Password>,
}

/// A SASL mechanism librdkafka speaks without Cyrus SASL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SaslMechanism {
    #[value(name = "PLAIN")]
    Plain,
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// The value of librdkafka's `sasl.mechanism`.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// A SASL password: `Debug` prints `***`, so a `{config:?}` or an error
/// message cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl From<String> for Password {
    fn from(value: String) -> Self {
        Password(value)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A combination of flags that cannot work, or a file that cannot be read.
/// No variant holds the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KafkaSecurityError {
    #[error("--kafka-tls-cert-file and --kafka-tls-key-file must be given together")]
    CertWithoutKey,
    #[error("{0} needs --kafka-sasl-mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")]
    SaslWithoutMechanism(&'static str),
    #[error("--kafka-sasl-mechanism needs --kafka-sasl-username")]
    MechanismWithoutUsername,
    #[error("--kafka-sasl-mechanism needs --kafka-sasl-password-file (or FERROTRACE_KAFKA_SASL_PASSWORD)")]
    MechanismWithoutPassword,
    #[error("give either --kafka-sasl-password-file or --kafka-sasl-password, not both")]
    TwoPasswords,
    #[error("{flag} {}: {reason}", path.display())]
    File {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },
}

impl KafkaSecurity {
    /// Whether the connection is TLS: `--kafka-tls` or any other TLS flag.
    pub fn tls(&self) -> bool {
        self.kafka_tls
            || self.kafka_tls_ca_file.is_some()
            || self.kafka_tls_cert_file.is_some()
            || self.kafka_tls_key_file.is_some()
            || self.kafka_tls_skip_host_verify
    }

    /// librdkafka's `security.protocol` for these flags.
    pub fn security_protocol(&self) -> &'static str {
        match (self.kafka_sasl_mechanism.is_some(), self.tls()) {
            (false, false) => "plaintext",
            (false, true) => "ssl",
            (true, false) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        }
    }

    /// Checks the combination and that the files exist (the password file is
    /// read): one line saying what is wrong.
    pub fn validate(&self) -> Result<(), KafkaSecurityError> {
        self.properties().map(drop)
    }

    /// Sets the TLS and SASL properties on `client`. Call it before the
    /// user's `key=value` overrides so that those still win.
    pub fn apply(&self, client: &mut ClientConfig) -> Result<(), KafkaSecurityError> {
        for (key, value) in self.properties()? {
            client.set(key, value);
        }
        Ok(())
    }

    /// One line to log at start when the configuration is insecure on purpose.
    pub fn warning(&self) -> Option<&'static str> {
        self.kafka_tls_skip_host_verify.then_some(
            "--kafka-tls-skip-host-verify: Kafka broker certificates are NOT verified; anyone on the network path can read and alter the spans",
        )
    }

    /// The librdkafka properties, in the order they are set. Private: the
    /// list holds the password in clear.
    fn properties(&self) -> Result<Vec<(&'static str, String)>, KafkaSecurityError> {
        let mut properties = vec![("security.protocol", self.security_protocol().to_owned())];
        if self.tls() {
            match (&self.kafka_tls_cert_file, &self.kafka_tls_key_file) {
                (Some(_), None) | (None, Some(_)) => {
                    return Err(KafkaSecurityError::CertWithoutKey)
                }
                _ => {}
            }
            let files = [
                (
                    "--kafka-tls-ca-file",
                    "ssl.ca.location",
                    &self.kafka_tls_ca_file,
                ),
                (
                    "--kafka-tls-cert-file",
                    "ssl.certificate.location",
                    &self.kafka_tls_cert_file,
                ),
                (
                    "--kafka-tls-key-file",
                    "ssl.key.location",
                    &self.kafka_tls_key_file,
                ),
            ];
            for (flag, key, path) in files {
                if let Some(path) = path {
                    check_readable(flag, path)?;
                    properties.push((key, path.display().to_string()));
                }
            }
            if self.kafka_tls_skip_host_verify {
                properties.push(("enable.ssl.certificate.verification", "false".into()));
                properties.push(("ssl.endpoint.identification.algorithm", "none".into()));
            }
        }
        let Some(mechanism) = self.kafka_sasl_mechanism else {
            for (flag, given) in [
                ("--kafka-sasl-username", self.kafka_sasl_username.is_some()),
                (
                    "--kafka-sasl-password-file",
                    self.kafka_sasl_password_file.is_some(),
                ),
                ("--kafka-sasl-password", self.kafka_sasl_password.is_some()),
            ] {
                if given {
                    return Err(KafkaSecurityError::SaslWithoutMechanism(flag));
                }
            }
            return Ok(properties);
        };
        let username = self
            .kafka_sasl_username
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or(KafkaSecurityError::MechanismWithoutUsername)?;
        let password = match (&self.kafka_sasl_password_file, &self.kafka_sasl_password) {
            (Some(_), Some(_)) => return Err(KafkaSecurityError::TwoPasswords),
            (Some(path), None) => read_password(path)?,
            (None, Some(password)) if !password.0.is_empty() => password.clone(),
            (None, _) => return Err(KafkaSecurityError::MechanismWithoutPassword),
        };
        properties.push(("sasl.mechanism", mechanism.as_str().to_owned()));
        properties.push(("sasl.username", username.to_owned()));
        properties.push(("sasl.password", password.0));
        Ok(properties)
    }
}

/// Whether a librdkafka property holds a secret: one of
/// [`SECRET_PROPERTIES`], or any key naming a password, passphrase or
/// secret, or a PEM private key, so that properties librdkafka adds later
/// are covered too.
pub fn is_secret_property(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    SECRET_PROPERTIES.contains(&key.as_str())
        || key.contains("password")
        || key.contains("passphrase")
        || key.contains("secret")
        || key.ends_with(".key.pem")
}

/// Replaces the value in a librdkafka configuration error when it belongs to
/// a secret property: rdkafka puts the rejected value in its message, and
/// librdkafka's own description may quote it too.
pub fn redact_error(error: KafkaError) -> KafkaError {
    match error {
        KafkaError::ClientConfig(code, description, key, value) if is_secret_property(&key) => {
            let description = if !value.is_empty() && description.contains(&value) {
                "invalid value".to_owned()
            } else {
                description
            };
            KafkaError::ClientConfig(code, description, key, "***".into())
        }
        other => other,
    }
}

fn check_readable(flag: &'static str, path: &Path) -> Result<(), KafkaSecurityError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| KafkaSecurityError::File {
            flag,
            path: path.to_owned(),
            reason: format!("cannot read: {e}"),
        })
}

/// A password file as Kubernetes mounts a Secret: one value, maybe followed
/// by a newline that is not part of it.
fn read_password(path: &Path) -> Result<Password, KafkaSecurityError> {
    const FLAG: &str = "--kafka-sasl-password-file";
    let invalid = |reason: String| KafkaSecurityError::File {
        flag: FLAG,
        path: path.to_owned(),
        reason,
    };
    let value = read_secret_file(path).map_err(invalid)?;
    if value.contains('\0') {
        return Err(invalid("contains a NUL byte".into()));
    }
    Ok(Password(value))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        security: KafkaSecurity,
    }

    /// A scratch directory holding a CA, a client certificate and key and a
    /// password file (contents do not matter: only librdkafka reads them).
    struct Files(PathBuf);

    impl Files {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "ferrotrace-kafka-security-{name}-{}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            for file in ["ca.pem", "client.pem", "client-key.pem"] {
                std::fs::write(dir.join(file), "pem").unwrap();
            }
            std::fs::write(dir.join("password"), "s3cr3t-pw\n").unwrap();
            Files(dir)
        }

        fn path(&self, file: &str) -> String {
            self.0.join(file).display().to_string()
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn parse(flags: &[String]) -> KafkaSecurity {
        Cli::try_parse_from(std::iter::once("test".to_string()).chain(flags.iter().cloned()))
            .unwrap()
            .security
    }

    /// Every property `apply` sets, with the real (unsanitized) password.
    fn applied(security: &KafkaSecurity) -> Result<BTreeMap<String, String>, KafkaSecurityError> {
        let mut client = ClientConfig::new();
        security.apply(&mut client)?;
        Ok(client
            .config_map()
            .keys()
            .map(|key| {
                (
                    key.to_string(),
                    client.get(key).unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn flags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_flags_is_plaintext() {
        let security = parse(&[]);
        assert_eq!(
            applied(&security).unwrap(),
            map(&[("security.protocol", "plaintext")])
        );
    }

    #[test]
    fn tls_alone_uses_the_system_roots() {
        assert_eq!(
            applied(&parse(&flags(&["--kafka-tls"]))).unwrap(),
            map(&[("security.protocol", "ssl")])
        );
    }

    #[test]
    fn tls_files_map_to_ssl_locations_and_imply_tls() {
        let files = Files::new("tls");
        let security = parse(&[
            format!("--kafka-tls-ca-file={}", files.path("ca.pem")),
            format!("--kafka-tls-cert-file={}", files.path("client.pem")),
            format!("--kafka-tls-key-file={}", files.path("client-key.pem")),
        ]);
        assert_eq!(
            applied(&security).unwrap(),
            map(&[
                ("security.protocol", "ssl"),
                ("ssl.ca.location", &files.path("ca.pem")),
                ("ssl.certificate.location", &files.path("client.pem")),
                ("ssl.key.location", &files.path("client-key.pem")),
            ])
        );
        assert_eq!(security.warning(), None);
    }

    #[test]
    fn skip_host_verify_turns_off_both_checks_and_warns() {
        let security = parse(&flags(&["--kafka-tls-skip-host-verify"]));
        assert_eq!(
            applied(&security).unwrap(),
            map(&[
                ("security.protocol", "ssl"),
                ("enable.ssl.certificate.verification", "false"),
                ("ssl.endpoint.identification.algorithm", "none"),
            ])
        );
        assert!(security.warning().unwrap().contains("NOT verified"));
    }

    #[test]
    fn sasl_without_tls_is_sasl_plaintext() {
        let files = Files::new("sasl-plain");
        for (mechanism, expected) in [
            ("PLAIN", "PLAIN"),
            ("scram-sha-256", "SCRAM-SHA-256"),
            ("SCRAM-SHA-512", "SCRAM-SHA-512"),
        ] {
            let security = parse(&[
                format!("--kafka-sasl-mechanism={mechanism}"),
                "--kafka-sasl-username=ingest".into(),
                format!("--kafka-sasl-password-file={}", files.path("password")),
            ]);
            assert_eq!(
                applied(&security).unwrap(),
                map(&[
                    ("security.protocol", "sasl_plaintext"),
                    ("sasl.mechanism", expected),
                    ("sasl.username", "ingest"),
                    ("sasl.password", "s3cr3t-pw"),
                ])
            );
        }
    }

    #[test]
    fn sasl_with_tls_is_sasl_ssl() {
        let files = Files::new("sasl-ssl");
        let security = parse(&[
            format!("--kafka-tls-ca-file={}", files.path("ca.pem")),
            "--kafka-sasl-mechanism=SCRAM-SHA-512".into(),
            "--kafka-sasl-username=ingest".into(),
            "--kafka-sasl-password=from-env".into(),
        ]);
        assert_eq!(
            applied(&security).unwrap(),
            map(&[
                ("security.protocol", "sasl_ssl"),
                ("ssl.ca.location", &files.path("ca.pem")),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "ingest"),
                ("sasl.password", "from-env"),
            ])
        );
    }

    #[test]
    fn user_properties_set_afterwards_still_win() {
        let mut client = ClientConfig::new();
        parse(&flags(&["--kafka-tls"])).apply(&mut client).unwrap();
        client.set("security.protocol", "plaintext");
        assert_eq!(client.get("security.protocol"), Some("plaintext"));
    }

    #[test]
    fn impossible_combinations_are_refused() {
        let files = Files::new("errors");
        let password_file = format!("--kafka-sasl-password-file={}", files.path("password"));
        let cases: Vec<(Vec<String>, KafkaSecurityError)> = vec![
            (
                vec![format!(
                    "--kafka-tls-cert-file={}",
                    files.path("client.pem")
                )],
                KafkaSecurityError::CertWithoutKey,
            ),
            (
                vec![format!(
                    "--kafka-tls-key-file={}",
                    files.path("client-key.pem")
                )],
                KafkaSecurityError::CertWithoutKey,
            ),
            (
                flags(&["--kafka-sasl-username=ingest"]),
                KafkaSecurityError::SaslWithoutMechanism("--kafka-sasl-username"),
            ),
            (
                vec![password_file.clone()],
                KafkaSecurityError::SaslWithoutMechanism("--kafka-sasl-password-file"),
            ),
            (
                vec!["--kafka-sasl-mechanism=PLAIN".into(), password_file.clone()],
                KafkaSecurityError::MechanismWithoutUsername,
            ),
            (
                flags(&[
                    "--kafka-sasl-mechanism=PLAIN",
                    "--kafka-sasl-username=ingest",
                ]),
                KafkaSecurityError::MechanismWithoutPassword,
            ),
            (
                vec![
                    "--kafka-sasl-mechanism=PLAIN".into(),
                    "--kafka-sasl-username=ingest".into(),
                    "--kafka-sasl-password=x".into(),
                    password_file,
                ],
                KafkaSecurityError::TwoPasswords,
            ),
        ];
        for (flags, expected) in cases {
            let security = parse(&flags);
            assert_eq!(security.validate(), Err(expected), "{flags:?}");
        }
        assert!(Cli::try_parse_from(["test", "--kafka-sasl-mechanism=GSSAPI"]).is_err());
    }

    #[test]
    fn missing_or_empty_files_are_named_in_the_error() {
        let files = Files::new("missing");
        std::fs::write(files.0.join("empty"), "\n").unwrap();
        let missing = parse(&flags(&["--kafka-tls-ca-file=/nonexistent/ca.pem"]))
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("--kafka-tls-ca-file /nonexistent/ca.pem: cannot read"),
            "{missing}"
        );
        let empty = parse(&[
            "--kafka-sasl-mechanism=PLAIN".into(),
            "--kafka-sasl-username=ingest".into(),
            format!("--kafka-sasl-password-file={}", files.path("empty")),
        ])
        .validate()
        .unwrap_err()
        .to_string();
        assert!(empty.ends_with(": empty"), "{empty}");
    }

    #[test]
    fn the_password_never_shows() {
        let files = Files::new("debug");
        let security = parse(&[
            "--kafka-sasl-mechanism=PLAIN".into(),
            "--kafka-sasl-username=ingest".into(),
            "--kafka-sasl-password=on-the-command-line".into(),
        ]);
        let debug = format!("{security:?}");
        assert!(!debug.contains("on-the-command-line"), "{debug}");
        assert!(debug.contains("***"), "{debug}");

        // Read from the file: present for librdkafka, absent from every
        // printable form of the client configuration.
        let from_file = parse(&[
            "--kafka-sasl-mechanism=PLAIN".into(),
            "--kafka-sasl-username=ingest".into(),
            format!("--kafka-sasl-password-file={}", files.path("password")),
        ]);
        let mut client = ClientConfig::new();
        from_file.apply(&mut client).unwrap();
        assert_eq!(client.get("sasl.password"), Some("s3cr3t-pw"));
        assert!(!format!("{client:?} {from_file:?}").contains("s3cr3t-pw"));

        let error = redact_error(KafkaError::ClientConfig(
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "Invalid value".into(),
            "sasl.password".into(),
            "s3cr3t-pw".into(),
        ));
        assert!(!error.to_string().contains("s3cr3t-pw"), "{error}");
    }

    #[test]
    fn secret_properties_are_recognised_by_list_and_by_name() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.truststore.password",
            "ssl.key.pem",
            "ssl_key",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "sasl.oauthbearer.assertion.private.key.pem",
            "sasl.oauthbearer.assertion.private.key.passphrase",
            " SASL.Password ",
        ] {
            assert!(is_secret_property(key), "{key} is secret");
        }
        for key in [
            "ssl.certificate.pem",
            "ssl.ca.pem",
            "ssl.key.location",
            "sasl.username",
            "bootstrap.servers",
            "linger.ms",
        ] {
            assert!(!is_secret_property(key), "{key} is not secret");
        }
    }

    #[test]
    fn config_errors_of_secret_properties_hide_the_value() {
        let invalid = |key: &str, description: &str, value: &str| {
            redact_error(KafkaError::ClientConfig(
                rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
                description.into(),
                key.into(),
                value.into(),
            ))
            .to_string()
        };
        for key in [
            "ssl.key.pem",
            "ssl.keystore.password",
            "sasl.oauthbearer.config",
            "sasl.oauthbearer.client.secret",
        ] {
            let error = invalid(
                key,
                "Invalid value \"hush-hush\" for configuration property",
                "hush-hush",
            );
            assert!(!error.contains("hush-hush"), "{error}");
            assert!(error.contains(key) && error.contains("***"), "{error}");
        }
        // A description that does not quote the value is kept as it is.
        let error = invalid("ssl.key.pem", "PEM parse error", "hush-hush");
        assert!(error.contains("PEM parse error"), "{error}");
        // Public values stay, so the error says what was wrong.
        let error = invalid("ssl.certificate.pem", "Invalid value", "not-a-cert");
        assert!(error.contains("not-a-cert"), "{error}");
    }

    #[test]
    fn username_loses_only_a_trailing_line_ending() {
        for (given, expected) in [
            ("ingest\n", "ingest"),
            ("ingest\r\n", "ingest"),
            ("ingest\n\n", "ingest"),
            ("ingest", "ingest"),
            (" in gest \t\n", " in gest \t"),
        ] {
            let security = parse(&[format!("--kafka-sasl-username={given}")]);
            assert_eq!(
                security.kafka_sasl_username.as_deref(),
                Some(expected),
                "{given:?}"
            );
        }
        let files = Files::new("username");
        let security = parse(&[
            "--kafka-sasl-mechanism=PLAIN".into(),
            "--kafka-sasl-username=ingest\n".into(),
            format!("--kafka-sasl-password-file={}", files.path("password")),
        ]);
        assert_eq!(
            applied(&security).unwrap().get("sasl.username"),
            Some(&"ingest".to_string())
        );
    }

    #[test]
    fn help_shows_no_password_from_the_environment() {
        let command = <Cli as clap::CommandFactory>::command();
        let password = command
            .get_arguments()
            .find(|arg| arg.get_id() == "kafka_sasl_password")
            .unwrap();
        assert!(password.is_hide_env_values_set());
        assert!(password.get_default_values().is_empty());
    }
}
