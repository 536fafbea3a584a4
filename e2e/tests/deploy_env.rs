//! Every `FERROTRACE_*` variable the deployment files set (`k8s/`,
//! `docker-compose.yml`) is the environment variable of a real flag, so a
//! misspelled or renamed variable fails here instead of being silently
//! ignored in production. A file that configures one binary (its Deployment,
//! or a component's patch named after it) must use that binary's flags.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

/// The environment variables of a command's flags, its subcommands' included.
fn env_vars(command: &clap::Command) -> BTreeSet<String> {
    let mut vars: BTreeSet<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    for sub in command.get_subcommands() {
        vars.extend(env_vars(sub));
    }
    vars
}

/// `FERROTRACE_` names in a text (a name is upper-case letters, digits, `_`).
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("FERROTRACE_") {
        let name: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if name.len() > "FERROTRACE_".len() {
            names.insert(name);
        }
    }
    names
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn deployment_files_set_only_variables_of_real_flags() {
    let collector = env_vars(&ferrotrace_collector::config::Config::command());
    let ingester = env_vars(&ferrotrace_ingester::config::Config::command());
    assert!(
        collector.contains("FERROTRACE_TLS_CERT_FILE") && ingester.contains("FERROTRACE_ES_URL")
    );
    let either: BTreeSet<String> = collector.union(&ingester).cloned().collect();

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("docker-compose.yml")];
    yaml_files(&root.join("k8s"), &mut files);
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable file");
        let name = file.file_name().unwrap().to_string_lossy();
        let known = if name.starts_with("collector") {
            &collector
        } else if name.starts_with("ingester") {
            &ingester
        } else {
            &either
        };
        for var in names_in(&text) {
            checked += 1;
            if !known.contains(&var) {
                problems.push(format!("{}: {var}", file.display()));
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} variables found: wrong directory?"
    );
    assert!(
        problems.is_empty(),
        "variables no flag of that binary reads:\n{}",
        problems.join("\n")
    );
}

#[test]
fn names_are_read_up_to_the_first_other_character() {
    let names = names_in("- { name: FERROTRACE_TLS_CERT_FILE, value: x }\n# FERROTRACE_* and FERROTRACE_<FLAG>\n  FERROTRACE_ES_URL: \"u\"");
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["FERROTRACE_ES_URL", "FERROTRACE_TLS_CERT_FILE"]
    );
}
