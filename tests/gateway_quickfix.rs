//! Interoperability: QuickFIX, an independently written FIX engine validating every message
//! against its FIX 4.4 data dictionary, trades through `lockstep gateway` with the whole
//! cluster behind it (`tests/interop/quickfix_client.py`). `scripts/setup.sh` installs QuickFIX's
//! Python wheel into `.tools/venv`.

use std::path::Path;
use std::time::{Duration, Instant};

use lockstep::local::{LocalCluster, Proc, Settings};

#[test]
fn quickfix_places_replaces_and_cancels_through_the_gateway() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/setup.sh (it installs QuickFIX for this test)",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::new(
        env!("CARGO_BIN_EXE_lockstep").into(),
        transport::unique_aeron_dir("quickfix"),
        3800,
    );
    let mut cluster = LocalCluster::start(settings, dir.path()).unwrap();
    cluster.set_up_venue().unwrap();
    let (_gateway, addr) = cluster.start_gateway().unwrap();
    let work = dir.path().join("quickfix");
    std::fs::create_dir_all(&work).unwrap();
    let script = root.join("tests/interop/quickfix_client.py");
    let args = [
        script.to_str().unwrap(),
        &addr.port().to_string(),
        work.to_str().unwrap(),
    ];
    let mut client = Proc::spawn(&python, dir.path(), "quickfix", &args, &[]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !client.has_exited().unwrap() {
        assert!(
            Instant::now() < deadline,
            "the QuickFIX client did not finish"
        );
        cluster.service().unwrap(); // the harness reads egress too
        std::thread::sleep(Duration::from_millis(1));
    }
    let ok = client.wait().unwrap();
    let out = std::fs::read_to_string(dir.path().join("quickfix.out")).unwrap();
    let log = client.log();
    assert!(
        ok && out.contains("OK"),
        "QuickFIX client failed:\n{out}\n{log}"
    );
    eprintln!("{out}");
}
