//! `ferrotrace-ingester`: parse and validate the configuration, prepare
//! Elasticsearch, consume until SIGTERM, drain and commit. With a job
//! subcommand (`dependencies`, `retention`, `rollover`), run that job once
//! instead and exit.

use ferrotrace_common::config::{exit_usage, parse_args_or_exit};
use ferrotrace_common::{runtime, shutdown, telemetry};
use ferrotrace_ingester::config::{
    Command, Config, DependenciesArgs, RetentionArgs, RolloverAction, RolloverArgs,
};
use ferrotrace_ingester::es::client::EsClient;
use ferrotrace_ingester::jobs::dependencies::{self, DependenciesOptions, Mode};
use ferrotrace_ingester::jobs::retention::{self, RetentionOptions};
use ferrotrace_ingester::jobs::rollover::{self, Conditions, RolloverOptions, Step, Unit};
use ferrotrace_ingester::{metrics, Ingester};

/// mimalloc: about 15 % less CPU per span than glibc malloc here, where prost
/// decoding allocates for every span (BENCHMARKS.md). The collector, which
/// hardly allocates, measured no gain and keeps the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NAME: &str = "ferrotrace-ingester";

/// Turns transparent huge pages off for this process, unless
/// `MIMALLOC_ALLOW_THP=1` asks for them. mimalloc advises its arenas
/// `MADV_HUGEPAGE`, so the kernel backs them with 2 MiB pages, zeroed whole
/// on first touch and resident as long as any byte of them is used: peak RSS
/// 75 MiB with them, 49 MiB without, at the same CPU per span
/// (BENCHMARKS.md). mimalloc's own switch reads its environment before
/// `main`; the process flag applies to every page faulted from now on.
fn disable_transparent_huge_pages() {
    if std::env::var("MIMALLOC_ALLOW_THP").is_ok_and(|v| v.trim() == "1") {
        return;
    }
    // SAFETY: prctl with integer arguments; PR_SET_THP_DISABLE only sets a
    // flag of this process's memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        // Kernels before 3.15 do not know it: huge pages stay as they are.
        eprintln!(
            "{NAME}: transparent huge pages left on: prctl(PR_SET_THP_DISABLE): {}",
            std::io::Error::last_os_error()
        );
    }
}

fn main() -> anyhow::Result<()> {
    disable_transparent_huge_pages();
    let config: Config = parse_args_or_exit();
    if let Err(problem) = runtime::check_threads(config.runtime_threads) {
        exit_usage(NAME, &problem);
    }
    runtime::build(config.runtime_threads, runtime::available_cpus())?.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    if let Some(Command::Retention(args)) = &config.command {
        return run_retention(&config, args).await;
    }
    if let Some(Command::Rollover(args)) = &config.command {
        return run_rollover(&config, args).await;
    }
    if let Some(Command::Dependencies(args)) = &config.command {
        return run_dependencies(&config, args).await;
    }
    if let Err(problem) = config.validate() {
        exit_usage(NAME, &problem);
    }
    telemetry::init_logs(config.log_format, "info");
    if let Some(warning) = config.kafka_security.warning() {
        tracing::warn!("{warning}");
    }
    let metrics = telemetry::init_metrics("ingester", &metrics::LAYOUT)?;
    let shutdown = shutdown::on_signal();
    let ingester = Ingester::bind(config, metrics).await?;
    ingester.run(shutdown).await
}

/// `ferrotrace-ingester retention`: exits 64 on bad flags, 1 when
/// Elasticsearch fails or refuses, leaving what it already deleted deleted.
async fn run_retention(config: &Config, args: &RetentionArgs) -> anyhow::Result<()> {
    if let Err(problem) = config.validate_es() {
        exit_usage(&format!("{NAME} retention"), &problem);
    }
    // stdout carries the report; logs would interleave with it at "info".
    telemetry::init_logs(config.log_format, "warn");
    let es = EsClient::new(&config.es_connection())?;
    let options = RetentionOptions {
        prefix: config.es_index_prefix.clone(),
        date_separator: config.es_index_date_separator.clone(),
        keep_days: args.keep_days,
        dry_run: args.dry_run,
    };
    let out = &mut std::io::stdout().lock();
    let result = if args.rollover {
        retention::run_rollover(&es, &options, out).await
    } else {
        retention::run(&es, &options, out).await
    };
    if let Err(error) = result {
        eprintln!("ferrotrace-ingester retention: {error}");
        std::process::exit(1);
    }
    Ok(())
}

