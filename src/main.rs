//! The `basegate` command line: parse arguments, call the library, set the exit code.

use anyhow::{bail, Context, Result};
use basegate::report::{self, Format, Gate, RenderOptions};
use basegate::rules::{self, Rule, Severity};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Security-baseline scanner and CI gate for Azure infrastructure-as-code: Bicep, ARM JSON
/// and Terraform, held against CIS Microsoft Azure Foundations v3.0.0 and the Microsoft
/// cloud security benchmark.
///
/// Exit codes: 0 the gate passes; 1 the gate fails (a finding at or above --fail-on, or an
/// IaC file that could not be scanned); 2 usage, configuration or internal error.
#[derive(Parser)]
#[command(name = "basegate", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan files and folders and report findings.
    Scan(ScanArgs),
    /// List the rules (id, severity, title, controls).
    Rules(RulesArgs),
    /// For pre-commit: scan the folders of the given files (modules need their siblings) and
    /// report only findings in those files.
    PreCommit {
        /// The staged files.
        files: Vec<PathBuf>,
        /// Fail on findings of this severity or higher [default: high, or the config's].
        #[arg(long, value_enum)]
        fail_on: Option<SeverityArg>,
        /// Configuration file (default: `.basegate.toml` found by walking up).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// List the declared resources by type and file, with the rules and controls that apply.
    Inventory {
        #[command(flatten)]
        scan: ScanArgs,
    },
    /// Compare two JSON reports (`scan --format json`): controls and findings gained and lost.
    Report {
        /// The earlier and the later report.
        #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], required = true)]
        compare: Vec<PathBuf>,
    },
    /// Write a commented starter `.basegate.toml` in the current folder.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Accept today's findings: write the baseline file of their fingerprints.
    Baseline {
        #[command(subcommand)]
        action: BaselineAction,
    },
    /// Print a rule's documentation.
    Explain {
        /// Rule id (BG1001) or name (storage-http-traffic).
        rule: String,
        /// Extra rule files, as with `scan --rules`.
        #[arg(long = "rules", value_name = "DIR")]
        rules_dirs: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BaselineAction {
    /// Scan, then write every current finding to the baseline file.
    Create {
        #[command(flatten)]
        scan: ScanArgs,
        /// Where to write it.
        #[arg(long, value_name = "FILE", default_value = ".basegate-baseline.json")]
        file: PathBuf,
    },
}

/// `scan`'s options alone, to build them programmatically (pre-commit).
#[derive(Parser)]
struct ScanOnly {
    #[command(flatten)]
    scan: ScanArgs,
}

#[derive(clap::Args)]
struct ScanArgs {
    /// Files or folders to scan.
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Output format (default: text).
    #[arg(long, short, value_enum)]
    format: Option<FormatArg>,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Fail the gate on findings of this severity or higher [default: high, or the config's].
    #[arg(long, value_enum)]
    fail_on: Option<SeverityArg>,
    /// Configuration file (default: `.basegate.toml` found by walking up from the first path).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Frameworks whose rules run (default: the config's, else both). Repeatable.
    #[arg(long, value_enum)]
    framework: Vec<FrameworkArg>,
    /// Report and gate only on findings in lines changed since this git ref (e.g. origin/main).
    #[arg(long, value_name = "REF")]
    changed_since: Option<String>,
    /// Findings whose fingerprints are in FILE are accepted: only new ones fail the gate.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Add the rule files (*.toml) of DIR to the built-in rules. Repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    rules_dirs: Vec<PathBuf>,
    /// ARM parameter file to evaluate the templates with (default: X.parameters.json beside X.json).
    #[arg(long, value_name = "FILE")]
    parameters: Option<PathBuf>,
    /// Terraform variable file (like `terraform plan -var-file`). Repeatable.
    #[arg(long = "var-file", value_name = "FILE")]
    var_files: Vec<PathBuf>,
    /// Terraform variable, NAME=VALUE (like `terraform plan -var`). Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// azurerm provider version to assume when the configuration does not pin one (e.g. 4.20.0).
    #[arg(long, value_name = "VERSION")]
    azurerm_version: Option<String>,
    /// Skip paths matching GLOB (relative to the scan root). Repeatable.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Files larger than this many MB are reported, not read.
    #[arg(long, value_name = "MB", default_value_t = 32)]
    max_file_size: u64,
    /// Report paths relative to DIR (default: the git repository, else the scanned folder).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Print findings and the summary only (no input diagnostics).
    #[arg(long, short)]
    quiet: bool,
    /// Never colour the text output.
    #[arg(long)]
    no_color: bool,
    /// Worker threads (default: one per core). Output does not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

#[derive(clap::Args)]
struct RulesArgs {
    /// Print the full rule reference as Markdown (docs/rules.md).
    #[arg(long)]
    markdown: bool,
    /// Extra rule files, as with `scan --rules`.
    #[arg(long = "rules", value_name = "DIR")]
    rules_dirs: Vec<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Sarif,
    Markdown,
    Html,
    Github,
    Junit,
}

#[derive(Clone, Copy, ValueEnum)]
enum FrameworkArg {
    Cis,
    Mcsb,
    All,
}

#[derive(Clone, Copy, ValueEnum)]
enum SeverityArg {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Severity {
        match s {
            SeverityArg::Critical => Severity::Critical,
            SeverityArg::High => Severity::High,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::Low => Severity::Low,
            SeverityArg::Info => Severity::Info,
        }
    }
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{s}`")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`basegate rules | head`) is not an error.
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("basegate: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn load_rules(dirs: &[PathBuf]) -> Result<Vec<Rule>> {
    let mut all = rules::builtin();
    for dir in dirs {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read rule folder {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        entries.sort();
        for p in entries {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read rule file {}", p.display()))?;
            let rule =
                rules::load::parse_rule(&text, &p.display().to_string(), &p.display().to_string())?;
            if all.iter().any(|r| r.id == rule.id) {
                bail!("{}: rule id {} is already defined", p.display(), rule.id);
            }
            all.push(rule);
        }
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(all)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => scan(args),
        Command::PreCommit {
            files,
            fail_on,
            config,
        } => pre_commit(files, fail_on, config),
        Command::Inventory { scan: args } => {
            start_threads(args.threads)?;
            let Prepared { opts, .. } = prepare(&args)?;
            let result = basegate::scan(&opts);
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match args.format {
                Some(FormatArg::Json) => report::inventory::render_json(&result, &mut out)?,
                _ => report::inventory::render_text(&result, &mut out)?,
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { compare } => {
            let read = |p: &PathBuf| -> Result<serde_json::Value> {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?;
                let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    anyhow::anyhow!(
                        "{}: line {}, column {}: {e}",
                        p.display(),
                        e.line(),
                        e.column()
                    )
                })?;
                report::compare::check_report(&v, &p.display().to_string())?;
                Ok(v)
            };
            let (old, new) = (read(&compare[0])?, read(&compare[1])?);
            let mut out = std::io::stdout().lock();
            report::compare::render(&old, &new, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Baseline {
            action: BaselineAction::Create { scan, file },
        } => baseline_create(scan, file),
        Command::Init { force } => {
            let path = PathBuf::from(basegate::config::FILE_NAME);
            if path.exists() && !force {
                bail!(
                    "{} already exists (use --force to overwrite)",
                    path.display()
                );
            }
            std::fs::write(&path, basegate::config::STARTER)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("basegate: wrote {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(args) => {
            let rules = load_rules(&args.rules_dirs)?;
            let mut out = std::io::stdout().lock();
            if args.markdown {
                write!(out, "{}", rules::doc::reference_markdown(&rules))?;
                return Ok(ExitCode::SUCCESS);
            }
            for r in &rules {
                writeln!(
                    out,
                    "{:<8} {:<9} {:<48} {}",
                    r.id,
                    r.severity.as_str(),
                    r.title,
                    rules::doc::control_list(r)
                )?;
            }
            writeln!(
                out,
                "{} rules. {}.",
                rules.len(),
                rules::doc::coverage_line(&rules)
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { rule, rules_dirs } => {
            let rules = load_rules(&rules_dirs)?;
            let Some(r) = rules
                .iter()
                .find(|r| r.id.eq_ignore_ascii_case(&rule) || r.name == rule)
            else {
                bail!("no rule `{rule}` (see `basegate rules`)");
            };
            let mut out = std::io::stdout().lock();
            write!(out, "{}", rules::doc::help_markdown(r))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Everything a scan needs, from the flags and the configuration file.
struct Prepared {
    opts: basegate::ScanOptions,
    fail_on: Severity,
}

fn prepare(args: &ScanArgs) -> Result<Prepared> {
    for p in &args.paths {
        if !p.exists() {
            bail!("{}: no such file or folder", p.display());
        }
    }
    let config_path = match &args.config {
        Some(p) => Some(p.clone()),
        None => basegate::config::Config::discover(&args.paths[0]),
    };
    let config = match &config_path {
        Some(p) => Some(basegate::config::Config::load(p)?),
        None => None,
    };
    let cfg = config.clone().unwrap_or_default();
    let mut rule_dirs: Vec<PathBuf> = cfg.rules.dirs.iter().map(|d| cfg.dir.join(d)).collect();
    rule_dirs.extend(args.rules_dirs.iter().cloned());
    let frameworks: Option<Vec<basegate::config::Framework>> = if args.framework.is_empty() {
        None
    } else {
        use basegate::config::Framework;
        let mut f = Vec::new();
        for a in &args.framework {
            match a {
                FrameworkArg::Cis => f.push(Framework::Cis),
                FrameworkArg::Mcsb => f.push(Framework::Mcsb),
                FrameworkArg::All => f.extend([Framework::Cis, Framework::Mcsb]),
            }
        }
        Some(f)
    };
    let rules = cfg
        .select_rules(load_rules(&rule_dirs)?, frameworks.as_deref())
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}",
                config_path
                    .as_deref()
                    .unwrap_or(std::path::Path::new(".basegate.toml"))
                    .display()
            )
        })?;
    let mut excludes = cfg.paths.exclude.clone();
    excludes.extend(args.exclude.iter().cloned());
    let exclude =
        basegate::discover::build_globset(&excludes).context("invalid exclude pattern")?;
    let include = if cfg.paths.include.is_empty() {
        None
    } else {
        Some(
            basegate::discover::build_globset(&cfg.paths.include)
                .context("invalid include pattern")?,
        )
    };
    let baseline = match &args.baseline {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read baseline {}", p.display()))?;
            Some(
                basegate::triage::BaselineFile::parse(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
            )
        }
        None => None,
    };
    let mut var_files: Vec<PathBuf> = cfg
        .terraform
        .var_files
        .iter()
        .map(|f| cfg.dir.join(f))
        .collect();
    var_files.extend(args.var_files.iter().cloned());
    let fail_on: Severity = match (args.fail_on, cfg.baseline.fail_on) {
        (Some(a), _) => a.into(),
        (None, Some(c)) => c.into(),
        (None, None) => Severity::High,
    };
    Ok(Prepared {
        opts: basegate::ScanOptions {
            paths: args.paths.clone(),
            root: args.root.clone(),
            filter: basegate::discover::Filter {
                exclude,
                include,
                max_file_size: args.max_file_size.saturating_mul(1024 * 1024),
                threads: args.threads.unwrap_or(0),
            },
            parameters: args.parameters.clone(),
            var_files,
            vars: args.vars.clone(),
            assume_azurerm: args
                .azurerm_version
                .clone()
                .or(cfg.terraform.azurerm_version.clone()),
            rules,
            config,
            baseline,
            today: None,
            keep_bodies: false,
            after_evaluation: Some(allocator_for_peak),
            changed: match &args.changed_since {
                Some(reference) => {
                    let root = args
                        .root
                        .clone()
                        .unwrap_or_else(|| basegate::discover::scan_root(&args.paths));
                    Some(basegate::changes::since(&root, reference).map_err(anyhow::Error::msg)?)
                }
                None => None,
            },
            enforced: {
                use basegate::config::Framework;
                let f = frameworks.as_deref().unwrap_or(&cfg.baseline.frameworks);
                basegate::report::compliance::Enforced {
                    cis: f.contains(&Framework::Cis),
                    cis_level: cfg.baseline.cis_level,
                    mcsb: f.contains(&Framework::Mcsb),
                }
            },
        },
        fail_on,
    })
}

/// The worker threads, once for the whole run, with the deep stacks evaluation needs
/// (basegate::threads).
fn start_threads(threads: Option<usize>) -> Result<()> {
    basegate::threads::start(threads.map_or(0, |n| n.max(1)))
        .context("cannot start the worker threads")
}

fn scan(args: ScanArgs) -> Result<ExitCode> {
    let mut watch = basegate::timings::Stopwatch::start();
    start_threads(args.threads)?;
    let Prepared { opts, fail_on } = prepare(&args)?;
    watch.lap("rules");
    let result = basegate::scan(&opts);
    let mut watch = basegate::timings::Stopwatch::start();
    let format = match args.format {
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Sarif) => Format::Sarif,
        Some(FormatArg::Markdown) => Format::Markdown,
        Some(FormatArg::Html) => Format::Html,
        Some(FormatArg::Github) => Format::Github,
        Some(FormatArg::Junit) => Format::Junit,
        Some(FormatArg::Text) | None => Format::Text,
    };
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let render = RenderOptions {
        color: to_terminal && !args.no_color && std::env::var_os("NO_COLOR").is_none(),
        quiet: args.quiet,
        fail_on,
    };
    match &args.output {
        Some(path) => {
            // Streamed: a report of a large repository is tens of megabytes.
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            // A large buffer: the JSON report of the ARM corpus is 30 MB, written in pieces
            // of a few hundred bytes (8 KB made it 3,700 write calls).
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            report::render(&result, format, &render, &mut out)
                .and_then(|_| out.flush())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            report::render(&result, format, &render, &mut out)?;
            out.flush()?;
        }
    }
    watch.lap("report");
    let gate = report::gate(&result, fail_on);
    // The process is about to exit and the OS takes the memory back at once; freeing every
    // resource, finding and source line one by one first cost 8-12 ms on the corpus sets.
    std::mem::forget(result);
    watch.lap("free");
    Ok(match gate {
        Gate::Pass => ExitCode::SUCCESS,
        Gate::Fail => ExitCode::from(1),
    })
}

fn pre_commit(
    files: Vec<PathBuf>,
    fail_on: Option<SeverityArg>,
    config: Option<PathBuf>,
) -> Result<ExitCode> {
    let files: Vec<PathBuf> = files.into_iter().filter(|f| f.is_file()).collect();
    if files.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|f| match f.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    let args = ScanOnly::parse_from(
        std::iter::once(std::ffi::OsString::from("scan"))
            .chain(dirs.iter().map(|d| d.clone().into_os_string()))
            .chain(config.iter().flat_map(|c| {
                [
                    std::ffi::OsString::from("--config"),
                    c.clone().into_os_string(),
                ]
            })),
    )
    .scan;
    start_threads(args.threads)?;
    let Prepared {
        opts,
        fail_on: cfg_fail_on,
    } = prepare(&args)?;
    let fail_on = fail_on.map(Severity::from).unwrap_or(cfg_fail_on);
    let mut result = basegate::scan(&opts);
    // Only what is staged: other files of the folder were read for context.
    let staged: foldhash::HashSet<PathBuf> = files
        .iter()
        .filter_map(|f| std::path::absolute(f).ok())
        .map(|p| basegate::discover::normalize(&p))
        .collect();
    let is_staged = |id: basegate::source::FileId| {
        let p = result.sources.get(id).path.clone();
        std::path::absolute(&p)
            .map(|p| staged.contains(&basegate::discover::normalize(&p)))
            .unwrap_or(false)
    };
    let keep_findings: Vec<bool> = result
        .findings
        .iter()
        .map(|f| is_staged(f.span.file))
        .collect();
    let keep_diags: Vec<bool> = result
        .diagnostics
        .iter()
        .map(|d| is_staged(d.span.file))
        .collect();
    let mut k = keep_findings.into_iter();
    result.findings.retain(|_| k.next().unwrap_or(false));
    let mut k = keep_diags.into_iter();
    result.diagnostics.retain(|_| k.next().unwrap_or(false));
    let render = RenderOptions {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        quiet: false,
        fail_on,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    report::render(&result, Format::Text, &render, &mut out)?;
    out.flush()?;
    Ok(match report::gate(&result, fail_on) {
        Gate::Pass => ExitCode::SUCCESS,
        Gate::Fail => ExitCode::from(1),
    })
}

fn baseline_create(args: ScanArgs, file: PathBuf) -> Result<ExitCode> {
    start_threads(args.threads)?;
    let Prepared { mut opts, .. } = prepare(&args)?;
    opts.baseline = None;
    let result = basegate::scan(&opts);
    let baseline = basegate::report::baseline::build(&result);
    let mut text = serde_json::to_string_pretty(&baseline)?;
    text.push('\n');
    std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    let errors = result.errors().count();
    eprintln!(
        "basegate: wrote {} accepted finding{} to {}{}",
        baseline.findings.len(),
        if baseline.findings.len() == 1 {
            ""
        } else {
            "s"
        },
        file.display(),
        if errors > 0 {
            format!(" ({errors} file error(s): those files were not scanned)")
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

// Evaluation builds and drops many small value trees; glibc's malloc spent a third of the
// scan time in allocation on the benchmark corpus (perf, bench/README.md). mimalloc halves it.
#[global_allocator]
static GLOBAL: Mimalloc = Mimalloc;

/// mimalloc, asked for alignment only when a type needs more than any block has. The
/// `mimalloc` crate's allocator calls `mi_malloc_aligned` for every allocation: ~53
/// instructions each against ~20 for `mi_malloc`, over 2 million allocations in a Bicep
/// scan (callgrind). As std does for the system allocator: every mimalloc block of `size`
/// bytes is aligned to 16 bytes (`MI_MAX_ALIGN_SIZE`), or to `size` when smaller.
struct Mimalloc;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};

const MI_MAX_ALIGN_SIZE: usize = 16;

fn plain(layout: std::alloc::Layout) -> bool {
    layout.align() <= MI_MAX_ALIGN_SIZE && layout.align() <= layout.size()
}

// SAFETY: each function passes its request to the mimalloc function with the same
// contract (size, alignment, a pointer from this allocator), the aligned one when `plain`
// says a block's own alignment may not be enough.
unsafe impl std::alloc::GlobalAlloc for Mimalloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        unsafe {
            if plain(layout) {
                mi_malloc(layout.size()) as *mut u8
            } else {
                mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        unsafe {
            if plain(layout) {
                mi_zalloc(layout.size()) as *mut u8
            } else {
                mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        unsafe { mi_free(ptr as *mut std::ffi::c_void) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let new = std::alloc::Layout::from_size_align(new_size, layout.align());
        unsafe {
            if new.is_ok_and(plain) {
                mi_realloc(ptr as *mut std::ffi::c_void, new_size) as *mut u8
            } else {
                mi_realloc_aligned(ptr as *mut std::ffi::c_void, new_size, layout.align())
                    as *mut u8
            }
        }
    }
}

// mimalloc v3's option numbers (`mi_option_e` in libmimalloc-sys 0.1.49's
// c_src/mimalloc/v3/include/mimalloc.h; the crate exports no constants for these two).
// mi_collect is in the same library (`mimalloc.h`); the crate's default features do not
// declare it.
const MI_OPTION_ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    fn mi_collect(force: bool);
}

/// How long mimalloc waits before it returns a freed page to the OS while the frontends
/// evaluate. They allocate and drop value trees by the million, and with no delay the same
/// pages were given back (`madvise`) and faulted in again over and over: 12 % of the CPU
/// samples of a Bicep scan. 2 ms lets a page be reused first (Bicep −6 % wall, ARM and
/// Terraform −2 %, same peak: bench/README.md).
const EVALUATION_PURGE_DELAY_MS: std::ffi::c_long = 2;

/// Run once the frontends are done (`ScanOptions::after_evaluation`). The checks and the
/// report hold the scan's memory peak, so from here freed pages go back at once, as they
/// did before the delay: a delay kept through the report raised the ARM peak by 1–2 MB.
/// What the evaluation freed is purged first, on every thread of the pool (mimalloc
/// collects a thread's own heap only), and before the delay is set to 0: with a delay of
/// 0 mimalloc no longer runs the purges it scheduled.
fn allocator_for_peak() {
    // SAFETY: mi_collect only frees memory no object uses any more (the calling thread's
    // empty pages, and scheduled purges); mi_option_set stores an integer.
    unsafe {
        rayon::broadcast(|_| mi_collect(true));
        mi_collect(true);
        mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

/// By default mimalloc commits its arenas eagerly on Linux and returns freed pages to the
/// OS only after a delay (1 s): on the quickstart corpus that held ~55 MB of resident
/// memory that no object used (peak 162 MB; with eager commit off and no delay 107 MB;
/// measured with the equivalent `MIMALLOC_*` environment variables). A short delay during
/// evaluation only, purged when it ends, keeps that peak ([`allocator_for_peak`]). The
/// options must be set before the first allocation reserves an arena, so this runs as an
/// ELF constructor, before the Rust runtime allocates anything (set from `main`, the peak
/// was 138 MB).
extern "C" fn tune_allocator() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table; it does not
    // allocate and needs no initialisation.
    unsafe {
        mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        mi_option_set(MI_OPTION_PURGE_DELAY, EVALUATION_PURGE_DELAY_MS);
    }
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;
