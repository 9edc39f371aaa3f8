//! Hosts on one machine: one network namespace per host, each with a TUN device as its network
//! card, all wired to a switch that runs in this process and impairs the links like `tc netem`
//! (seeded loss and a uniform delay, so packets also reorder).
//!
//! Why a switch in user space and not veth pairs to a bridge with `tc qdisc .. netem`: the
//! kernels this project runs on (developers' and CI's) are built without `sch_netem`, and
//! without the `gact` action or `iptables` that could at least drop packets. A TUN device needs
//! only `CONFIG_TUN`, and the switch makes the impairment a function of a seed.
//!
//! Everything is named `ls<pid><label>..` and torn down when the [`Network`] drops (namespaces
//! deleted; the TUN devices vanish with the switch's file descriptors), also on a panic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use transport::{Backoff, IdleStrategy as _};
use workload::SplitMix64;

/// Packets read from one port per round of the switch, at most (the others get their turn).
const READ_BATCH_MAX: usize = 64;
/// The largest packet a TUN device hands over (its MTU is 1500; Aeron's is 1408).
const PACKET_BYTES_MAX: usize = 65_536;

/// What one host's link does to every packet crossing it, in either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Impairment {
    /// Packets lost, per million.
    pub(crate) loss_ppm: u64,
    /// Each packet that survives is delayed by a uniform draw from this range.
    pub(crate) delay_min: Duration,
    pub(crate) delay_max: Duration,
}

impl Impairment {
    /// A clean link: nothing lost, no added delay.
    pub(crate) const NONE: Self = Self {
        loss_ppm: 0,
        delay_min: Duration::ZERO,
        delay_max: Duration::ZERO,
    };

    fn delay(&self, rng: &mut SplitMix64) -> Duration {
        let spread = self.delay_max.saturating_sub(self.delay_min);
        let spread_us = u64::try_from(spread.as_micros()).unwrap_or(u64::MAX);
        self.delay_min + Duration::from_micros(rng.below(spread_us.saturating_add(1)))
    }

    fn loses(&self, rng: &mut SplitMix64) -> bool {
        self.loss_ppm > 0 && rng.below(1_000_000) < self.loss_ppm
    }
}

/// A host to create: its name (for logs), address on the /24 and link.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostSpec {
    pub(crate) name: &'static str,
    pub(crate) ip: Ipv4Addr,
    pub(crate) link: Impairment,
}

/// What the switch did, for the test's report and its checks.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SwitchStats {
    /// Copies delivered to a host.
    pub(crate) delivered: u64,
    /// Copies lost on a link (the sender's or the receiver's).
    pub(crate) lost: u64,
    /// IPv4 packets to an address no host has.
    pub(crate) unroutable: u64,
    /// Anything else the hosts sent (IPv6 router solicitations and the like).
    pub(crate) ignored: u64,
}

/// Why namespaces cannot be used here; the test says `SKIPPED: <reason>` or fails.
#[derive(Debug)]
pub(crate) struct Unavailable(pub(crate) String);

/// The hosts and the switch between them.
#[derive(Debug)]
pub(crate) struct Network {
    /// The namespaces, in the order of the specs.
    pub(crate) namespaces: Vec<String>,
    stop: Arc<AtomicBool>,
    switch: Option<JoinHandle<std::io::Result<SwitchStats>>>,
}

/// Runs `ip ARGS`, failing with its stderr.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Whether this machine lets us create namespaces and TUN devices: `ip` runs, a namespace can
/// be added, a TUN device opened and moved into it.
pub(crate) fn probe(prefix: &str) -> Result<(), Unavailable> {
    let unavailable = |what: &str, e: anyhow::Error| Unavailable(format!("{what}: {e:#}"));
    ip(&["-V"]).map_err(|e| unavailable("no usable `ip` (iproute2)", e))?;
    let ns = format!("{prefix}probe");
    ip(&["netns", "add", &ns]).map_err(|e| unavailable("cannot create a network namespace", e))?;
    let tun_name = format!("{prefix}probe");
    let moved = sys::open_tun(&tun_name)
        .context("opening /dev/net/tun")
        .and_then(|tun| ip(&["link", "set", &tun_name, "netns", &ns]).map(|()| tun));
    let _ = ip(&["netns", "del", &ns]);
    moved
        .map(drop)
        .map_err(|e| unavailable("cannot create a TUN device in a namespace", e))
}

impl Network {
    /// Creates one namespace per host, named `<prefix><index>`, with its TUN device up at
    /// `ip/24` (multicast on, a route for 224.0.0.0/4), and starts the switch, seeded.
    pub(crate) fn create(prefix: &str, hosts: &[HostSpec], seed: u64) -> anyhow::Result<Self> {
        let mut network = Self {
            namespaces: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            switch: None,
        };
        let mut ports = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            let ns = format!("{prefix}{i}");
            let dev = format!("{prefix}t{i}");
            ip(&["netns", "add", &ns])?;
            network.namespaces.push(ns.clone());
            let tun = sys::open_tun(&dev).with_context(|| format!("creating TUN device {dev}"))?;
            let addr = format!("{}/24", host.ip);
            ip(&["link", "set", &dev, "netns", &ns])?;
            ip(&["-n", &ns, "addr", "add", &addr, "dev", &dev])?;
            ip(&["-n", &ns, "link", "set", &dev, "multicast", "on"])?;
            ip(&["-n", &ns, "link", "set", &dev, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", &dev])?;
            ports.push(Port {
                tun,
                ip: host.ip,
                link: host.link,
            });
        }
        let stop = network.stop.clone();
        network.switch = Some(
            std::thread::Builder::new()
                .name("netns-switch".into())
                .spawn(move || switch(&ports, seed, &stop))?,
        );
        Ok(network)
    }

    /// Stops the switch and returns what it did.
    pub(crate) fn stop_switch(&mut self) -> anyhow::Result<SwitchStats> {
        self.stop.store(true, Ordering::Release);
        let handle = self
            .switch
            .take()
            .context("the switch is already stopped")?;
        let stats = handle
            .join()
            .map_err(|_| anyhow::anyhow!("the switch panicked"))??;
        Ok(stats)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.switch.take() {
            let _ = handle.join();
        }
        for ns in &self.namespaces {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("netns: cleaning up: {e:#}");
            }
        }
    }
}

