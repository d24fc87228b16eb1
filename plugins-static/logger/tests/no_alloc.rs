//! `logged` allocates nothing once the worker state exists, with the access
//! log configured (file and ring targets) and the writer thread running: a
//! counting global allocator counts allocations on the calling thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fws_api::plugin::{ConnInfo, ConnSummary, Control, Env, LogRecord, Plugin, Section, Stats};
use fws_logger::Logger;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct NoControl;

impl Control for NoControl {
    fn stats(&self) -> Stats {
        Stats::default()
    }
    fn config_text(&self) -> String {
        String::new()
    }
    fn plugin_command(&self, _: &str, _: &[&str]) -> Option<Result<String, String>> {
        None
    }
    fn features(&self) -> Vec<&'static str> {
        Vec::new()
    }
    fn connections(&self) -> Vec<ConnSummary> {
        Vec::new()
    }
    fn reload(&self) {}
}

fn run(section: &str) {
    let doc = fws_api::doc::parse(section).unwrap();
    let secs: Vec<Section<'_>> = doc.tables[1..]
        .iter()
        .map(|t| Section {
            file: "t.toml",
            table: t,
        })
        .collect();
    let env = Env {
        roots: vec![],
        vhost_names: vec![],
        workers: 1,
    };
    let logger = Logger::init(&secs, &env).unwrap();
    let mut w = logger.worker(0);
    assert!(w.is_some());
    logger.start(Arc::new(NoControl));
    let conn = ConnInfo {
        peer: "[2001:db8::7]:4000".parse().unwrap(),
        local: "127.0.0.1:80".parse().unwrap(),
        listener: 0,
        secure: false,
        worker: 0,
    };
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTED.with(|c| c.set(true));
    for i in 0..20_000u64 {
        let rec = LogRecord {
            conn: &conn,
            method: b"GET",
            target: b"/index.html?x=\"1\"",
            minor: 1,
            status: 200,
            bytes: i,
            host: b"h",
            referer: b"http://r/",
            user_agent: b"UA\x01",
            user: Some(b"bob"),
            time: 1_700_000_000 + i / 100,
        };
        logger.logged(&mut w, &rec);
        if i % 500 == 0 {
            std::thread::yield_now();
        }
    }
    COUNTED.with(|c| c.set(false));
    let n = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(n, 0, "logged() allocated {n} times for {section:?}");
    let stats = logger.command(&["stats"]).unwrap().unwrap();
    assert!(stats.starts_with("written_access "), "{stats}");
}

#[test]
fn logged_does_not_allocate() {
    let dir = std::env::temp_dir().join(format!("fws-logger-noalloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    run("[logger]\naccess = \"ring\"\n");
    run(&format!(
        "[logger]\naccess = \"file:{}\"\nformat = \"common\"\n",
        dir.join("a.log").display()
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