/// `ferrotrace-ingester rollover init|rollover|lookback`: exits 64 on bad
/// flags or conditions, 1 when Elasticsearch fails or refuses, leaving the
/// index sets already handled as they now are.
async fn run_rollover(config: &Config, args: &RolloverArgs) -> anyhow::Result<()> {
    let name = match args.action {
        RolloverAction::Init => "init",
        RolloverAction::Rollover { .. } => "rollover",
        RolloverAction::Lookback { .. } => "lookback",
    };
    let usage = |problem: String| -> ! { exit_usage(&format!("{NAME} rollover {name}"), &problem) };
    if let Err(problem) = config.validate_es() {
        usage(problem);
    }
    let step = match &args.action {
        RolloverAction::Init => Step::Init {
            templates: config.template_options(),
        },
        RolloverAction::Rollover { conditions } => {
            Step::Rollover(Conditions::parse(conditions).unwrap_or_else(|p| usage(p)))
        }
        RolloverAction::Lookback { unit, unit_count } => Step::Lookback {
            unit: Unit::parse(unit).unwrap_or_else(|p| usage(p)),
            count: *unit_count,
        },
    };
    // stdout carries the report; logs would interleave with it at "info".
    telemetry::init_logs(config.log_format, "warn");
    let es = EsClient::new(&config.es_connection())?;
    let options = RolloverOptions {
        prefix: config.es_index_prefix.clone(),
        skip_dependencies: args.skip_dependencies,
    };
    if let Err(error) = rollover::run(&es, &options, &step, &mut std::io::stdout().lock()).await {
        eprintln!("ferrotrace-ingester rollover {name}: {error}");
        std::process::exit(1);
    }
    Ok(())
}

/// `ferrotrace-ingester dependencies`: exits 64 on bad flags, 1 when
/// Elasticsearch fails or a merge finds shards missing; the report (one line
/// per link and a summary) goes to stdout, progress to the log.
async fn run_dependencies(config: &Config, args: &DependenciesArgs) -> anyhow::Result<()> {
    let usage = |problem: String| -> ! { exit_usage(&format!("{NAME} dependencies"), &problem) };
    if let Err(problem) = config.validate_es() {
        usage(problem);
    }
    let date = args.date.as_deref().unwrap_or("today");
    let day = dependencies::parse_day(date, retention::today_utc()).unwrap_or_else(|| {
        usage(format!(
            "--date {date:?} must be YYYY-MM-DD, today or yesterday"
        ))
    });
    let mode = match (&args.shard, args.merge) {
        _ if args.from_live => Mode::FromLive,
        (Some(shard), _) => Mode::parse_shard(shard).unwrap_or_else(|p| usage(p)),
        (None, true) => Mode::Merge {
            shards: args
                .shards
                .filter(|&n| n > 0)
                .unwrap_or_else(|| usage("--merge needs --shards N (N > 0)".into())),
        },
        (None, false) => Mode::Full,
    };
    if args.page_size == 0 {
        usage("--page-size must be positive".into());
    }
    let parallelism = args.parallelism.unwrap_or_else(|| {
        2 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    telemetry::init_logs(config.log_format, "info");
    let es = EsClient::new(&config.es_connection())?;
    let options = DependenciesOptions {
        prefix: config.es_index_prefix.clone(),
        date_separator: config.es_index_date_separator.clone(),
        use_aliases: config.es_use_aliases,
        dot_replacement: config.es_tags_as_fields_dot_replacement.clone(),
        day,
        parallelism: parallelism.max(1),
        page_size: args.page_size,
    };
    if let Err(error) = dependencies::run(&es, &options, mode, &mut std::io::stdout().lock()).await
    {
        eprintln!("ferrotrace-ingester dependencies: {error}");
        std::process::exit(1);
    }
    Ok(())
}