/// Moves the calling thread into namespace `ns` (its sockets are then that host's).
pub(crate) fn enter(ns: &str) -> anyhow::Result<()> {
    let path = format!("/var/run/netns/{ns}");
    let file = File::open(&path).with_context(|| format!("opening {path}"))?;
    sys::set_network_namespace(&file).with_context(|| format!("entering {ns}"))
}

struct Port {
    tun: File,
    ip: Ipv4Addr,
    link: Impairment,
}

/// A packet on its way: due time, then arrival order (so equal due times keep their order).
type Queued = Reverse<(Instant, u64, usize, Vec<u8>)>;

/// The switch's duty cycle: read every port, decide each copy's fate on the sender's link and
/// then the receiver's, deliver what is due; back off when idle.
fn switch(ports: &[Port], seed: u64, stop: &AtomicBool) -> std::io::Result<SwitchStats> {
    let mut rng = SplitMix64::new(seed);
    let mut stats = SwitchStats::default();
    let mut queue: BinaryHeap<Queued> = BinaryHeap::new();
    let mut arrivals = 0u64;
    let mut buf = vec![0u8; PACKET_BYTES_MAX];
    let mut idle = Backoff::default();
    while !stop.load(Ordering::Acquire) {
        let mut work = 0;
        let now = Instant::now();
        for (from, port) in ports.iter().enumerate() {
            for _ in 0..READ_BATCH_MAX {
                let n = match (&port.tun).read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
                work += 1;
                let packet = &buf[..n];
                if n < 20 || packet[0] >> 4 != 4 {
                    stats.ignored += 1;
                    continue;
                }
                let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
                let targets: Vec<usize> = if dst.is_multicast() {
                    (0..ports.len()).filter(|&to| to != from).collect()
                } else {
                    ports.iter().position(|p| p.ip == dst).into_iter().collect()
                };
                if targets.is_empty() {
                    stats.unroutable += 1;
                    continue;
                }
                if port.link.loses(&mut rng) {
                    stats.lost += u64::try_from(targets.len()).unwrap_or(u64::MAX);
                    continue;
                }
                let up = port.link.delay(&mut rng);
                for to in targets {
                    let link = ports[to].link;
                    if link.loses(&mut rng) {
                        stats.lost += 1;
                        continue;
                    }
                    let due = now + up + link.delay(&mut rng);
                    arrivals += 1;
                    queue.push(Reverse((due, arrivals, to, packet.to_vec())));
                }
            }
        }
        while queue.peek().is_some_and(|Reverse((due, ..))| *due <= now) {
            let Some(Reverse((_, _, to, packet))) = queue.pop() else {
                break;
            };
            // A write fails only if the host's interface is going away: a lost packet.
            match (&ports[to].tun).write(&packet) {
                Ok(_) => stats.delivered += 1,
                Err(_) => stats.lost += 1,
            }
            work += 1;
        }
        idle.idle(work);
    }
    Ok(stats)
}

/// The two system calls std does not offer: attaching a TUN device, and `setns`.
#[allow(unsafe_code)]
mod sys {
    use std::fs::{File, OpenOptions};
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    /// `_IOW('T', 202, int)`.
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    const IFF_TUN: libc::c_short = 0x0001;
    const IFF_NO_PI: libc::c_short = 0x1000;

    /// `struct ifreq` as TUNSETIFF reads it: the name, the flags, padding to 40 bytes.
    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        flags: libc::c_short,
        pad: [u8; 22],
    }
    const _: () = assert!(size_of::<IfReq>() == 40);

    /// A non-blocking TUN device (IP packets, no packet-info header) named `name`, which lives
    /// as long as the file.
    pub(super) fn open_tun(name: &str) -> std::io::Result<File> {
        let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad name");
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(invalid());
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/net/tun")?;
        let mut request = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: IFF_TUN | IFF_NO_PI,
            pad: [0; 22],
        };
        request.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: `file` is an open descriptor of /dev/net/tun and `request` a live, properly
        // laid out `struct ifreq` (checked size, NUL-terminated name) that TUNSETIFF reads and
        // writes only within its 40 bytes during the call.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &raw mut request) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(file)
    }

    /// Moves the calling thread into the network namespace `ns` names.
    pub(super) fn set_network_namespace(ns: &File) -> std::io::Result<()> {
        // SAFETY: `ns` is an open descriptor; setns only changes this thread's namespace and
        // touches no memory of ours.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
