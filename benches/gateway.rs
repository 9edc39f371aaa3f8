//! `cargo bench -p lockstep --bench gateway [-- --orders N --durability none|group|every]`: `lockstep load` against
//! `lockstep gateway` with the whole cluster behind it (sequencer with the `group` journal
//! policy, primary and backup engines, all processes), at window 1 and window 64, and in the
//! same run against a bare QuickFIX C++ acceptor that answers each order at once
//! (`tests/interop/quickfix_echo.cpp`), the baseline; the same echo through QuickFIX's Python
//! wheel (`quickfix_echo.py`) is measured and printed beside it.
//!
//! Last line: `RESULT gateway rtt_p50_us=.. rtt_p99_us=.. orders_per_s_w1=.. orders_per_s_w64=..
//! rtt_ratio_vs_quickfix_echo=..` (rtt at window 1, against the C++ echo's p50).
#![allow(clippy::print_stdout, reason = "a benchmark's report")]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use lockstep::local::fix_load::{self, LoadReport};
use lockstep::local::latency::{micros, write_hgrm};
use lockstep::local::{DriverHost, LocalCluster, Proc, Settings};

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn wait_listening(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        ensure!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Runs a load while the harness keeps reading egress.
fn load(
    cluster: &mut LocalCluster,
    addr: SocketAddr,
    sessions: &[&str],
    orders: u64,
    window: usize,
) -> anyhow::Result<LoadReport> {
    let sessions: Vec<String> = sessions.iter().map(|s| (*s).to_owned()).collect();
    let run =
        std::thread::spawn(move || fix_load::run(addr, &sessions, "LOCKSTEP", orders, window));
    while !run.is_finished() {
        cluster.service()?;
        std::thread::sleep(Duration::from_micros(200));
    }
    run.join()
        .map_err(|_| anyhow::anyhow!("the load panicked"))?
}

fn report(name: &str, r: &LoadReport, out: &Path) -> anyhow::Result<()> {
    let path = out.join(format!("{name}.hgrm"));
    write_hgrm(&r.histogram, &path)?;
    let h = &r.histogram;
    println!(
        "{name}: {} orders, {:.0} orders/s, p50 {:.1} us, p99 {:.1} us, max {:.1} us ({})",
        r.orders,
        r.orders_per_s(),
        micros(h, 0.5),
        micros(h, 0.99),
        micros(h, 1.0),
        path.display()
    );
    Ok(())
}

/// The baseline: a bare QuickFIX C++ acceptor answering each order at once
/// (`tests/interop/quickfix_echo.cpp`, built here against Debian's libquickfix-dev), or the
/// same echo through QuickFIX's Python wheel (`quickfix_echo.py`: the C++ engine with the
/// answer written in Python).
fn quickfix_echo(root: &Path, dir: &Path, orders: u64, cpp: bool) -> anyhow::Result<LoadReport> {
    let python = root.join(".tools/venv/bin/python");
    let dictionary = root.join(".tools/venv/share/quickfix/FIX44.xml");
    ensure!(
        python.exists() && dictionary.exists(),
        "run ./scripts/setup.sh first (it installs QuickFIX)"
    );
    let addr = free_addr()?;
    let work = dir.join(if cpp { "echo-cpp" } else { "echo-py" });
    std::fs::create_dir_all(&work)?;
    let (port, work_arg) = (addr.port().to_string(), work.to_str().context("path")?);
    let _echo = if cpp {
        let exe = build_cpp_echo(root)?;
        let dictionary = dictionary.to_str().context("path")?;
        Proc::spawn(
            &exe,
            dir,
            "quickfix-echo-cpp",
            &[&port, work_arg, dictionary],
            &[],
        )?
    } else {
        let script = root.join("tests/interop/quickfix_echo.py");
        let args = [script.to_str().context("path")?, &port, work_arg];
        Proc::spawn(&python, dir, "quickfix-echo-py", &args, &[])?
    };
    wait_listening(addr)?;
    fix_load::run(addr, &["CLIENT1".to_owned()], "LOCKSTEP", orders, 1)
}

/// Compiles the C++ echo (once per source change) into the bench's scratch directory.
fn build_cpp_echo(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    let source = root.join("tests/interop/quickfix_echo.cpp");
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join("quickfix_echo");
    let fresh = |exe: &Path| -> Option<bool> {
        Some(exe.metadata().ok()?.modified().ok()? >= source.metadata().ok()?.modified().ok()?)
    };
    if fresh(&exe) == Some(true) {
        return Ok(exe);
    }
    let status = std::process::Command::new("g++")
        .args(["-O2", "-std=c++14", "-Wno-deprecated", "-o"])
        .arg(&exe)
        .arg(&source)
        .args(["-lquickfix", "-lpthread"])
        .status()
        .context("running g++ (./scripts/setup.sh installs it and libquickfix-dev)")?;
    ensure!(
        status.success(),
        "building {} failed: run ./scripts/setup.sh (libquickfix-dev)",
        source.display()
    );
    Ok(exe)
}

fn main() -> anyhow::Result<()> {
    let (mut orders, mut durability) = (5_000u64, "group".to_owned());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--orders" => orders = args.next().context("--orders needs a value")?.parse()?,
            "--durability" => durability = args.next().context("--durability needs a value")?,
            _ => {} // `cargo bench` passes `--bench` and perhaps a filter
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gateway-bench");
    std::fs::create_dir_all(&out)?;
    let dir = tempfile::tempdir()?;
    let baseline = quickfix_echo(root, dir.path(), orders, true)?;
    report("quickfix_cpp_echo_w1", &baseline, &out)?;
    let python_echo = quickfix_echo(root, dir.path(), orders, false)?;
    report("quickfix_python_echo_w1", &python_echo, &out)?;

    let settings = Settings {
        driver: DriverHost::Embedded,
        durability: durability.clone(),
        keep_events: false,
        ..Settings::new(
            env!("CARGO_BIN_EXE_lockstep").into(),
            transport::unique_aeron_dir("gw-bench"),
            1000,
        )
    };
    let mut cluster = LocalCluster::start(settings, dir.path())?;
    cluster.set_up_venue()?;
    let (_gateway, addr) = cluster.start_gateway()?;
    let w1 = load(&mut cluster, addr, &["CLIENT1"], orders, 1)?;
    report("gateway_w1", &w1, &out)?;
    let w64 = load(&mut cluster, addr, &["CLIENT1", "CLIENT2"], orders * 4, 64)?;
    report("gateway_w64", &w64, &out)?;
    cluster.shutdown()?;
    let (p50, p99) = (micros(&w1.histogram, 0.5), micros(&w1.histogram, 0.99));
    println!(
        "RESULT gateway rtt_p50_us={p50:.1} rtt_p99_us={p99:.1} orders_per_s_w1={:.0} orders_per_s_w64={:.0} rtt_ratio_vs_quickfix_echo={:.2}",
        w1.orders_per_s(),
        w64.orders_per_s(),
        p50 / micros(&baseline.histogram, 0.5).max(1e-3)
    );
    Ok(())
}
